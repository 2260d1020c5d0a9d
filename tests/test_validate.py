"""byteloom.validate: the corruption sweep and its expectation checks (lesson 05)."""
import os

import numpy as np
import pytest

from byteloom.evaluate import METRICS, prepare_ground_truth
from byteloom import validate as V

from .test_evaluate import benchmark_clip

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
SIZE = (32, 32)


@pytest.fixture(scope="module")
def sweep():
    # clip 4: its reference shows the head (with the upper-body framing the head of clip 0 can be above
    # the image, and Face-Cos is then undefined)
    clips = {"0004": benchmark_clip(4)}
    rows, gts = V.run_sweep(clips, SIZE, [0.0, 1.0], seed=0)
    return clips, rows, gts


def test_sweep_is_a_tidy_table_with_one_clean_score(sweep):
    _, rows, _ = sweep
    assert len(rows) == len(V.CORRUPTIONS) * 2
    assert all(set(r) == {"clip", "corruption", "strength", *METRICS} for r in rows)
    clean = [tuple(r[m] for m in METRICS) for r in rows if r["strength"] == 0.0 and r["corruption"] not in V.RERENDERED]
    assert len(set(clean)) == 1 and clean[0][0] == 1.0  # strength 0 = the ground truth, scored once
    rerendered = [r for r in rows if r["strength"] == 0.0 and r["corruption"] in V.RERENDERED]
    assert len(rerendered) == len(V.RERENDERED) and all(r["obj_iou"] > 0.8 for r in rerendered)
    assert all(tuple(r[m] for m in METRICS) != clean[0] for r in rerendered)  # the re-render is its own baseline
    full = {r["corruption"]: r for r in rows if r["strength"] == 1.0}
    assert full["mask_shift"]["obj_iou"] < 0.5 and full["mask_shift"]["t_ssim"] != clean[0][-1]  # T-SSIM reads the masks
    assert full["identity_swap"]["face_cos"] < clean[0][2]  # one clip: its own negative head stands in
    assert full["background_flicker"]["back_cons"] < clean[0][METRICS.index("back_cons")]


def test_checks_on_the_sweep(sweep):
    _, rows, gts = sweep
    gap = V.noise_gap(gts)
    assert set(gap) == set(METRICS) and all(g > 0 for g in gap.values())
    checks = V.check_expectations(rows, gap)
    assert set(checks) == set(V.CORRUPTIONS) and all(set(c) == set(METRICS) for c in checks.values())
    cell = checks["mask_shift"]["obj_iou"]
    assert cell["passed"] and cell["monotonic"] and cell["slope_sign"] == -1 and cell["delta"] < -0.5
    assert checks["mask_shift"]["face_cos"]["passed"] and checks["mask_shift"]["face_cos"]["delta"] == 0.0
    assert checks["mask_shift"]["t_ssim"]["passed"] is None  # the segmented object is what it scores: no claim
    for name in ("wrong_rotation", "shape_distortion", "texture_drift"):  # geometry and appearance over time
        assert checks[name]["t_ssim"]["delta"] < 0, name
    s = V.summarize(checks)
    judged = sum(v != "any" for c in V.EXPECT.values() for v in c.values())
    assert s["checked"] == judged and s["passed"] + s["failed"] == judged and len(s["failures"]) == s["failed"]


def test_check_cell_rules():
    s = np.array([0.0, 0.5, 1.0])
    one = lambda mean: np.array([mean])  # noqa: E731  (per-clip table of one clip)
    down = np.array([1.0, 0.8, 0.5])
    assert V.check_cell(s, down, one(down), "obj_iou", "worse", unit=1.0)["passed"]
    bumpy = np.array([1.0, 0.5, 0.6])  # improves by 0.1 > 1% of the unit: not monotonic
    assert not V.check_cell(s, bumpy, one(bumpy), "obj_iou", "worse", unit=1.0)["passed"]
    flat = np.array([1.0, 0.99, 0.98])  # moved by only 2% of the unit
    assert not V.check_cell(s, flat, one(flat), "obj_iou", "worse", unit=1.0)["passed"]
    assert V.check_cell(s, flat, one(flat), "obj_iou", "same", unit=1.0)["passed"]
    up = np.array([0.0, 0.1, 0.3])  # LMD: lower is better, so rising is "worse"
    cell = V.check_cell(s, up, one(up), "lmd", "worse", unit=1.0)
    assert cell["passed"] and cell["slope_sign"] == 1 and not V.check_cell(s, up, one(up), "lmd", "same", 1.0)["passed"]
    assert V.check_cell(s, up, one(up), "lmd", "any", unit=1.0)["passed"] is None


def test_bad_arguments():
    # clip 4: its reference shows the head (with the upper-body framing the head of clip 0 can be above
    # the image, and Face-Cos is then undefined)
    clips = {"0004": benchmark_clip(4)}
    with pytest.raises(ValueError, match="start at 0"):
        V.run_sweep(clips, SIZE, [0.5, 1.0])
    with pytest.raises(ValueError, match="unknown corruptions"):
        V.run_sweep(clips, SIZE, [0.0, 1.0], corruptions=["melt"])
    gt = prepare_ground_truth(clips["0004"], SIZE, clip_id="0004")
    with pytest.raises(ValueError, match="unknown corruption"):
        V.corrupt_clip("melt", gt, 0.5)
    video, seg = V.corrupt_clip("mask_shift", gt, 1.0)
    assert np.array_equal(video, gt.clip.rgb) and seg(video, gt.clip).shape == gt.masks.shape


def test_substitute_causes_explain_the_substitute_failures(sweep):
    """Flicker leaves Obj-CLIP untouched with exact masks (the segmenter moves it); drift loses mask pixels."""
    _, _, gts = sweep
    c = V.substitute_causes(gts, seed=0)
    assert c["flicker_obj_clip_exact_masks"] == pytest.approx(1.0, abs=1e-6)
    assert 0 < c["flicker_mask_iou"] <= 1 and 0 < c["drift_mask_kept"] < 1
    assert 0 < c["object_share_of_frame"] < 0.5 and abs(c["drift_subj_cons_change"]) < 0.01  # barely moves
