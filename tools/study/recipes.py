"""The study's two recipes: the paper's ResNet-50 at a CPU budget (``r50``, the first study of
docs/learning.md) and the small network that gets many more epochs in the same time (``r18``,
with the fine-tuning transfer of ``transfer.py``). Configs come from the variant catalogue
(``decon_d2/variants.py``: ``study`` and ``study_small``)."""
from dataclasses import dataclass, field
from typing import Dict, Optional

from decon_d2.variants import VARIANTS

__all__ = ["Recipe", "RECIPES", "DataSets", "DATA"]


@dataclass(frozen=True)
class DataSets:
    """The data sets a study run reads: pre-training photos, labelled probe/fine-tuning sets."""
    build: str  # ``python -m tools.build_data <build>``
    unlabeled: str
    seg_train: str
    seg_val: str
    num_classes: int


#: ``study``: the study's own sets (docs/learning.md); ``demo``: the embedded demo sets, for the
#: smoke run (tests, a first try): the same pipeline on 35 photos and 11 labelled images
DATA = {
    "study": DataSets("study", "decon_study_unlabeled", "decon_study_seg_train",
                      "decon_study_seg_val", 11),
    "demo": DataSets("demo", "decon_demo_unlabeled", "decon_demo_sem_seg", "decon_demo_sem_seg",
                     21),
}


@dataclass(frozen=True)
class Recipe:
    name: str
    configs: Dict[str, str]  # method -> pre-training config
    output: str
    #: rough stage costs on 2 CPU cores (seconds), only for the remaining-time estimate
    pretrain_s: Dict[str, float]
    probe_s: float  # one backbone, two levels, 300 + 100 images
    transfer: bool = False  # fine-tune rows (a)-(e) (transfer.py)
    fractions: tuple = field(default=(1.0, 0.1))
    finetune_s: float = 0.0  # one fine-tuning run
    #: (ResNet depth, FPN width) of the probe's Detectron2 random-init rows
    random_geometry: tuple = (50, 256)
    seeds: tuple = (0, 1, 2)
    #: the method whose preregistered endpoint (endpoint.py) must pass before the others run
    gate: Optional[str] = None


RECIPES = {
    "r50": Recipe("r50", {n: f"configs/{v.study}" for n, v in VARIANTS.items() if v.study},
                  "output/study", {"slotcon": 560, "decon_ml": 990}, probe_s=50),
    "r18": Recipe("r18", {n: f"configs/{v.study_small}" for n, v in VARIANTS.items()
                          if v.study_small},
                  "output/study_r18", {"slotcon": 300, "decon_ml": 640}, probe_s=15,
                  transfer=True, finetune_s=57, random_geometry=(18, 128), seeds=(0, 1, 2, 3, 4),
                  gate="slotcon"),
}
