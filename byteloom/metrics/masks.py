"""Obj-IoU: overlap of the object's masks in the generated and the ground-truth video.

ByteLoom reports Obj-IoU (paper section 4.1, main table) with the peer AnchorCrafter's evaluation
code (cangcz/AnchorCrafter, `evalution/obj_iou.py`). There, SAM2 segments the object in both
videos, each mask video is read frame by frame, converted to grey, the generated frame is resized
to the ground-truth size, a pixel counts as "object" when it is non-zero, and one video scores

    IoU_video = sum_t |gt_t AND gen_t| / sum_t |gt_t OR gen_t|

(sums over all frames, so large-mask frames weigh more); the benchmark value is the mean over
videos. `obj_iou(..., mode="video")` is that per-video value.

Deviations from `obj_iou.py`, all deliberate:

* Input is bool masks, not mask videos: segmentation (SAM2 there) is the caller's job.
* Resizing uses nearest neighbour. `obj_iou.py` calls `cv2.resize` with its default bilinear
  interpolation and then tests `!= 0`, which grows the resized mask by up to one pixel along its
  boundary (any blend with an object pixel is non-zero); nearest neighbour keeps the mask binary.
* A length mismatch raises `ValueError`; `obj_iou.py` silently stops at the shorter video.
* A video whose masks are empty in every frame of both inputs returns NaN in video mode;
  `obj_iou.py` leaves such a video out of the mean, which `np.nanmean` over videos reproduces.
* `mode="frame"` (mean of per-frame IoUs) is an addition for diagnostics, not part of the peer's
  metric.
"""
from __future__ import annotations

import cv2
import numpy as np

from ._checks import as_mask_stack, same_length

__all__ = ["mask_iou", "obj_iou", "resize_masks"]


def _check_frame(mask, name: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != bool:
        raise ValueError(f"{name} must be a bool array, got dtype {m.dtype} (threshold it first, e.g. m > 0)")
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"{name} must be a non-empty (H, W) array, got shape {m.shape}")
    return m


def mask_iou(pred, gt) -> float:
    """IoU |pred AND gt| / |pred OR gt| of two (H, W) bool masks of the same size.

    Two empty masks agree perfectly and score 1.0 (the convention of `obj_iou(mode="frame")`).
    """
    p, g = _check_frame(pred, "pred"), _check_frame(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt differ in size: {p.shape} vs {g.shape} (resize_masks first)")
    union = np.count_nonzero(p | g)
    return 1.0 if union == 0 else np.count_nonzero(p & g) / union


def resize_masks(masks, size) -> np.ndarray:
    """Resize a (T, h, w) bool mask stack to `size` = (H, W) with nearest neighbour.

    AnchorCrafter resizes the generated masks to the ground-truth size; it uses bilinear
    interpolation followed by `!= 0`, which dilates the mask by up to a pixel (see module docs).
    """
    m = as_mask_stack(masks, "masks")
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be a positive (H, W), got {tuple(size)}")
    if m.shape[1:] == (h, w):
        return m
    out = [cv2.resize(f.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for f in m]
    return np.stack(out).astype(bool)


def obj_iou(pred_masks, gt_masks, mode: str = "video") -> float:
    """Obj-IoU of one video: generated object masks vs ground-truth object masks.

    pred_masks: (T, h, w) bool (or a list of (h, w) bool), the generated video's object masks;
        resized to the ground-truth size with nearest neighbour when the sizes differ.
    gt_masks: (T, H, W) bool, the ground-truth video's object masks.
    mode: "video" - AnchorCrafter's sum_t |gt AND gen| / sum_t |gt OR gen|; NaN when both videos
            have no object pixel at all (AnchorCrafter drops such videos from its mean).
          "frame" - mean over frames of the per-frame IoU; a frame where both masks are empty
            counts as 1.0 (the object is correctly absent).
    For the benchmark value take the mean over videos (`np.nanmean`) of the "video" values.
    """
    if mode not in ("video", "frame"):
        raise ValueError(f"mode must be 'video' or 'frame', got {mode!r}")
    gt = as_mask_stack(gt_masks, "gt_masks")
    pred = as_mask_stack(pred_masks, "pred_masks")
    same_length(pred, gt, "pred_masks", "gt_masks")
    pred = resize_masks(pred, gt.shape[1:])
    inter = np.count_nonzero(pred & gt, axis=(1, 2))
    union = np.count_nonzero(pred | gt, axis=(1, 2))
    if mode == "video":
        total = union.sum()
        return float("nan") if total == 0 else float(inter.sum() / total)
    per_frame = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return float(per_frame.mean())
