"""Getting at package files without importing or installing anything: pip packages are located by
their import name, Debian packages used in place or fetched with ``apt-get download`` at the
pinned version (``sources.DEB_VERSIONS``) and unpacked in part into a temporary directory.
"""
import fnmatch
import importlib.util
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tools.build_data.study_sets.sources import DEB_VERSIONS, PIP_DISTS, PIP_HINT

logger = logging.getLogger(__name__)


class MissingSourceError(RuntimeError):
    """A package that ships study files is not installed, cannot be fetched, or lacks a file."""


def match(path: str, pattern: str) -> bool:
    """Shell-glob match where ``*`` and ``?`` never cross a ``/``."""
    parts, pats = path.split("/"), pattern.split("/")
    return len(parts) == len(pats) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats))


def resolve(root: Path, patterns: Tuple[str, ...], package: str) -> List[Path]:
    """Files under ``root`` for each pattern (sorted); a pattern matching nothing is an error."""
    found = []
    for pattern in patterns:
        hits = sorted(p for p in root.glob(pattern) if p.is_file())
        if not hits:
            raise MissingSourceError(
                f"{package}: expected file not found: {root / pattern} (another package version?)")
        found += hits
    return found


def pip_dir(name: str) -> Path:
    """Directory of an installed pip package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise MissingSourceError(
            f"pip package '{PIP_DISTS.get(name, name)}' (import name '{name}') is not installed; "
            f"it ships files of the study data sets. Run `{PIP_HINT}`.")
    return Path(list(spec.submodule_search_locations)[0])


class DebSources:
    """Debian packages' files: installed ones in place, others fetched and unpacked on demand.

    Use as a context manager; fetched packages live in a temporary folder until exit, so one build
    of both data sets downloads each package once.
    """

    def __init__(self) -> None:
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._roots: Dict[str, Path] = {}
        self._debs: Dict[str, Path] = {}
        self._unpacked: Dict[str, set] = {}
        self.versions: Dict[str, str] = {}  # package -> version actually used

    def __enter__(self) -> "DebSources":
        return self

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def root(self, package: str, patterns: Tuple[str, ...]) -> Path:
        """Filesystem root under which the files ``patterns`` name (globs) of ``package`` exist."""
        if package not in self._roots:
            installed = _installed_version(package)
            if installed is not None:
                if DEB_VERSIONS.get(package, installed) != installed:
                    logger.warning("%s: installed version %s (lists were made from %s)", package,
                                   installed, DEB_VERSIONS[package])
                self.versions[package] = installed
                self._roots[package] = Path("/")
            else:
                self._roots[package] = self._fetch(package)
        root = self._roots[package]
        if root != Path("/"):
            done = self._unpacked.setdefault(package, set())
            todo = {d for d in map(_glob_free_dir, patterns)
                    if not any(d == u or d.startswith(u + "/") for u in done)}
            if todo:
                _unpack(self._debs[package], root, tuple(sorted(todo)))
                done |= todo
        return root

    def _fetch(self, package: str) -> Path:
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise MissingSourceError(
                f"Debian package '{package}' is needed but neither installed nor fetchable here "
                f"(no apt-get/dpkg-deb). On Debian 12: `apt-get install {package}`, or run this "
                "builder where `apt-get download` works.")
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="decon-study-debs-")
        tmp = Path(self._tmp.name)
        pinned = DEB_VERSIONS.get(package)
        for spec in ([f"{package}={pinned}"] if pinned else []) + [package]:
            run = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True,
                                 text=True)
            debs = sorted(tmp.glob(f"{package}_*.deb"))
            if run.returncode == 0 and debs:
                break
            logger.warning("`apt-get download %s` failed: %s", spec,
                           (run.stderr or run.stdout).strip().splitlines()[-1:])
        else:
            raise MissingSourceError(
                f"could not download Debian package '{package}' with `apt-get download`. "
                f"Run `apt-get update` first, or install it: `apt-get install {package}`.")
        version = subprocess.run(["dpkg-deb", "-f", str(debs[0]), "Version"], check=True,
                                 capture_output=True, text=True).stdout.strip()
        if pinned and version != pinned:
            logger.warning("%s: using version %s (lists were made from %s)", package, version,
                           pinned)
        self.versions[package] = version
        self._debs[package] = debs[0]
        root = tmp / f"{package}.root"
        root.mkdir()
        return root


def _installed_version(package: str) -> Optional[str]:
    if shutil.which("dpkg-query") is None:
        return None
    run = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", package],
                         capture_output=True, text=True)
    status, _, version = run.stdout.partition(" ")
    return version if run.returncode == 0 and status == "installed" else None


def _glob_free_dir(pattern: str) -> str:
    """The folder part of ``pattern`` before its first glob character."""
    parts = pattern.split("/")[:-1]
    cut = next((i for i, p in enumerate(parts) if any(c in p for c in "*?[")), len(parts))
    return "/".join(parts[:cut])


def _unpack(deb: Path, dest: Path, todo: Tuple[str, ...]) -> None:
    """Extract the regular files under the folders ``todo`` from ``deb`` into ``dest``."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("./")
            if ".." in name.split("/"):
                continue  # never write outside ``dest``
            if member.isfile() and any(name == f or name.startswith(f + "/") for f in todo):
                out = dest / name
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    if proc.wait() != 0:
        raise MissingSourceError(f"dpkg-deb could not read {deb}")
