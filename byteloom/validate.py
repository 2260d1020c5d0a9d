"""Metric validation against controlled corruptions (paper section 4.1; lesson notebooks/05_metrics.ipynb).

Take ground-truth clips of the benchmark split, bring them to the evaluation size (the "perfect
generated video"), damage them with the seven corruptions of `byteloom.corrupt` at growing
strength, and score every result with `byteloom.evaluate.evaluate_video` - the code the tables
report. Each metric should

* get worse, monotonically in strength, under the corruptions it targets ("worse"), and
* stay near its clean value under the corruptions it should ignore ("same");
"any" cells make no claim (the corruption legitimately changes what the metric looks at).

`EXPECT` declares the matrix from what each metric is meant to measure (the paper's and the
peers' definitions), before looking at the numbers; `check_expectations` reports every cell as
it comes out. Changes are measured in units of the metric's *noise gap*: |clean - score of a
uniform-noise video|, averaged over clips, so one tolerance fits metrics of different ranges.

How each corruption is applied here (all at the evaluation size, on the resized ground truth):
texture drift, shape distortion and wrong rotation act on the object (the clip's exact object
mask; wrong rotation re-renders the mesh at the scaled intrinsics, keeping the hand in front where
it covers the object, and its strength 0 is the object re-rendered at its true pose, so that its
curve measures the rotation and not the re-rendering); mask shift replaces the
segmenter's output for the generated video by the ground truth's masks shifted; identity swap
blends, inside the head box of each frame's body keypoints and the human mask, another test
identity's reference head; background flicker changes everything outside the human and object
masks; frame jitter shakes whole frames. Pixel-sized parameters (`max_px` of mask shift and
frame jitter) are scaled from the clip's size to the evaluation size.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from . import corrupt
from .evaluate import (HIGHER_IS_BETTER, METRICS, GroundTruth, _obj_clip, _segment, _t_ssim, embed_crops,
                       evaluate_video, object_crop, prepare_ground_truth)
from .metrics.identity import crop, head_box

__all__ = ["CORRUPTIONS", "RERENDERED", "EXPECT", "RATIONALE", "corrupt_clip", "noise_gap", "run_sweep", "curves",
           "check_expectations", "summarize", "textured_mesh", "other_identity", "tssim_rotation_curves",
           "substitute_causes"]

CORRUPTIONS = ("texture_drift", "wrong_rotation", "shape_distortion", "mask_shift", "identity_swap",
               "background_flicker", "frame_jitter")
RERENDERED = ("wrong_rotation",)  # strength 0 is a re-render of the clean clip, not the clip itself


def _row(worse=(), same=()):
    return {m: "worse" if m in worse else "same" if m in same else "any" for m in METRICS}


# corruption -> metric -> "worse" | "same" | "any"; declared from the metric definitions, not tuned
EXPECT = {
    "texture_drift": _row(worse=("obj_clip", "subj_cons", "t_ssim"), same=("obj_iou", "face_cos", "lmd", "back_cons")),
    "wrong_rotation": _row(worse=("obj_iou", "t_ssim"), same=("face_cos", "back_cons", "mot_smth")),
    "shape_distortion": _row(worse=("obj_iou", "t_ssim"), same=("face_cos", "back_cons")),
    "mask_shift": _row(worse=("obj_iou",), same=("face_cos", "lmd", "subj_cons", "back_cons", "mot_smth")),
    "identity_swap": _row(worse=("face_cos",), same=("obj_iou", "obj_clip", "lmd", "back_cons", "mot_smth", "t_ssim")),
    "background_flicker": _row(worse=("back_cons",), same=("obj_iou", "obj_clip", "face_cos", "lmd", "t_ssim")),
    "frame_jitter": _row(worse=("lmd", "subj_cons", "back_cons", "mot_smth")),
}

RATIONALE = {
    "texture_drift": "object appearance changes over time: object appearance (Obj-CLIP), appearance consistency "
                     "(Subj-Cons) and 3D colour consistency (T-SSIM) must drop; the silhouette, face, hands and "
                     "background are untouched",
    "wrong_rotation": "the object is drawn at a wrong pose: its silhouette (Obj-IoU) and its consistency with the "
                      "conditioned geometry (T-SSIM) must drop; the person, the background and the smoothness of "
                      "a constant offset are untouched (the crop's look and the hand region may change)",
    "shape_distortion": "the object warps non-rigidly: silhouette (Obj-IoU) and geometry consistency (T-SSIM) "
                        "must drop; face and background are untouched",
    "mask_shift": "only the generated video's predicted masks are off: Obj-IoU must drop; metrics that do not "
                  "use the segmenter must not move (Obj-CLIP crops with these masks and T-SSIM scores the "
                  "segmented object, as the paper's SAM2 step, so they may)",
    "identity_swap": "another identity shows through the head: Face-Cos must drop; object, hands, background, "
                     "smoothness and object geometry are untouched",
    "background_flicker": "background brightness/contrast flickers: Back-Cons must drop; object, face, hands "
                          "and object geometry must ignore it (Subj-Cons and Mot-Smth see whole frames)",
    "frame_jitter": "whole frames shake: hand positions (LMD), temporal consistency (Subj-/Back-Cons) and "
                    "smoothness (Mot-Smth) must get worse; object metrics may move with the object",
}


# ---------------------------------------------------------------------------------- corruptions


def _px_scale(gt: GroundTruth) -> float:
    """Evaluation size / clip size (pixel parameters of the corruptions are set for the clip's size)."""
    return gt.size[1] / gt.native_size[1]


def _paste_heads(gt: GroundTruth, other: GroundTruth | None) -> tuple[np.ndarray, np.ndarray]:
    """(region (T, h, w) bool, other (T, h, w, 3) uint8) for identity_swap: the other identity's
    reference head crop resized into each frame's head box; the region is the box AND the human.
    Without another clip, the clip's own reference head in negative stands in."""
    c = gt.clip
    src = other.clip if other is not None else c
    src_img = src.reference if other is not None else 255 - c.reference
    src_box = head_box(src.body[0])
    T, h, w = c.rgb.shape[:3]
    region, canvas = np.zeros((T, h, w), bool), np.zeros_like(c.rgb)
    for t in range(T):
        box = head_box(c.body[t])
        if box is None or src_box is None:
            continue
        x0, y0, x1, y1 = box
        patch = cv2.resize(crop(src_img, src_box, size=max(x1 - x0, y1 - y0)), (x1 - x0, y1 - y0),
                           interpolation=cv2.INTER_AREA)
        ys, xs = slice(max(y0, 0), min(y1, h)), slice(max(x0, 0), min(x1, w))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        canvas[t, ys, xs] = patch[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        region[t, ys, xs] = True
    human = c.extra.get("mask_human")
    return (region & human if human is not None else region), canvas


def textured_mesh(gt: GroundTruth):
    """The clip's object mesh with its texture, for re-rendering (wrong_rotation).

    A clip's object.ply keeps the UVs but not the texture image (trimesh's PLY export; it comes
    back as a 2x2 placeholder that renders grey), so a Mani4D-mini object is reloaded from
    `byteloom.assets` by name at the clip mesh's size; its box must match the clip's.
    """
    from . import assets

    mesh = gt.clip.mesh
    image = getattr(getattr(mesh.visual, "material", None), "image", None)
    if image is not None and min(image.size) > 2:
        return mesh
    name = gt.clip.meta.get("object")
    if name not in assets.ASSETS:
        raise ValueError(f"{gt.clip_id}: the object mesh has no texture and {name!r} is not a byteloom asset")
    asset = assets.load_object(name, extent=float(mesh.extents.max()))
    if not np.allclose(asset.bounds, mesh.bounds, atol=1e-4):
        raise ValueError(f"{gt.clip_id}: asset {name!r} box {asset.bounds.tolist()} differs from the clip's "
                         f"{mesh.bounds.tolist()}")
    return asset


def corrupt_clip(name: str, gt: GroundTruth, strength: float, seed: int = 0, other: GroundTruth | None = None,
                 varying: bool = False):
    """(video, segmenter or None): the ground truth at its evaluation size, damaged by corruption `name`.

    The segmenter is None except for mask_shift, whose damage is to the predicted masks.
    wrong_rotation keeps the occluders (human pixels inside the object's true silhouette, i.e. the
    hand in front of it) and re-renders at strength 0 too (`RERENDERED`). `varying`
    (wrong_rotation only): a rotation error whose axis changes in every frame.
    """
    c, v = gt.clip, gt.clip.rgb
    obj, human = c.extra["mask_object"], c.extra["mask_human"]
    k = _px_scale(gt)
    if name == "texture_drift":
        return corrupt.texture_drift(v, obj, strength, seed), None
    if name == "wrong_rotation":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        if not np.allclose(c.K, c.K[0]):
            raise ValueError(f"{gt.clip_id}: wrong_rotation needs one intrinsics matrix for all frames")
        return corrupt.wrong_rotation(v, obj, textured_mesh(gt), c.poses, c.K[0], strength, seed, varying=varying,
                                      occluders=human & c.rcm.any(-1), rerender=True), None
    if name == "shape_distortion":
        return corrupt.shape_distortion(v, obj, strength, seed), None
    if name == "mask_shift":
        shifted = corrupt.mask_shift(gt.masks, strength, seed, max_px=8.0 * k)
        return v.copy(), (lambda frames, clip: shifted)
    if name == "identity_swap":
        region, canvas = _paste_heads(gt, other)
        return corrupt.identity_swap(v, region, canvas, strength), None
    if name == "background_flicker":
        return corrupt.background_flicker(v, obj | human, strength, seed), None
    if name == "frame_jitter":
        return corrupt.frame_jitter(v, strength, seed, max_px=6.0 * k), None
    raise ValueError(f"unknown corruption {name!r}; choose one of {CORRUPTIONS}")


# ---------------------------------------------------------------------------------- sweep


def noise_gap(gts: dict[str, GroundTruth], seed: int = 0) -> dict[str, float]:
    """Per metric, mean over clips of |clean - uniform-noise video|: the unit of the checks."""
    gaps = {m: [] for m in METRICS}
    for i, gt in enumerate(gts.values()):
        clean = evaluate_video(gt.clip.rgb, gt)
        noise = np.random.default_rng([seed, i]).integers(0, 256, gt.clip.rgb.shape, dtype=np.uint8)
        bad = evaluate_video(noise, gt)
        for m in METRICS:
            gaps[m].append(abs(clean[m] - bad[m]))
    return {m: float(np.nanmean(g)) for m, g in gaps.items()}


def run_sweep(clips: dict, size, strengths, corruptions=CORRUPTIONS, seed: int = 0, progress: bool = False):
    """Score every clip x corruption x strength with `evaluate_video` at `size` = (h, w).

    clips: {id: Clip}; strengths: 0 must come first (the clean score, computed once per clip; for
    the `RERENDERED` corruptions, the clip re-rendered at strength 0).
    Returns (rows, gts): rows are tidy dicts {"clip", "corruption", "strength", <metric>: value},
    gts the prepared ground truths (reuse them for `noise_gap`).
    """
    strengths = [float(s) for s in strengths]
    if not strengths or strengths[0] != 0.0 or sorted(strengths) != strengths:
        raise ValueError(f"strengths must be increasing and start at 0, got {strengths}")
    unknown = sorted(set(corruptions) - set(CORRUPTIONS))
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; choose from {CORRUPTIONS}")
    gts = {k: prepare_ground_truth(c, size, clip_id=k) for k, c in clips.items()}
    ids = list(gts)
    rows = []
    for i, k in enumerate(ids):
        gt = gts[k]
        other = other_identity(gts, k)
        clean = evaluate_video(gt.clip.rgb, gt)
        for name in corruptions:
            if progress:
                print(f"{k} {name}", flush=True)
            for s in strengths:
                if s == 0.0 and name not in RERENDERED:
                    scores = clean
                else:
                    video, seg = corrupt_clip(name, gt, s, seed + i, other)
                    scores = evaluate_video(video, gt, segmenter=seg)
                rows.append({"clip": k, "corruption": name, "strength": s, **scores})
    return rows, gts


def other_identity(gts: dict[str, GroundTruth], k: str) -> GroundTruth | None:
    """The clip after `k` (cyclically) that shows another identity, or None (identity_swap's donor).

    A donor whose reference image shows the head (a head keypoint in frame 0) comes first: with
    the upper-body framing the head can be above the image, and a donor without a head gives
    nothing to paste. Without such a donor, the first other identity."""
    ids = list(gts)
    me = gts[k].clip.meta.get("identity")
    others = [gts[ids[(ids.index(k) + j) % len(ids)]] for j in range(1, len(ids))]
    others = [o for o in others if o.clip.meta.get("identity") != me]
    with_head = [o for o in others if head_box(o.clip.body[0]) is not None]
    return (with_head or others or [None])[0]


# ---------------------------------------------------------------------------------- checks


def curves(rows, corruption: str, metric: str):
    """(strengths, mean over clips, per-clip array (n_clips, n_strengths)) of one metric under one corruption."""
    sel = [r for r in rows if r["corruption"] == corruption]
    strengths = sorted({r["strength"] for r in sel})
    clips = sorted({r["clip"] for r in sel})
    table = np.full((len(clips), len(strengths)), np.nan)
    for r in sel:
        table[clips.index(r["clip"]), strengths.index(r["strength"])] = r[metric]
    with np.errstate(all="ignore"):
        mean = np.array([np.nanmean(col) if np.isfinite(col).any() else np.nan for col in table.T])
    return np.array(strengths), mean, table


def _goodness(values, metric):
    return np.asarray(values, dtype=np.float64) * (1.0 if HIGHER_IS_BETTER[metric] else -1.0)


def check_cell(strengths, mean, per_clip, metric: str, expect: str, unit: float, near: float = 0.05,
               slack: float = 0.01) -> dict:
    """One corruption x metric cell (module docs). `unit`: the metric's noise gap.

    worse: monotonic (no step improves the metric by more than slack * unit) and moved (the
        full-strength value is worse than clean by more than near * unit);
    same: every strength within near * unit of clean;  any: reported, not judged (passed None).
    """
    g = _goodness(mean, metric)
    steps = np.diff(g)
    finite = np.isfinite(g).all()
    monotonic = bool(finite and (steps <= slack * unit).all())
    drop = float(g[0] - g[-1])  # > 0: got worse
    dev = float(np.nanmax(np.abs(mean - mean[0]))) if finite else float("nan")
    slope = float(np.polyfit(strengths, mean, 1)[0]) if finite else float("nan")
    gc = _goodness(per_clip, metric)
    clip_mono = int(np.sum([(np.diff(row) <= slack * unit).all() for row in gc if np.isfinite(row).all()]))
    if expect == "worse":
        passed = bool(monotonic and drop > near * unit)
    elif expect == "same":
        passed = bool(finite and dev <= near * unit)
    else:
        passed = None
    return {"expect": expect, "clean": float(mean[0]), "full": float(mean[-1]), "delta": float(mean[-1] - mean[0]),
            "delta_in_gap": float((mean[-1] - mean[0]) / unit) if unit > 0 else float("nan"),
            "max_abs_delta": dev, "slope": slope, "slope_sign": int(np.sign(slope)) if np.isfinite(slope) else 0,
            "monotonic": monotonic, "clips_monotonic": clip_mono, "n_clips": int(len(gc)), "passed": passed}


def check_expectations(rows, gap: dict[str, float], expect=EXPECT, near: float = 0.05, slack: float = 0.01) -> dict:
    """{corruption: {metric: check_cell(...)}} for every cell of `expect` present in `rows`."""
    present = {r["corruption"] for r in rows}
    out = {}
    for name, cells in expect.items():
        if name not in present:
            continue
        out[name] = {}
        for metric, e in cells.items():
            s, mean, per_clip = curves(rows, name, metric)
            out[name][metric] = check_cell(s, mean, per_clip, metric, e, gap[metric], near, slack)
    return out


def summarize(checks: dict) -> dict:
    """Counts of passed / failed judged cells and the list of failures ("corruption/metric")."""
    judged = [(c, m, v["passed"]) for c, cells in checks.items() for m, v in cells.items() if v["passed"] is not None]
    failed = [f"{c}/{m}" for c, m, p in judged if not p]
    return {"checked": len(judged), "passed": len(judged) - len(failed), "failed": len(failed), "failures": failed}


# ---------------------------------------------------------------------------------- T-SSIM and geometry


def tssim_rotation_curves(clips: dict, size, strengths, seed: int = 0, varying: bool = False) -> np.ndarray:
    """T-SSIM under wrong_rotation, (n_clips, n_strengths), from the re-rendered clip at strength 0.

    `wrong_rotation` re-renders the object (its own light, the hand kept in front), which by itself
    changes T-SSIM; its strength 0 is therefore the object re-rendered at its true pose, so the
    curve isolates the rotation error: does T-SSIM track geometry consistency? `varying`: the
    error's axis changes from frame to frame (`corrupt.wrong_rotation`), a geometry that is
    inconsistent over time, where the default constant error is a wrong but consistent pose.
    Scored as the tables score it (`evaluate.evaluate_video`: the segmenter's masks of the frames),
    without the other metrics.
    """
    out = []
    for i, (k, c) in enumerate(clips.items()):
        gt = prepare_ground_truth(c, size, clip_id=k)
        if not gt.clip.rcm.any():  # the object is out of view in every frame at this size
            out.append([np.nan] * len(strengths))
            continue
        row = []
        for s in strengths:
            video, _ = corrupt_clip("wrong_rotation", gt, float(s), seed + i, varying=varying)
            row.append(_t_ssim(video, gt, _segment(gt.segmenter, video, gt.clip, k)))  # T-SSIM alone
        out.append(row)
    return np.array(out)


def substitute_causes(gts: dict[str, GroundTruth], seed: int = 0) -> dict[str, float]:
    """Measurements behind the checks the substitutes fail (lesson 5 section 7), mean over clips,
    at full strength with the sweep's seeds:

    * drift_mask_kept: share of the clean segmenter mask `ColorSegmenter` keeps under texture drift;
    * object_share_of_frame, drift_subj_cons_change: the object's share of the frame (exact mask)
      and the change of Subj-Cons (whole-frame pixel substitute) under texture drift;
    * flicker_obj_clip_exact_masks / _segmenter, flicker_mask_iou: Obj-CLIP under background
      flicker with the exact object masks and with the segmenter's, and the IoU of the
      segmenter's masks of the flickering video with those of the clean one.
    """
    from .metrics import obj_iou
    from .metrics.consistency import subject_consistency

    out = {k: [] for k in ("drift_mask_kept", "object_share_of_frame", "drift_subj_cons_change",
                           "flicker_obj_clip_exact_masks", "flicker_obj_clip_segmenter", "flicker_mask_iou")}
    for i, (k, g) in enumerate(gts.items()):
        v, obj = g.clip.rgb, g.clip.extra["mask_object"]
        drift, _ = corrupt_clip("texture_drift", g, 1.0, seed + i)
        out["drift_mask_kept"].append((_segment(g.segmenter, drift, g.clip, k) & g.masks).sum() / max(g.masks.sum(), 1))
        out["object_share_of_frame"].append(obj.mean())
        out["drift_subj_cons_change"].append(subject_consistency(drift) - subject_consistency(v))
        flick, _ = corrupt_clip("background_flicker", g, 1.0, seed + i)
        clean = embed_crops([object_crop(x, m) for x, m in zip(v, obj)])
        exact = embed_crops([object_crop(x, m) for x, m in zip(flick, obj)])
        out["flicker_obj_clip_exact_masks"].append(np.mean(np.sum(exact * clean, axis=1)))
        masks = _segment(g.segmenter, flick, g.clip, k)
        out["flicker_obj_clip_segmenter"].append(_obj_clip(flick, masks, g))
        out["flicker_mask_iou"].append(obj_iou(masks, g.masks))
    return {key: float(np.mean(vals)) for key, vals in out.items()}
