"""``python -m tools.protocols.table``: every shipped fine-tuning config has a documented
reference and matches it key by key, or says why not; drift, a stale reason and a config
without a reference are caught."""
import pytest

from tools.protocols import references as refs
from tools.protocols import table as protocols

BASE = "faster_rcnn_R_50_C4_voc0712_24k_decon.yaml"


def test_every_shipped_config_matches_its_reference_or_says_why(capsys):
    names = [p.name for p in protocols.shipped_configs()]
    assert {BASE, "mask_rcnn_R_50_FPN_1x_decon.yaml",
            "fcn_R_50_D6_voc12aug_30k_decon.yaml"} <= set(names)
    assert protocols.main(["--check"]) == 0, capsys.readouterr().out
    assert set(names) <= set(refs.CONFIGS)


def _drifted(tmp_path, monkeypatch, **reasons):
    """A config built on the C4 protocol with BASE_LR 0.01, known to the reference table."""
    path = tmp_path / "faster_rcnn_drifted.yaml"
    path.write_text(f'_BASE_: "{protocols.FINETUNE_DIR / BASE}"\nSOLVER:\n  BASE_LR: 0.01\n')
    monkeypatch.setitem(refs.CONFIGS, path.name, ("voc_c4", {}))
    monkeypatch.setitem(refs.PROTOCOLS, "voc_c4", refs.Reference(
        refs.VOC_C4.source, refs.VOC_C4.values, reasons))
    return protocols.compare(path)


def test_an_undocumented_difference_is_drift(tmp_path, monkeypatch):
    result = _drifted(tmp_path, monkeypatch)
    row = next(r for r in result["rows"] if r[0] == "SOLVER.BASE_LR")
    assert row[1:4] == (0.01, 0.02, "DIFF (UNDOCUMENTED)")
    issues = protocols.problems([result])
    assert len(issues) == 1 and "SOLVER.BASE_LR" in issues[0]
    assert "references.py" in issues[0]  # where the fix goes


def test_a_documented_difference_passes_and_a_stale_reason_fails(tmp_path, monkeypatch):
    result = _drifted(tmp_path, monkeypatch, **{"SOLVER.BASE_LR": "half the batch"})
    assert protocols.problems([result]) == []
    row = next(r for r in result["rows"] if r[0] == "SOLVER.BASE_LR")
    assert row[3] == "DIFF (documented: half the batch)"
    stale = _drifted(tmp_path, monkeypatch, **{"SOLVER.MAX_ITER": "shorter"})
    issues = protocols.problems([stale])
    assert any("SOLVER.MAX_ITER" in i and "STALE" in i for i in issues), issues


def test_a_config_without_a_reference_is_named():
    with pytest.raises(KeyError, match="references.py"):
        refs.reference_for("faster_rcnn_unknown.yaml")


def test_the_command_prints_configs_side_by_side_and_the_presets(capsys):
    assert protocols.main(["--config", BASE, "--config",
                           "mask_rcnn_R_50_FPN_1x_coco10pct_decon.yaml"]) == 0
    out = capsys.readouterr().out
    assert f"== configs/finetune/{BASE}" in out and "MoCo" in out
    for key in ("INPUT.FORMAT", "MODEL.PIXEL_STD", "MODEL.RESNETS.NORM", "MODEL.ROI_HEADS.NAME",
                "MODEL.BACKBONE.FREEZE_AT", "SOLVER.BASE_LR", "SOLVER.STEPS", "SOLVER.MAX_ITER",
                "SOLVER.IMS_PER_BATCH", "SOLVER.WARMUP_ITERS", "INPUT.MIN_SIZE_TRAIN",
                "INPUT.MIN_SIZE_TEST"):
        assert key in out, key
    presets = out.split("limited-label presets")[1]
    assert "mask_rcnn_R_50_FPN_1x_coco10pct_decon.yaml" in presets and "0.1" in presets
