"""The object-size experiment (byteloom/scale.py, lesson 6): its pure parts, its errors, and the
committed result against the frozen stage that made it."""
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from byteloom import scale
from byteloom.config import load_config, token_pixels

ROOT = Path(__file__).resolve().parents[1]


def test_object_tokens_counts_pixels_of_the_frames_the_object_is_in():
    rcm = np.zeros((2, 3, 8, 8, 3), np.uint8)
    rcm[0, 0, :4, :4] = 200  # 16 px in one frame
    rcm[1, 2, :2, :4, 1] = 5  # 8 px in another; the other four frames show no object
    out = scale.object_tokens(rcm, (4, 4))
    assert out["pixels"] == pytest.approx(12.0) and out["tokens"] == pytest.approx(12 / 16)
    assert out["frames_in_view"] == pytest.approx(2 / 6)
    assert out["fraction"] == pytest.approx(24 / (6 * 64))
    assert scale.object_tokens(np.zeros((1, 2, 4, 4, 3), np.uint8), (2, 2))["tokens"] == 0.0


def test_scaled_config_changes_only_the_object_and_the_benchmark_size(tmp_path):
    cfg = load_config(ROOT / "params.yaml")
    sc = scale.scaled_config(cfg, 0.4, 4, tmp_path)
    assert sc.data.object_extent == 0.4 and sc.data.root == str(tmp_path)
    assert sc.data.clips["test"] == 4 and sc.evaluation.clips == 4
    assert replace(sc, data=cfg.data, evaluation=cfg.evaluation) == cfg
    assert token_pixels(sc) == token_pixels(cfg)


@pytest.mark.parametrize("extent, clips, match", [(0.0, 4, "object size must be > 0"), (-1.0, 4, "> 0 m"),
                                                  (0.2, 1, r"--clips must be in 2\.\."), (0.2, 10_000, "--clips")])
def test_bad_arguments_are_errors_before_any_work(tmp_path, extent, clips, match):
    cfg = load_config(ROOT / "params.yaml")
    with pytest.raises(ValueError, match=match):
        scale.scaled_config(cfg, extent, clips, tmp_path)
    with pytest.raises(ValueError, match=match):  # the command line checks every size first
        scale.main(["--extents", "0.2", str(extent), "--clips", str(clips), "--out", str(tmp_path / "x.json"),
                    "--params", str(ROOT / "params.yaml")])
    assert not (tmp_path / "x.json").exists() and not any(tmp_path.iterdir())


def test_the_committed_result_is_the_frozen_stage_output_and_is_complete():
    """metrics/scale.json is committed (frozen stage `scale`, cache: false): it must match dvc.lock,
    come from the stage's own command, and hold every size with paired intervals and usage."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["scale"]
    assert stage.get("frozen") is True
    status = subprocess.run(["dvc", "status", "scale", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert status.returncode == 0 and json.loads(status.stdout) == {}, status.stdout + status.stderr
    result = json.loads((ROOT / "metrics/scale.json").read_text())
    assert result["command"] in stage["cmd"]
    extents = [s["extent_m"] for s in result["sizes"]]
    assert extents == sorted(extents) and len(extents) >= 3
    tokens = [s["object"]["tokens"] for s in result["sizes"]]
    assert all(a < b for a, b in zip(tokens, tokens[1:])), "a bigger object covers more tokens"
    for s in result["sizes"]:
        for m in scale.METRICS:
            g = s["gap"][m]
            assert g["low"] <= g["effect"] <= g["high"] and g["n_seeds"] == len(s["seeds"]) and g["n_clips"] == s["clips"]
            assert g["verdict"] == ("holds" if g["low"] > 0 else "reversed" if g["high"] < 0 else "within noise")
        assert {"own", "rcm_swapped", "cache_swapped"} <= set(next(iter(s["usage"]["mean"].values())))
        assert set(s["per_clip"]) == set(result["designs"])
