"""The Stage III length experiment (byteloom/adaptation.py, lesson 6 section 11): its pure parts,
its errors, cell reuse, and the committed result against the frozen stage that made it."""
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from byteloom import adaptation as A
from byteloom.config import load_config
from byteloom.score import scale_line

ROOT = Path(__file__).resolve().parents[1]
CFG = load_config(ROOT / "params.yaml")


def _row(variant, values, metric="ssim_gt"):
    """A seeded row: values[s][c] of `metric` (and the other compared metrics at 0.5)."""
    return {"variant": variant, "seeds": list(range(len(values))),
            "per_clip": {f"seed{s}": {f"c{c}": {**{m: 0.5 for m in A.METRICS}, metric: float(v)}
                                      for c, v in enumerate(vals)} for s, vals in enumerate(values)}}


def test_steps_config_changes_only_stage_iii():
    sc = A.steps_config(CFG, 480)
    assert sc.curriculum.steps["stage3"] == 480
    assert {k: v for k, v in sc.curriculum.steps.items() if k != "stage3"} == \
        {k: v for k, v in CFG.curriculum.steps.items() if k != "stage3"}
    assert replace(sc, curriculum=CFG.curriculum) == CFG
    assert scale_line(sc) != scale_line(CFG)  # the cell fingerprint sees the step count
    with pytest.raises(ValueError, match="--steps: a step count must be >= 1"):
        A.steps_config(CFG, 0)


def test_bad_step_count_is_an_error_before_any_work(tmp_path):
    out = tmp_path / "a.json"
    with pytest.raises(ValueError, match=">= 1"):
        A.main(["--steps", "240", "-5", "--params", str(ROOT / "params.yaml"), "--out", str(out)])
    assert not out.exists()


def test_designs_must_exist_and_end_with_stage_iii():
    A.check_designs(CFG)
    variants = dict(CFG.curriculum.variants)
    with pytest.raises(KeyError, match="lacks 'pose_only'"):
        A.check_designs(replace(CFG, curriculum=replace(CFG.curriculum, variants={k: v for k, v in variants.items()
                                                                                   if k != "pose_only"})))
    short = {**variants, "byteloom": replace(variants["byteloom"], stages=("stage1", "stage2"))}
    with pytest.raises(ValueError, match="byteloom: its last stage is stage2"):
        A.check_designs(replace(CFG, curriculum=replace(CFG.curriculum, variants=short)))


def test_committed_scores_of_another_scale_are_refused(tmp_path):
    (tmp_path / "pose_only.json").write_text(json.dumps({"scale": "64x64 px, something else", "per_clip": {}}))
    with pytest.raises(ValueError, match="pose_only.json: scored at '64x64 px"):
        A.committed_scores(CFG, "pose_only", tmp_path)
    with pytest.raises(FileNotFoundError, match="single_view.json: no committed evaluation"):
        A.committed_scores(CFG, "single_view", tmp_path)
    (tmp_path / "pose_only.json").write_text(json.dumps({"scale": scale_line(CFG), "seeds": [3, 4, 5]}))
    with pytest.raises(ValueError, match=r"pose_only.json: scored with seeds \[3, 4, 5\]"):
        A.committed_scores(CFG, "pose_only", tmp_path)
    other = replace(CFG, curriculum=replace(CFG.curriculum, seeds=[3, 4, 5]))
    assert A.committed_scores(other, "pose_only", tmp_path)["seeds"] == [3, 4, 5]


def test_another_seed_set_needs_its_own_runs_evaluation_and_work_folder(tmp_path):
    out = tmp_path / "a.json"
    args = ["--steps", "240", "--params", str(ROOT / "params.yaml"), "--out", str(out), "--seeds", "3", "4", "5"]
    with pytest.raises(ValueError, match="--seeds needs --parents, --eval-dir and --work"):
        A.main(args + ["--parents", str(tmp_path)])
    with pytest.raises(ValueError, match="distinct seeds"):
        A.main(args + ["3"])
    with pytest.raises(FileNotFoundError, match="no base run in it"):
        A.main(args + ["--parents", str(tmp_path), "--eval-dir", str(tmp_path), "--work", str(tmp_path / "w")])
    (tmp_path / "base").mkdir()
    with pytest.raises(FileNotFoundError, match="byteloom.json: no committed evaluation"):
        A.main(args + ["--parents", str(tmp_path), "--eval-dir", str(tmp_path), "--work", str(tmp_path / "w")])
    assert not out.exists()


