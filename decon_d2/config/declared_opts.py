"""Command-line form of declared data sets: ``DATASETS.DECON.<KIND>.<name>[.<FIELD>] VALUE``.

yacs' ``merge_from_list`` (which Detectron2 uses for ``KEY VALUE`` overrides) refuses any key that
does not exist yet, even under a node that allows new keys, so a new data set cannot be named on
the command line through it. ``split_declared_opts`` takes those pairs out of the override list
and writes them into the open nodes directly; every other pair goes to ``merge_from_list`` as
before. Values are decoded as yacs decodes them (Python literals, else strings)::

    DATASETS.DECON.IMAGE_FOLDERS.my_photos photos/                     # one folder
    DATASETS.DECON.IMAGE_FOLDERS.my_photos "['photos/a', 'photos/b']"  # several
    DATASETS.DECON.COCO_INSTANCES.my_train.JSON my/train.json          # one field at a time
    DATASETS.DECON.COCO_INSTANCES.my_train "{'JSON': 'my/train.json', 'IMAGES': 'my/images'}"
"""
from typing import List, Sequence

from detectron2.config import CfgNode as CN

#: the open nodes under ``DATASETS.DECON`` (one per data-set kind)
DECLARED_KINDS = ("IMAGE_FOLDERS", "COCO_INSTANCES", "SEM_SEG")
_PREFIX = "DATASETS.DECON."


def _decode(value):
    value = CN._decode_cfg_value(value)
    return CN(value, new_allowed=True) if isinstance(value, dict) else value


def _declared_key(key: str):
    """``(kind, name, field or None)`` for a declared-data-set key, else None."""
    if not key.startswith(_PREFIX):
        return None
    parts = key[len(_PREFIX):].split(".")
    if parts[0] not in DECLARED_KINDS or len(parts) == 1:
        return None
    if len(parts) > 3:
        raise KeyError(f"{key}: a declared data set is DATASETS.DECON.{parts[0]}.<name> or "
                       f"DATASETS.DECON.{parts[0]}.<name>.<FIELD>, not deeper")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def split_declared_opts(cfg, opts: Sequence) -> List:
    """Apply the declared-data-set pairs of ``opts`` to ``cfg`` (not frozen); return the rest."""
    opts = list(opts)
    if len(opts) % 2:
        return opts  # merge_from_list reports the odd length
    rest = []
    for key, value in zip(opts[0::2], opts[1::2]):
        parsed = _declared_key(str(key))
        if parsed is None:
            rest += [key, value]
            continue
        kind, name, field = parsed
        node = cfg.DATASETS.DECON[kind]
        if field is None:
            node[name] = _decode(value)  # the whole entry, replaced
            continue
        entry = node.get(name)
        if not isinstance(entry, CN):
            entry = node[name] = CN(new_allowed=True)
        entry.set_new_allowed(True)
        entry[field] = _decode(value)
    return rest
