"""The repository's shape: one concept per module, no import cycle, nothing cited from outside.

Static checks (no torch work): the import graph of ``decon_d2`` and ``tools`` is read from import
statements and must be acyclic and layered; the library (``decon_d2``) never imports the
checkout's pipelines (``tools``) nor finds the checkout's root; modules stay under 300 lines and
``train_net.py`` under 100; code, docs and configs cite only files inside the repository.
"""
import ast
import re
from pathlib import Path

import pytest

from tools.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "decon_d2"
TOOLS = REPO_ROOT / "tools"


def _module_name(path):
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for root in (PACKAGE, TOOLS) for p in sorted(root.rglob("*.py"))}


def _resolve(importer, node):
    """Module names an import statement loads (``decon_d2`` and ``tools`` ones only)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    # ``from pkg import name``: the submodule pkg.name when it is one, else pkg itself
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def import_graph(nested=False):
    """{module: decon_d2 modules it imports}; module-level statements only unless ``nested``
    (imports inside functions too: they run later, so they cannot make an import cycle, but
    they must not run against the layers either)."""
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        targets = set()
        for node in (ast.walk(tree) if nested else tree.body):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(t for t in _resolve(name, node) if t in MODULES and t != name)
        graph[name] = targets
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph["decon_d2.engine.pretrain_trainer"] >= {"decon_d2.engine.base_trainer"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


#: the layers of the library, lowest first, then the checkout's pipelines: a module imports only
#: from its own package or a lower layer. ``decon_d2`` itself (registration on import) and the
#: command-line entry points (``*.__main__``) sit on top of the library; ``tools`` above it all.
LAYERS = (
    ("decon_d2.head_specs",),  # the loss-head catalogue every layer above looks heads up in
    ("decon_d2.utils", "decon_d2.conventions", "decon_d2.variants"),
    ("decon_d2.config",),
    ("decon_d2.weights", "decon_d2.data", "decon_d2.modeling"),
    ("decon_d2.convert",),
    ("decon_d2.probe",),
    ("decon_d2.visualize",),
    ("decon_d2.engine",),
    ("decon_d2.finetune", "decon_d2.env"),
    ("decon_d2",),
    ("tools.paths", "tools.batch"),
    ("tools.stages",),
    ("tools.build_data", "tools.protocols", "tools.benchmark"),
    ("tools.gpu_check",),
    ("tools.demo", "tools.study"),
    ("tools",),
)
LIBRARY_TOP = LAYERS.index(("decon_d2",)) + 0.5  # the library's entry points: below tools


def layer_of(module):
    """(layer index, package) of a module; entry points (``__main__``) above every layer."""
    if module.endswith(".__main__"):
        return (len(LAYERS) if module.startswith("tools.") else LIBRARY_TOP), module
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + ".") and name not in ("decon_d2",
                                                                                  "tools"):
                return i, name
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def layering_violations(graph):
    out = []
    for importer, targets in sorted(graph.items()):
        (li, pi) = layer_of(importer)
        for t in sorted(targets):
            lt, pt = layer_of(t)
            if pt != pi and lt >= li:
                out.append(f"{importer} (layer {li}) imports {t} (layer {lt})")
    return out


def test_no_import_runs_against_the_layers():
    """Module-level imports, and imports inside functions (no hidden way around a layer)."""
    assert layering_violations(import_graph()) == []
    assert layering_violations(import_graph(nested=True)) == []


#: ways a module finds the checkout it sits in (the library must work installed anywhere)
ROOT_PATH = re.compile(r"REPO_ROOT|parents\[\d\]|\.parent\.parent")


def library_boundary_violations(graph, sources):
    """``decon_d2`` modules that import ``tools`` or use the checkout's root path (code only:
    docstrings and comments may name a tools/ command)."""
    out = [f"{m} imports {t}" for m, targets in sorted(graph.items()) if m.startswith("decon_d2")
           for t in sorted(targets) if t.startswith("tools")]
    for module, text in sorted(sources.items()):
        if not module.startswith("decon_d2"):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name) and node.id == "REPO_ROOT" or \
                    isinstance(node, ast.Subscript) and ROOT_PATH.search(ast.unparse(node)) or \
                    isinstance(node, ast.Attribute) and ROOT_PATH.search(ast.unparse(node)):
                out.append(f"{module}:{node.lineno}: {ast.unparse(node)}")
    return sorted(set(out))


def test_the_library_never_reaches_into_the_checkout():
    sources = {m: p.read_text() for m, p in MODULES.items()}
    assert library_boundary_violations(import_graph(nested=True), sources) == []


def test_boundary_check_finds_a_planted_reach():
    graph = {"decon_d2.data.demo_sets": {"tools.build_data.demo_sets.build"}}
    sources = {"decon_d2.finetune.x": "from pathlib import Path\n"
                                      "ROOT = Path(__file__).resolve().parents[2]\n",
               "decon_d2.finetune.y": "CONFIGS = REPO_ROOT / 'configs'\n"}
    assert library_boundary_violations(graph, sources) == [
        "decon_d2.data.demo_sets imports tools.build_data.demo_sets.build",
        "decon_d2.finetune.x:2: Path(__file__).resolve().parents[2]",
        "decon_d2.finetune.y:1: REPO_ROOT"]


def test_tools_is_this_checkouts_package():
    """detectron2 wheels may ship a top-level ``tools`` package: it must not shadow this one."""
    import tools
    assert Path(tools.__file__).resolve().parent == TOOLS


def test_layering_check_finds_a_planted_upward_import():
    graph = {"decon_d2.modeling.mlp": {"decon_d2.engine.hooks"}, "decon_d2.engine.hooks": set()}
    assert layering_violations(graph) == [
        "decon_d2.modeling.mlp (layer 3) imports decon_d2.engine.hooks (layer 7)"]


#: packages that need key names (``decon_d2.weights``), never the converter itself
NOT_CONVERTING = ("decon_d2.engine", "decon_d2.finetune", "decon_d2.visualize")


def converter_imports(graph):
    """Imports of ``decon_d2.convert`` (or a module of it) by a :data:`NOT_CONVERTING` module."""
    def inside(module, package):
        return module == package or module.startswith(package + ".")

    return [f"{m} imports {t}" for m, targets in sorted(graph.items())
            if any(inside(m, p) for p in NOT_CONVERTING)
            for t in sorted(targets) if inside(t, "decon_d2.convert")]


def test_engine_finetune_and_visualize_never_import_the_converter():
    """They ask ``decon_d2.weights`` what a key means and ``decon_d2.config`` for a run's config;
    functions' own imports count too."""
    assert converter_imports(import_graph(nested=True)) == []


