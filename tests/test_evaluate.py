"""byteloom.evaluate: ground truth scores best, damage scores worse, bad inputs name the clip."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from byteloom import corrupt
from byteloom import evaluate as E
from byteloom.metrics.identity import head_box

ROOT = Path(__file__).resolve().parents[1]
SIZE = (32, 32)


def benchmark_clip(index: int = 0):
    """A benchmark clip: data/test/NNNN when generated (dvc repro data@test), else rendered here."""
    from byteloom.data import Clip, load_clip

    path = ROOT / "data" / "test" / f"{index:04d}"
    if path.is_dir():
        return load_clip(path)
    from byteloom import assets, mani4d, rcm, scene
    from byteloom.geometry import intrinsics_from_fov

    # built as mani4d.generate_split builds a benchmark clip, RCM-cache included (the segmenter uses it)
    obj = assets.load_object("mug", extent=0.25)
    f = mani4d.human_clip(scene.make_identity(1000 + index), "kick", 9, (64, 64), seed=index, obj=obj)
    meta = {"source": "mani4d-mini", "split": "test", "stage": "test", "seed": index, "identity": 1000 + index,
            "object": "mug", "fps": 15.0, "num_frames": 9, "height": 64, "width": 64}
    return Clip(meta=meta, rgb=f.rgb, rcm=f.rcm, skeleton=f.skeleton, reference=f.reference, body=f.body,
                hands=f.hands, K=np.tile(intrinsics_from_fov((64, 64), 40.0), (9, 1, 1)), poses=f.poses, mesh=obj,
                cache=rcm.build_cache(obj, 4, (64, 64)), extra={"mask_human": f.mask_human, "mask_object": f.mask_object, "mask_hands": f.mask_hands})


@pytest.fixture(scope="module")
def clip():
    return benchmark_clip(0)


@pytest.fixture(scope="module")
def gt(clip):
    return E.prepare_ground_truth(clip, SIZE, clip_id="0000")


@pytest.fixture(scope="module")
def clean(gt):
    return E.evaluate_video(gt.clip.rgb, gt)


def worse(metric, a, b, margin=0.0):
    """a is worse than b by more than `margin` in the metric's direction."""
    return a < b - margin if E.HIGHER_IS_BETTER[metric] else a > b + margin


def test_tables_describe_every_metric():
    assert set(E.HIGHER_IS_BETTER) == set(E.METHODS) == set(E.METRICS) and len(E.METRICS) == 9
    assert [m for m, up in E.HIGHER_IS_BETTER.items() if not up] == ["lmd"]
    import yaml

    paper = yaml.safe_load((ROOT / "paper/paper_numbers.yaml").read_text())["metrics"]
    assert list(E.PAPER_METRICS) == list(paper) and set(E.METRICS) - set(paper) == {"ssim_gt"}
    for m in E.PAPER_METRICS:
        assert "SUBSTITUTE:" in E.METHODS[m], m  # every metric here replaces a network of the paper's


def test_resize_clip_keeps_rcm_codes_and_scales_geometry(clip):
    small = E.resize_clip(clip, SIZE)
    assert small.rgb.shape == (9, 32, 32, 3) and small.meta["height"] == 32 and small.reference.shape == (32, 32, 3)
    codes = {tuple(c) for c in clip.rcm.reshape(-1, 3)}
    assert {tuple(c) for c in small.rcm.reshape(-1, 3)} <= codes  # nearest: no blended RCM colours
    assert small.extra["mask_object"].dtype == bool and small.extra["mask_object"].shape == (9, 32, 32)
    block = clip.rgb[:, :2, :2].reshape(9, 4, 3).mean(1)  # area interpolation = 2x2 block mean
    assert np.abs(small.rgb[:, 0, 0].astype(float) - block).max() <= 0.5 + 1e-9
    # keypoints: OpenCV pixel centres; 64 px pixel (1, 1) and (2, 2) straddle 32 px pixel 0.5 ... 1
    assert np.allclose(small.body[..., :2], (clip.body[..., :2] + 0.5) / 2 - 0.5)
    assert np.array_equal(small.body[..., 2], clip.body[..., 2])
    # intrinsics: projecting a point with the new K lands on the scaled projection
    X = np.array([0.05, -0.02, 0.6])
    p, q = clip.K[0] @ X, small.K[0] @ X
    assert np.allclose(q[:2] / q[2], (p[:2] / p[2] + 0.5) / 2 - 0.5)
    assert E.resize_clip(clip, clip.rgb.shape[1:3]) is clip


