"""Draw a fine-tuned detector's predictions on one demo photo (Detectron2's Visualizer)."""
from pathlib import Path

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor
from detectron2.utils.visualizer import Visualizer
from PIL import Image

from decon_d2.config import build_cfg


def draw_predictions(run_dir: Path, png: Path, dataset: str = "decon_demo_coco",
                     image_index: int = 0, score_threshold: float = 0.3) -> Path:
    """Load ``run_dir``'s config and final weights, predict on one photo, save ``png``."""
    cfg = build_cfg(str(run_dir / "config.yaml"), [
        "MODEL.WEIGHTS", str(run_dir / "model_final.pth"), "MODEL.DEVICE", "cpu",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", float(score_threshold)])
    predictor = DefaultPredictor(cfg)
    record = DatasetCatalog.get(dataset)[image_index]
    # DefaultPredictor takes BGR and converts to cfg.INPUT.FORMAT itself; Visualizer takes RGB.
    bgr = read_image(record["file_name"], format="BGR")
    with torch.no_grad():
        instances = predictor(bgr)["instances"].to("cpu")
    vis = Visualizer(bgr[:, :, ::-1], MetadataCatalog.get(dataset), scale=1.0)
    drawn = vis.draw_instance_predictions(instances).get_image()
    png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(drawn)).save(png)
    return png