def test_converter_check_finds_a_planted_import():
    graph = {"decon_d2.engine.initial_weights": {"decon_d2.convert.core", "decon_d2.weights"},
             "decon_d2.finetune": {"decon_d2.convert"},
             "decon_d2.visualize.__main__": {"decon_d2.converter_like"},
             "decon_d2.probe.weights": {"decon_d2.convert.targets"}}
    assert converter_imports(graph) == [
        "decon_d2.engine.initial_weights imports decon_d2.convert.core",
        "decon_d2.finetune imports decon_d2.convert"]

def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    assert len(MODULES[name].read_text().splitlines()) <= 300, name


def test_train_net_is_a_launcher():
    assert len((REPO_ROOT / "train_net.py").read_text().splitlines()) < 100


def test_add_decon_config_is_exported_like_detectron2_projects():
    from detectron2.config import get_cfg

    from decon_d2 import add_decon_config

    cfg = add_decon_config(get_cfg())
    assert cfg.MODEL.DECON.DECODER_TYPE == "FPN" and "DECON" in cfg.SOLVER


OUTSIDE = re.compile(r"\.\./shared|/work/shared|user_needs\.md|layout\.md|[Ii]ssue #?\d|"
                     r"project decision")
#: outside docs/, the method document is cited by its path in the repository
BARE_METHOD = re.compile(r"(?<!docs/)method\.md")


def test_nothing_cites_documents_outside_the_repository():
    files = [*PACKAGE.rglob("*.py"), *TOOLS.rglob("*.py"), *(REPO_ROOT / "tests").rglob("*.py"),
             *(REPO_ROOT / "docs").glob("*.md"), REPO_ROOT / "README.md",
             *(REPO_ROOT / "configs").rglob("*.yaml"), *(REPO_ROOT / "scripts").glob("*")]
    hits = []
    for path in files:
        if path.name == "test_structure.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if OUTSIDE.search(line) or (path.parent.name != "docs" and BARE_METHOD.search(line)):
                hits.append(f"{path.relative_to(REPO_ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            yield node, (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))


def test_every_test_that_starts_processes_has_a_timeout():
    """``subprocess.run``/``check_output``/``check_call`` pass ``timeout=``; a ``Popen`` is waited
    for with one in the same function; workers are spawned only through
    ``tests.helpers.spawn`` (joined with a deadline). A hang then fails instead of stalling."""
    bad = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT)
        tree = ast.parse(path.read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)] + [tree]:
            for call, name in _calls(fn):
                kws = {k.arg for k in call.keywords}
                if name in ("run", "check_output", "check_call") and isinstance(
                        call.func, ast.Attribute) and getattr(call.func.value, "id", "") == \
                        "subprocess" and "timeout" not in kws:
                    bad.append(f"{rel}:{call.lineno}: subprocess.{name} without timeout=")
                if name == "Popen" and not any(
                        "timeout" in {k.arg for k in c.keywords} for c, _ in _calls(fn)):
                    bad.append(f"{rel}:{call.lineno}: Popen never waited for with a timeout")
                if name in ("spawn", "start_processes") and isinstance(call.func, ast.Attribute) \
                        and rel.as_posix() != "tests/helpers/runs.py":
                    bad.append(f"{rel}:{call.lineno}: {name} outside tests.helpers.spawn")
    bad = sorted(set(bad))  # a call inside a function is seen from the module too
    assert bad == [], "\n".join(bad)


RECORD_READ = re.compile(r"""decon_meta\[|\.get\(["']decon_meta["']\)|\[["']decon_meta["']\]""")


def test_only_the_weights_package_reads_the_decon_meta_record():
    """``decon_d2/weights`` owns the record (one reader, one writer); every other module asks it."""
    hits = [f"{p.relative_to(REPO_ROOT)}:{i}: {line.strip()}"
            for p in [*PACKAGE.rglob("*.py"), *TOOLS.rglob("*.py")]
            if p.relative_to(REPO_ROOT).parts[:2] != ("decon_d2", "weights")
            for i, line in enumerate(p.read_text().splitlines(), 1) if RECORD_READ.search(line)]
    assert hits == [], "\n".join(hits)