def test_ground_truth_scores_the_best_values(clean):
    assert clean["obj_iou"] == 1.0 and clean["obj_clip"] == pytest.approx(1.0, abs=1e-5) and clean["lmd"] == 0.0
    assert all(np.isfinite(v) for v in clean.values()), clean
    assert 0 < clean["face_cos"] <= 1 and 0.9 < clean["back_cons"] <= 1 and 0.9 < clean["mot_smth"] <= 1
    # the interaction camera moves in on the held object during a clip, so whole-frame subject
    # consistency (VBench's formula, pixel-embedding substitute) of the ground truth is ~0.45-0.57
    assert 0.8 < clean["t_ssim"] <= 1 and 0.3 < clean["subj_cons"] <= 1


def test_a_clip_is_resized_to_the_generated_size(clip, clean):
    assert E.evaluate_video(E.resize_clip(clip, SIZE).rgb, clip, clip_id="0000") == clean


def test_corruptions_worsen_their_targeted_metric(gt, clean):
    v, c = gt.clip.rgb, gt.clip
    obj, human = c.extra["mask_object"], c.extra["mask_human"]
    drift = E.evaluate_video(corrupt.texture_drift(v, obj, 1.0, seed=0), gt)
    assert worse("obj_clip", drift["obj_clip"], clean["obj_clip"], 0.01)
    assert worse("t_ssim", drift["t_ssim"], clean["t_ssim"], 0.002)  # small at 32 px: the object is ~4x4 px
    flick = E.evaluate_video(corrupt.background_flicker(v, obj | human, 1.0, seed=0), gt)
    assert worse("back_cons", flick["back_cons"], clean["back_cons"], 0.01)
    # object pixels untouched: T-SSIM moves only where the segmenter's background ring changed its masks
    assert abs(flick["t_ssim"] - clean["t_ssim"]) < 0.01
    jitter = E.evaluate_video(corrupt.frame_jitter(v, 1.0, seed=0, max_px=3), gt)
    assert worse("mot_smth", jitter["mot_smth"], clean["mot_smth"]) and worse("lmd", jitter["lmd"], clean["lmd"])
    shifted = corrupt.mask_shift(gt.masks, 1.0, seed=0, max_px=3)
    moved = E.evaluate_video(v, gt, segmenter=lambda frames, clip: shifted)
    assert worse("obj_iou", moved["obj_iou"], clean["obj_iou"], 0.2)
    assert {k: moved[k] for k in ("face_cos", "lmd")} == {k: clean[k] for k in ("face_cos", "lmd")}
    assert moved["t_ssim"] != clean["t_ssim"]  # T-SSIM scores the segmented object (the paper's SAM2 step)
    head = np.zeros_like(human)
    for t, b in enumerate(c.body):
        x0, y0, x1, y1 = head_box(b)
        head[t, max(y0, 0):y1, max(x0, 0):x1] = True
    swap = E.evaluate_video(corrupt.identity_swap(v, head & human, np.full_like(v, 200), 1.0), gt)
    assert worse("face_cos", swap["face_cos"], clean["face_cos"], 0.03)


def test_blank_and_noise_videos_score_worse(gt, clean):
    v = gt.clip.rgb
    blank = E.evaluate_video(np.zeros_like(v), gt)
    # a constant video is perfectly "consistent" and "smooth" (VBench's metrics and T-SSIM reward
    # stillness), so only the metrics that compare with the ground truth can catch it
    for m in ("obj_iou", "obj_clip", "face_cos", "lmd"):
        assert worse(m, blank[m], clean[m], 0.05), (m, blank[m], clean[m])
    assert blank["obj_iou"] == 0.0
    noise = E.evaluate_video(np.random.default_rng(0).integers(0, 256, v.shape, dtype=np.uint8), gt)
    for m in E.METRICS:
        assert worse(m, noise[m], clean[m], 0.02), (m, noise[m], clean[m])