def test_compare_finds_a_planted_gap_and_none_between_identical_designs():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.4, (3, 16))
    rows = {"byteloom": _row("byteloom", base + 0.05), "single_view": _row("single_view", base),
            "pose_only": _row("pose_only", base)}
    sanity = {s: {"variant": s, "seeds": [], "per_clip": {"seed0": {f"c{c}": {"ssim_gt": 0.3} for c in range(16)}}}
              for s in A.SANITY}
    out = A.compare(rows, sanity)
    g = out["gap"]["byteloom_vs_single_view"]["ssim_gt"]
    assert g["verdict"] == "holds" and g["low"] > 0 and g["effect"] == pytest.approx(0.05)
    same = out["gap"]["byteloom_vs_pose_only"]["obj_iou"]  # every design scored 0.5 on it
    assert same["verdict"] == "within noise" and same["effect"] == 0
    assert out["mean"]["byteloom"]["ssim_gt"] == pytest.approx(base.mean() + 0.05)
    assert set(out["sanity"]) == set(rows) and set(out["sanity"]["pose_only"]) == set(A.SANITY)


def test_mean_score_skips_clips_without_a_value():
    row = _row("x", [[0.2, 0.4]])
    row["per_clip"]["seed0"]["c1"]["obj_iou"] = None
    row["per_clip"]["seed0"]["c0"]["obj_iou"] = 0.3
    assert A.mean_score(row, "obj_iou") == pytest.approx(0.3)
    assert A.mean_score(row, "ssim_gt") == pytest.approx(0.3)


def _fake_pipeline(root: Path) -> Path:
    """build/train stand-in: a base and each design's parent run for seed 0, tiny weight files."""
    (root / "base" / "transformer").mkdir(parents=True)
    (root / "base" / "transformer" / "model.safetensors").write_bytes(b"base")
    for name in ("I", "rcm_cache-I-II", "single_view-I-II"):
        (root / name / "seed0" / "adapters").mkdir(parents=True)
        (root / name / "seed0" / "adapters" / "pytorch_lora_weights.safetensors").write_bytes(name.encode())
    return root


def test_the_cell_key_sees_code_configuration_and_parent_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(A.C, "TRAIN_DIR", _fake_pipeline(tmp_path))
    key = A.cell_key(CFG, "pose_only", 0)
    other = _fake_pipeline(tmp_path / "other_seed_set")  # same files elsewhere: same weights, same key
    assert A.cell_key(CFG, "pose_only", 0, parents=other) == key
    (other / "I" / "seed0" / "adapters" / "pytorch_lora_weights.safetensors").write_bytes(b"other parent")
    assert A.cell_key(CFG, "pose_only", 0, parents=other) != key
    assert key == A.cell_key(replace(CFG, curriculum=replace(CFG.curriculum, seeds=[0, 7])), "pose_only", 0)
    assert key != A.cell_key(A.steps_config(CFG, 480), "pose_only", 0)
    assert key != A.cell_key(replace(CFG, curriculum=replace(CFG.curriculum, batch_size=8)), "pose_only", 0)
    assert A.cell_key(CFG, "byteloom", 0) != A.cell_key(CFG, "single_view", 0)
    (tmp_path / "I" / "seed0" / "adapters" / "pytorch_lora_weights.safetensors").write_bytes(b"retrained")
    assert A.cell_key(CFG, "pose_only", 0) != key  # its parent Stage I run changed
    (tmp_path / "base" / "transformer" / "model.safetensors").write_bytes(b"other base")
    byteloom = A.cell_key(CFG, "byteloom", 0)
    (tmp_path / "base" / "transformer" / "model.safetensors").write_bytes(b"base")
    assert A.cell_key(CFG, "byteloom", 0) != byteloom
    with pytest.raises(FileNotFoundError, match="no weights of the run pose_only starts from"):
        A.cell_key(CFG, "pose_only", 1)


