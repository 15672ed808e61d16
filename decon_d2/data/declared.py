"""Data sets declared in the config (``DATASETS.DECON.IMAGE_FOLDERS / COCO_INSTANCES / SEM_SEG``),
registered in Detectron2's catalogs by ``register_declared_datasets(cfg)``.

``decon_d2.engine.setup`` calls it in every process before any catalog lookup (``launch()``
workers run ``setup`` too), and so do the tools that build configs. Registration validates the
declaration (fields, types, names) and resolves paths, but touches no image: a missing folder,
an empty one or a json whose images are missing is reported when the data set is first loaded,
with the config key and the paths tried. Calling it again with the same declarations is a no-op;
a name that Detectron2 or decon-d2 already registers is refused.
"""
import os
from typing import Dict, List, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog

from .declared_loaders import load_coco_instances, load_sem_seg_folder
from .image_folder import register_image_folder
from .paths import datasets_root, lookup_note, resolve_data_path

__all__ = ["DeclaredDatasetError", "register_declared_datasets"]

_COCO_FIELDS = {"JSON": str, "IMAGES": str}
_SEM_SEG_FIELDS = {"IMAGES": str, "LABELS": str, "CLASSES": (list, tuple), "IGNORE_LABEL": int}
_SEM_SEG_DEFAULTS = {"IGNORE_LABEL": 255}
#: names registered from declarations in this process -> their declaration
_REGISTERED: Dict[str, Tuple] = {}


class DeclaredDatasetError(ValueError):
    """A declared data set is malformed or clashes with a registered name; names the key."""


def _key(kind: str, name: str) -> str:
    return f"DATASETS.DECON.{kind}.{name}"


def _fields(kind: str, name: str, entry, spec: dict, defaults: dict) -> dict:
    key = _key(kind, name)
    if not hasattr(entry, "items"):
        raise DeclaredDatasetError(f"{key} must be a mapping with {', '.join(spec)}; got "
                                   f"{entry!r}")
    unknown = sorted(set(entry) - set(spec))
    missing = sorted(set(spec) - set(entry) - set(defaults))
    if unknown or missing:
        raise DeclaredDatasetError(
            f"{key}: " + "; ".join(
                ([f"unknown field(s) {unknown}"] if unknown else [])
                + ([f"missing field(s) {missing}"] if missing else []))
            + f" (fields: {', '.join(spec)})")
    out = {**defaults, **dict(entry)}
    for field, types in spec.items():
        if not isinstance(out[field], types) or isinstance(out[field], bool):
            raise DeclaredDatasetError(f"{key}.{field} has the wrong type: {out[field]!r}")
    return out


def _folders(name: str, entry) -> List[str]:
    folders = [entry] if isinstance(entry, str) else entry
    if not isinstance(folders, (list, tuple)) or not folders or \
            not all(isinstance(f, str) and f for f in folders):
        raise DeclaredDatasetError(f"{_key('IMAGE_FOLDERS', name)} must be a folder or a list of "
                                   f"folders; got {entry!r}")
    return list(folders)


def _parse(cfg) -> Dict[str, Tuple]:
    """``{name: (kind, normalised declaration)}``, validated."""
    found: Dict[str, Tuple] = {}
    node = cfg.DATASETS.DECON
    for kind in ("IMAGE_FOLDERS", "COCO_INSTANCES", "SEM_SEG"):
        for name, entry in node[kind].items():
            if name in found:
                raise DeclaredDatasetError(f"data set name {name!r} is declared twice: "
                                           f"{_key(found[name][0], name)} and {_key(kind, name)}")
            if kind == "IMAGE_FOLDERS":
                spec = tuple(_folders(name, entry))
            elif kind == "COCO_INSTANCES":
                spec = tuple(sorted(_fields(kind, name, entry, _COCO_FIELDS, {}).items()))
            else:
                f = _fields(kind, name, entry, _SEM_SEG_FIELDS, _SEM_SEG_DEFAULTS)
                if not f["CLASSES"] or not all(isinstance(c, str) for c in f["CLASSES"]):
                    raise DeclaredDatasetError(f"{_key(kind, name)}.CLASSES must be a non-empty "
                                               f"list of class names; got {f['CLASSES']!r}")
                if not 0 <= f["IGNORE_LABEL"] <= 255:
                    raise DeclaredDatasetError(f"{_key(kind, name)}.IGNORE_LABEL must be in "
                                               f"0..255 (8-bit labels); got {f['IGNORE_LABEL']}")
                f["CLASSES"] = tuple(f["CLASSES"])
                spec = tuple(sorted(f.items()))
            found[name] = (kind, spec)
    return found


def _register(name: str, kind: str, spec: Tuple) -> None:
    key = _key(kind, name)
    if kind == "IMAGE_FOLDERS":
        register_image_folder(name, [lambda f=f: resolve_data_path(f) for f in spec],
                              hint=f"declared as {key}; " + "; ".join(lookup_note(f) for f in spec))
        return
    f = dict(spec)
    images = resolve_data_path(f["IMAGES"])
    if kind == "COCO_INSTANCES":
        json_file = resolve_data_path(f["JSON"])
        DatasetCatalog.register(name, lambda: load_coco_instances(
            name, key, f["JSON"], resolve_data_path(f["JSON"]), f["IMAGES"],
            resolve_data_path(f["IMAGES"])))
        # As register_coco_instances: COCOEvaluator reads the json named here.
        MetadataCatalog.get(name).set(json_file=str(json_file), image_root=str(images),
                                      evaluator_type="coco")
        return
    labels = resolve_data_path(f["LABELS"])
    DatasetCatalog.register(name, lambda: load_sem_seg_folder(
        key, f["IMAGES"], resolve_data_path(f["IMAGES"]), f["LABELS"],
        resolve_data_path(f["LABELS"]), f["CLASSES"], f["IGNORE_LABEL"]))
    MetadataCatalog.get(name).set(
        stuff_classes=list(f["CLASSES"]), ignore_label=f["IGNORE_LABEL"], evaluator_type="sem_seg",
        image_root=str(images), sem_seg_root=str(labels))


def register_declared_datasets(cfg) -> List[str]:
    """Register every data set the config declares; return their names."""
    declared = _parse(cfg)
    for name, (kind, spec) in declared.items():
        previous = _REGISTERED.get(name)
        # Paths resolve against $DETECTRON2_DATASETS and the working directory at registration
        # (metadata json_file): the same text elsewhere is another declaration.
        where = (str(datasets_root()), os.getcwd())
        if previous == (kind, spec, where):
            continue
        if name in DatasetCatalog.list():
            if previous is None:
                raise DeclaredDatasetError(
                    f"{_key(kind, name)}: {name!r} is already a registered data set (a Detectron2 "
                    f"or decon-d2 builtin); give the declared one another name, e.g. "
                    f"'my_{name}'")
            DatasetCatalog.remove(name)  # redeclared differently (another config, same process)
            MetadataCatalog.remove(name)
        _register(name, kind, spec)
        _REGISTERED[name] = (kind, spec, where)
    return list(declared)