def test_track_keypoints_follows_a_shift_and_drops_bad_matches():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    dst = np.roll(src, (2, -1), axis=(1, 2))  # content moves 2 px down, 1 px left
    pts = np.array([[[10.0, 12.0], [np.nan, np.nan]], [[5.2, 7.0], [12.0, 11.0]]])
    out = E.track_keypoints(src, dst, pts, patch=2, search=3)
    assert np.allclose(out[0, 0], [9.0, 14.0]) and np.isnan(out[0, 1]).all() and np.allclose(out[1], pts[1] + [-1, 2])
    assert np.array_equal(E.track_keypoints(src, src, pts, 2, 3)[1], pts[1])  # identical frames: offset 0
    assert (E.track_keypoints(src, np.zeros_like(src), pts, 2, 3)[1] == 0).all()  # no match: OpenPose's (0, 0)


def test_evaluate_many_means_and_counts_nans(clip, gt, clean):
    no_hands = dataclasses.replace(clip, hands=np.zeros_like(clip.hands))
    out = E.evaluate_many({"a": gt.clip.rgb, "b": gt.clip.rgb}, {"a": gt, "b": no_hands})
    assert out["n_clips"] == 2 and np.isnan(out["per_clip"]["b"]["lmd"]) and out["n_nan"]["lmd"] == 1
    assert out["mean"]["lmd"] == 0.0 and out["n_nan"]["obj_iou"] == 0
    assert out["mean"]["obj_iou"] == 1.0 and out["mean"]["face_cos"] == pytest.approx(clean["face_cos"])
    with pytest.raises(ValueError, match=r"no clip for \['c'\]"):
        E.evaluate_many({"a": gt.clip.rgb, "c": gt.clip.rgb}, {"a": gt})


def test_bad_inputs_raise_errors_naming_the_clip(clip, gt):
    v = gt.clip.rgb
    cases = [(v[:-1], gt, "frames"), (v.astype(np.float32), gt, "uint8"), (v[..., :2], gt, r"\(T, H, W, 3\)"),
             (np.zeros((9, 16, 16, 3), np.uint8), gt, "prepared at 32x32"),
             (np.zeros((9, 32, 48, 3), np.uint8), clip, "aspect ratio"), (v[0], clip, r"\(T, h, w, 3\)")]
    for video, target, what in cases:
        with pytest.raises(ValueError, match=f"0000.*{what}|{what}.*0000"):
            E.evaluate_video(video, target, clip_id="0000")
    with pytest.raises(ValueError, match="0000: segmenter returned masks"):
        E.evaluate_video(v, gt, segmenter=lambda f, c: np.zeros((9, 8, 8), bool))


def test_color_segmenter_stays_inside_the_condition_silhouette(gt):
    c = gt.clip
    seed = c.rcm.any(-1)
    assert not (gt.masks & ~seed).any() and gt.masks.sum() > 0.7 * seed.sum()
    no_cache = dataclasses.replace(c, cache=None)  # falls back to refine_masks_by_color
    m = E.ColorSegmenter()(c.rgb, no_cache)
    assert not (m & ~seed).any() and m.sum() > 0.5 * seed.sum()
    assert not E.ColorSegmenter()(np.zeros_like(c.rgb), c).any()  # nothing object-coloured in a black video


# ---------------------------------------------------------------------------------- sanity rows (byteloom.score)


def test_ssim_to_the_ground_truth_is_a_sanity_metric(gt, clean):
    assert "ssim_gt" in E.METRICS and "ssim_gt" not in E.PAPER_METRICS and E.HIGHER_IS_BETTER["ssim_gt"]
    assert "SUBSTITUTE" not in E.METHODS["ssim_gt"] and "Not a paper metric" in E.METHODS["ssim_gt"]
    assert clean["ssim_gt"] == pytest.approx(1.0)
    still = np.repeat(gt.clip.rgb[:1], gt.num_frames, axis=0)  # the first frame repeated: right only at t = 0
    assert E.ssim_to_ground_truth(still, gt.clip.rgb) < 1.0
    assert E.evaluate_video(np.zeros_like(gt.clip.rgb), gt)["ssim_gt"] < 0.2


