"""The study's probe plan: each row kind probes the right branch with the right options, one
backbone per seed in seed order, and a result file that does not match its plan is refused."""
import json

import pytest

from tools.study import probes


def test_every_kind_has_its_options_and_seed_order(tmp_path):
    finals = {s: tmp_path / f"slotcon_s{s}" / "model_final.pth" for s in (3, 1)}
    inits = {s: tmp_path / "init" / f"slotcon_s{s}.pth" for s in (3, 1)}
    runs = {r.kind: r for r in probes.arm_runs("slotcon", [3, 1], finals, inits)}
    assert set(runs) == {"teacher", "init", "student", "teacher_bn", "init_bn"}
    argv = {k: probes.probe_argv(r, tmp_path, "tr", "va", ["res5", "res4"], (18, 128))
            for k, r in runs.items()}
    assert "--student" in argv["student"] and "--student" not in argv["teacher"]
    assert "--bn-reestimate" in argv["teacher_bn"] and "--bn-reestimate" in argv["init_bn"]
    assert "--bn-reestimate" not in argv["init"]
    weights = [argv["init"][i + 1] for i, a in enumerate(argv["init"]) if a == "--weights"]
    assert weights == [str(inits[3]), str(inits[1])]
    assert runs["teacher_bn"].json(tmp_path) == tmp_path / "probe" / "slotcon_teacher_bn.json"
    rnd = probes.random_runs([3, 1])
    assert [r.label for r in rnd] == ["Detectron2 random init",
                                      "Detectron2 random init, BN re-estimated"]
    assert rnd[0].weights == ("random:3", "random:1")


def test_a_result_file_with_other_rows_is_refused(tmp_path):
    run = probes.ProbeRun("slotcon", "teacher", (0, 1), ("a.pth", "b.pth"))
    run.json(tmp_path).parent.mkdir()
    run.json(tmp_path).write_text(json.dumps({"rows": [{"levels": {}}]}))
    with pytest.raises(SystemExit, match="slotcon_teacher.json holds 1 rows.*delete it"):
        probes.read_rows([run], tmp_path)
    run.json(tmp_path).write_text(json.dumps({"rows": [{"levels": {"x": 1}}, {"levels": {}}]}))
    rows = probes.read_rows([run], tmp_path)
    assert rows[("slotcon teacher", 0)] == {"levels": {"x": 1}}