def test_a_finished_cell_is_read_back_only_with_the_same_key(tmp_path, monkeypatch):
    """A cell of the same code, configuration and parents is reused; one of another is trained again."""
    monkeypatch.setattr(A.C, "TRAIN_DIR", _fake_pipeline(tmp_path / "pipeline"))
    sc = A.steps_config(CFG, 7)
    key = A.cell_key(sc, "pose_only", 0)
    cell = tmp_path / "scores" / "pose_only_seed0.json"
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"fingerprint": key, "seed": 0, "per_clip": {}}))
    calls = []
    monkeypatch.setattr(A.C, "train_stage", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(RuntimeError("trained")))
    assert A.retrained_scores(sc, "pose_only", 0, tmp_path, progress=False)["fingerprint"] == key and not calls
    cell.write_text(json.dumps({"fingerprint": "other-code", "seed": 0}))
    monkeypatch.setattr(A, "link_parents", lambda *a: None)
    with pytest.raises(RuntimeError, match="trained"):
        A.retrained_scores(sc, "pose_only", 0, tmp_path, progress=False)
    assert len(calls) == 1


def test_a_scoring_change_rescores_the_stamped_adapters_without_training(tmp_path, monkeypatch):
    """A metric fix (SCORE_CODE) changes cell_key but not train_key: the cell is sampled and scored
    again from its stamped adapters; adapters of another train_key are trained again."""
    monkeypatch.setattr(A.C, "TRAIN_DIR", _fake_pipeline(tmp_path / "pipeline"))
    code = {"train": "t1", "score": "s1"}
    monkeypatch.setattr(A, "code_digest", lambda names: code["score" if "metrics" in names else "train"])
    sc = A.steps_config(CFG, 7)
    tkey, key = A.train_key(sc, "pose_only", 0), A.cell_key(sc, "pose_only", 0)
    code["score"] = "s2"
    assert A.train_key(sc, "pose_only", 0) == tkey and A.cell_key(sc, "pose_only", 0) != key
    cell = tmp_path / "scores" / "pose_only_seed0.json"
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"fingerprint": key, "seed": 0, "per_clip": {"c0": {"t_ssim": 0.1}},
                                "seconds": {"train": 12.5, "sample_score": 3.0}}))
    stamp = tmp_path / "train" / "pose_only-I-III" / "seed0" / A.TRAIN_STAMP
    stamp.parent.mkdir(parents=True)
    stamp.write_text(tkey + "\n")
    calls = []
    monkeypatch.setattr(A, "link_parents", lambda *a: None)
    monkeypatch.setattr(A.C, "train_stage", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(RuntimeError("trained")))
    monkeypatch.setattr(A.C, "run_model", lambda *a: (None, None))
    monkeypatch.setattr(A.C, "sample_split", lambda *a, **k: {})
    monkeypatch.setattr(A, "benchmark_clips", lambda cfg: {})
    monkeypatch.setattr(A, "evaluate_many", lambda videos, clips: {"per_clip": {"c0": {"t_ssim": 0.2}}})
    out = A.retrained_scores(sc, "pose_only", 0, tmp_path, progress=False)
    assert not calls and out["per_clip"] == {"c0": {"t_ssim": 0.2}}
    assert out["fingerprint"] == A.cell_key(sc, "pose_only", 0) and out["train_key"] == tkey
    assert out["seconds"]["train"] == 12.5  # the adapters' training time, kept from the cell that trained them
    assert json.loads(cell.read_text()) == out
    code["train"] = "t2"  # other training code: the stamped adapters are stale
    with pytest.raises(RuntimeError, match="trained"):
        A.retrained_scores(sc, "pose_only", 0, tmp_path, progress=False)
    assert len(calls) == 1 and not stamp.exists()  # the stale stamp is gone before training starts


def test_link_parents_refuses_to_replace_a_folder(tmp_path, monkeypatch):
    train = tmp_path / "pipeline"
    for name in ("base", "I", "rcm_cache-I-II", "single_view-I-II"):
        (train / name).mkdir(parents=True)
    monkeypatch.setattr(A.C, "TRAIN_DIR", train)
    A.link_parents(CFG, tmp_path / "work")
    A.link_parents(CFG, tmp_path / "work")  # links already there: fine
    assert (tmp_path / "work" / "I").resolve() == (train / "I").resolve()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "I").mkdir()
    with pytest.raises(FileExistsError, match="is not a link to"):
        A.link_parents(CFG, tmp_path / "other")