def test_no_model_rows_repeat_the_reference_and_swap_clips():
    from byteloom import score

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (4, 5, 8, 8, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    names = ["a", "b", "c", "d"]
    rep = score.no_model_videos("reference_repeated", rgb, ref, names)
    assert all(rep[n].shape == (5, 8, 8, 3) and (rep[n] == ref[i][None]).all() for i, n in enumerate(names))
    other = score.no_model_videos("other_clip", rgb, ref, names)
    source = {n: next(j for j in range(4) if np.array_equal(other[n], rgb[j])) for n in names}
    assert all(source[n] != i for i, n in enumerate(names)) and sorted(source.values()) == [0, 1, 2, 3]
    assert all(np.array_equal(v, rgb[i]) for i, v in enumerate(score.no_model_videos("ground_truth", rgb, ref, names).values()))
    with pytest.raises(ValueError, match="at least 2 benchmark clips"):
        score.no_model_videos("other_clip", rgb[:1], ref[:1], names[:1])
    with pytest.raises(KeyError, match="byteloom"):
        score.no_model_videos("byteloom", rgb, ref, names)


def test_sanity_rows_are_scored_from_the_benchmark_split(tmp_path):
    """On a generated micro test split: the rows `byteloom.score` writes, resized as `load_split` does."""
    import copy

    import cv2
    import yaml

    from byteloom import mani4d, score
    from byteloom.config import config_from_dict
    from byteloom.data import load_clip

    p = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    p["data"].update(root=str(tmp_path / "data"), size=[32, 32], frames=3, cache_views=2,
                     clips={"stage1": 1, "stage2": 1, "stage3": 1, "test": 3, "objmv": 1})
    p["curriculum"].update(size=[16, 16], seeds=[0, 1])
    p["evaluation"].update(clips=3, cache_sizes=[1])
    p["validation"].update(clips=min(p["validation"]["clips"], 3))
    cfg = config_from_dict(p, "micro")
    mani4d.generate_split(cfg.data, "test", seed=cfg.seed, progress=False)
    assert score.variants(cfg)[-3:] == ["ground_truth", "reference_repeated", "other_clip"]
    clips = {f.name: load_clip(f) for f in sorted((tmp_path / "data" / "test").iterdir())}
    truth = score.generate(cfg, "ground_truth", cfg.seed)
    rep = score.generate(cfg, "reference_repeated", cfg.seed)
    other = score.generate(cfg, "other_clip", cfg.seed)
    assert list(rep) == list(other) == list(truth) == sorted(clips)
    for cid, clip in clips.items():
        small_ref = cv2.resize(clip.reference, (16, 16), interpolation=cv2.INTER_AREA)
        assert rep[cid].shape == (3, 16, 16, 3) and all(np.array_equal(f, small_ref) for f in rep[cid])
        assert any(np.array_equal(other[cid], truth[c]) for c in truth if c != cid)
        assert not np.array_equal(other[cid], truth[cid])
    out = score.score_variant(cfg, "other_clip", samples_dir=tmp_path / "samples", progress=False)
    assert out["seeds"] == [] and list(out["per_clip"]) == [f"seed{cfg.seed}"] and out["label"].startswith("Sanity")
    assert out["metrics"]["ssim_gt"]["mean"] < 0.9 and (tmp_path / "samples" / "other_clip" / f"seed{cfg.seed}.npz").is_file()
    # the evaluation scores every seed at once on the CPU, one thread each: the same scores as alone
    from byteloom import curriculum as C
    from byteloom.evaluate import _EMBED_CACHE

    bench = score.benchmark_clips(cfg)
    alone = E.evaluate_many(other, bench)
    _EMBED_CACHE.clear()  # so that the threads compute their features at the same time
    together, _ = C.per_seed(cfg, lambda s: E.evaluate_many(other, bench), [0, 1, 2])
    as_text = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731 (NaN == NaN as text: a metric without a face)
    assert all(as_text(r) == as_text(alone) for r in together.values())
