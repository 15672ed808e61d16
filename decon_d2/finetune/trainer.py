"""``FinetuneTrainer``: fine-tuning and evaluation of a Detectron2 model from converted weights.

Detectron2's loader, optimiser, schedule and hooks; on top: the pre-flight check of the config
against the weights, limited-data subsets (``DATASETS.DECON.TRAIN_FRACTION``), COCO evaluation
with explicit tasks (VOC AP for "pascal_voc" data sets), ``OUTPUT_DIR/inference/results.json``,
and ``MODEL.TRANSFER.DECODER`` (load the converted decoder, or leave it freshly initialised:
encoder-only transfer).
"""
import logging
import os

from detectron2.data import (
    DatasetMapper, build_detection_train_loader, get_detection_dataset_dicts,
)
from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOEvaluator, PascalVOCDetectionEvaluator
from detectron2.utils import comm

from ..engine.base_trainer import DeConTrainerBase
from ..config.explicit_keys import ignored_in_finetuning
from ..weights import DECODER_PREFIXES
from .preflight import check_finetune_setup
from .records_check import check_num_classes, mask_format_for
from .results import write_results
from .subset import subset_records

logger = logging.getLogger(__name__)


class FinetuneTrainer(DeConTrainerBase):
    @classmethod
    def preflight(cls, cfg, resume: bool = False) -> None:
        """The config against the converted weights' pre-training conventions; skipped when
        ``--resume`` finds a checkpoint (which then replaces MODEL.WEIGHTS)."""
        for warning in ignored_in_finetuning(cfg):
            logger.warning(warning)
        if resume and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "last_checkpoint")):
            return
        for warning in check_finetune_setup(cfg):
            logger.warning(warning)

    def resume_or_load(self, resume=True):
        """As the base class; a fresh run with ``MODEL.TRANSFER.DECODER "random"`` skips the
        decoder tensors of MODEL.WEIGHTS (said in the log), so the decoder keeps its init."""
        fresh = not (resume and self.checkpointer.has_checkpoint())
        random_decoder = self.cfg.MODEL.TRANSFER.DECODER == "random"
        self.checkpointer.skip_prefixes = DECODER_PREFIXES if fresh and random_decoder else ()
        super().resume_or_load(resume=resume)

    @classmethod
    def train_mapper(cls, cfg, records):
        """The training ``DatasetMapper``: Detectron2's, with the mask format the records need
        (``records_check.mask_format_for``)."""
        mask_format = mask_format_for(cfg, records)
        extra = {"instance_mask_format": mask_format} if mask_format else {}
        return DatasetMapper(cfg, True, **extra)

    @classmethod
    def build_train_loader(cls, cfg):
        """Detectron2's loader over DATASETS.TRAIN (or its limited-data subset), after the
        records are checked against the config (records_check.py)."""
        records = get_detection_dataset_dicts(
            cfg.DATASETS.TRAIN,
            filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
            min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE
            if cfg.MODEL.KEYPOINT_ON else 0,
            proposal_files=cfg.DATASETS.PROPOSAL_FILES_TRAIN if cfg.MODEL.LOAD_PROPOSALS else None,
        )
        check_num_classes(cfg)
        fraction = cfg.DATASETS.DECON.TRAIN_FRACTION
        if fraction < 1.0:
            seed = cfg.DATASETS.DECON.TRAIN_FRACTION_SEED
            subset = subset_records(records, fraction, seed)
            logger.info(f"Limited-data fine-tuning: {len(subset)} of {len(records)} images "
                        f"(TRAIN_FRACTION {fraction}, seed {seed}).")
            records = subset
        return build_detection_train_loader(
            cfg, dataset=records, mapper=cls.train_mapper(cfg, records))

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        """By the data set's ``evaluator_type``: "pascal_voc" (Detectron2's builtin VOC sets,
        ``decon_demo_voc``) -> ``PascalVOCDetectionEvaluator`` (bbox AP, AP50, AP75); anything
        else -> ``COCOEvaluator``."""
        if MetadataCatalog.get(dataset_name).get("evaluator_type") == "pascal_voc":
            if cfg.MODEL.MASK_ON:
                logger.warning(f"{dataset_name} is evaluated by PascalVOCDetectionEvaluator: "
                               "boxes only, no mask AP (MODEL.MASK_ON is True)")
            return PascalVOCDetectionEvaluator(dataset_name)
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
        # Tasks named explicitly: inferred from predictions, a model that detects nothing yet
        # would silently get no mask AP entry.
        tasks = ("bbox", "segm") if cfg.MODEL.MASK_ON else ("bbox",)
        return COCOEvaluator(dataset_name, tasks=tasks, output_dir=output_folder)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """Detectron2's evaluation, plus ``OUTPUT_DIR/inference/results.json`` (bbox/segm AP,
        AP50, AP75, APs/m/l per data set) on the main process."""
        results = super().test(cfg, model, evaluators)
        if comm.is_main_process() and results:
            # Detectron2 un-nests the result of a single test set: name it again.
            named = results if len(cfg.DATASETS.TEST) > 1 else {cfg.DATASETS.TEST[0]: results}
            write_results(named, os.path.join(cfg.OUTPUT_DIR, "inference"),
                          extra={"weights": cfg.MODEL.WEIGHTS, "datasets": list(cfg.DATASETS.TEST)})
        return results