def test_the_committed_result_is_the_frozen_stage_output_and_is_complete():
    """metrics/adaptation.json is committed (frozen stage `adaptation`, cache: false): it must match
    dvc.lock, come from the stage's own command, and hold every step count with paired intervals."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["adaptation"]
    assert stage.get("frozen") is True
    status = subprocess.run(["dvc", "status", "adaptation", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert status.returncode == 0 and json.loads(status.stdout) == {}, status.stdout + status.stderr
    result = json.loads((ROOT / "metrics/adaptation.json").read_text())
    assert result["command"] in stage["cmd"]
    steps = [p["stage3_steps"] for p in result["points"]]
    assert steps == sorted(steps) and len(steps) >= 3 and result["default_steps"] in steps
    n_clips = CFG.evaluation.clips
    for p in result["points"]:
        assert set(p["per_clip"]) == set(result["designs"])
        for pair in ("byteloom_vs_single_view", "byteloom_vs_pose_only"):
            for m in result["metrics"]:
                g = p["gap"][pair][m]
                assert g["low"] <= g["effect"] <= g["high"] and g["n_seeds"] == len(CFG.curriculum.seeds)
                assert g["n_clips"] <= n_clips
                assert g["verdict"] == ("holds" if g["low"] > 0 else "reversed" if g["high"] < 0 else "within noise")
        for v in result["designs"]:
            assert set(p["sanity"][v]) == set(A.SANITY)
        assert {"own", "rcm_swapped", "cache_swapped"} <= set(next(iter(p["usage"]["mean"].values())))


def test_compare_seed_sets_lines_up_verdicts_and_flags_disagreement():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.4, (3, 16))
    sanity = {s: {"variant": s, "seeds": [], "per_clip": {"seed0": {f"c{c}": {"ssim_gt": 0.6} for c in range(16)}}}
              for s in A.SANITY}

    def run(shift):
        rows = {"byteloom": _row("byteloom", base + shift), "single_view": _row("single_view", base),
                "pose_only": _row("pose_only", base)}
        return {"scale": "s", "points": [{"stage3_steps": 60, **A.compare(rows, sanity)}]}

    out = A.compare_seed_sets({"seeds 0-2": run(0.05), "seeds 3-5": run(-0.05)})
    row = next(r for r in out if r["comparison"] == "byteloom_vs_single_view" and r["metric"] == "ssim_gt")
    assert [v["verdict"] for v in row["verdicts"].values()] == ["holds", "reversed"] and not row["same"]
    sane = next(r for r in out if r["comparison"] == "pose_only_vs_reference_repeated")
    assert sane["same"] and sane["verdicts"]["seeds 0-2"]["verdict"] == "reversed"
    with pytest.raises(ValueError, match="different scales"):
        A.compare_seed_sets({"a": run(0), "b": {**run(0), "scale": "other"}})
    with pytest.raises(ValueError, match="at least two"):
        A.compare_seed_sets({"a": run(0)})


def test_committed_reruns_with_other_seeds_are_complete():
    """metrics/adaptation_seeds_*.json: the experiment on another seed set, comparable with the committed one."""
    main = json.loads((ROOT / "metrics/adaptation.json").read_text())
    for f in sorted((ROOT / "metrics").glob("adaptation_seeds_*.json")):
        r = json.loads(f.read_text())
        assert r["scale"] == main["scale"] and not set(r["seeds"]) & set(main.get("seeds", CFG.curriculum.seeds))
        assert "--seeds " + " ".join(map(str, r["seeds"])) in r["command"]
        assert [p["stage3_steps"] for p in r["points"]] == [p["stage3_steps"] for p in main["points"]]
        for p in r["points"]:
            for pair in p["gap"].values():
                for g in pair.values():
                    assert g["n_seeds"] == len(r["seeds"]) and g["low"] <= g["effect"] <= g["high"]
        assert A.compare_seed_sets({"main": main, f.stem: r})
