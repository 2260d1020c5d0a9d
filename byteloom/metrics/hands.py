"""LMD: hand Landmark Mean Distance between the generated and the ground-truth video.

ByteLoom's "LMD" column (paper section 4.1, main table; lower is better) is the hand Landmark
Mean Distance of the peer AnchorCrafter (cangcz/AnchorCrafter, `evalution/hand_lmd.py`), not a
"local motion distortion". There, OpenPose (the pytorch-openpose body + hand models,
`preprocess/dwpose_hand.py`) gives for every frame an array of hands, each 21 keypoints (x, y) in
pixels, with an undetected keypoint stored as (0, 0). Per frame:

1. if either side has no hand or more than two hands: when the generated side has hands, the
   ground truth is replaced by zeros shaped like it; otherwise the generated side is replaced by
   zeros shaped like the ground truth; a frame with no hand on either side is skipped;
2. per-keypoint Euclidean distance, generated vs ground truth (numpy broadcasting, so one hand
   against two compares the single hand with both);
3. distances >= 100 px are dropped (this also removes most missing-hand and missing-keypoint
   pairs, which are far from the image origin); a frame with nothing left is skipped;
4. the frame's value is the mean of the remaining distances.
The result is the mean over all frames (of all videos: frames are pooled, not videos).
`hand_lmd_per_frame` and `hand_lmd` follow these steps exactly for one video.

Deviations from `hand_lmd.py`:

* Both inputs must be in the same pixel frame. `hand_lmd.py` first rescales the ground truth from
  1920x1080 to 1024x576 (x * 1024/1920, y * 576/1080); callers do any such rescale themselves.
* NaN keypoints are accepted and dropped (a NaN distance is never < max_px, so `hand_lmd.py`
  would drop them too); `max_px=None` disables the cutoff and still drops NaNs.
* Optional normalisation (the `normalize` argument, applied after the pixel cutoff), because
  ByteLoom's values (0.1427 to 0.3260) are not pixels. Default: divide by the image diagonal
  sqrt(H^2 + W^2): it is isotropic (a distance means the same in every direction, unlike per-axis
  x/W, y/H) and bounded by 1 for points inside the frame, and it does not change with the aspect
  ratio the way "max side" does. "max_side" and "per_axis" (x/W, y/H: the DWPose convention of
  coordinates in [0, 1]) are available.

Which scale ByteLoom used is not published. Note that with the 100 px cutoff the diagonal
normalised value can never exceed 100 / diagonal (0.085 at 576x1024), so ByteLoom's 0.14-0.33
cannot come from that recipe. They are consistent with distances measured in [0, 1] coordinates
(e.g. DWPose's normalised output) where a "< 100" cutoff never fires, so missing-hand frames
(distance ~ |coordinate|, about 0.5-1) stay in the mean: `normalize="per_axis", max_px=None`
reproduces that reading. State which setting a reported number used.
"""
from __future__ import annotations

import numpy as np

__all__ = ["hand_lmd", "hand_lmd_per_frame", "N_HAND_KEYPOINTS"]

N_HAND_KEYPOINTS = 21
_NORMALIZE = ("diagonal", "max_side", "per_axis")


def _frames(kpts, name: str) -> list[np.ndarray]:
    """Per-frame (n_hands, 21, 2) float arrays from a (T, n, 21, 2) array or a list of (n, 21, 2)."""
    if isinstance(kpts, np.ndarray) and kpts.dtype != object:
        if kpts.ndim != 4:
            raise ValueError(f"{name} as an array must have shape (T, n_hands, 21, 2), got {kpts.shape}")
        kpts = list(kpts)
    out = []
    for t, k in enumerate(kpts):
        a = np.asarray(k, dtype=np.float64)
        if a.size == 0:
            a = np.zeros((0, N_HAND_KEYPOINTS, 2))
        if a.ndim != 3 or a.shape[1:] != (N_HAND_KEYPOINTS, 2):
            raise ValueError(f"{name}[{t}] must have shape (n_hands, 21, 2), got {a.shape}")
        out.append(a)
    return out


def _fill_missing(pred: np.ndarray, gt: np.ndarray):
    """AnchorCrafter's missing-hand rule (module docs, step 1); None when neither side has a hand."""
    n_pred, n_gt = len(pred), len(gt)
    if n_pred == 0 or n_gt == 0 or n_pred > 2 or n_gt > 2:
        if n_pred != 0:
            return pred, np.zeros_like(pred)
        if n_gt != 0:
            return np.zeros_like(gt), gt
        return None
    return pred, gt


def _scale(image_size, normalize):
    """(sx, sy, s): per-axis divisors applied to dx, dy, and a divisor applied to the distance."""
    if normalize is None and image_size is None:
        return 1.0, 1.0, 1.0
    if image_size is None:
        raise ValueError(f"normalize={normalize!r} needs image_size=(H, W)")
    h, w = (float(v) for v in image_size)
    if not (h > 0 and w > 0):
        raise ValueError(f"image_size must be a positive (H, W), got {tuple(image_size)}")
    normalize = "diagonal" if normalize is None else normalize
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE} or None, got {normalize!r}")
    if normalize == "per_axis":
        return w, h, 1.0
    return 1.0, 1.0, (np.hypot(h, w) if normalize == "diagonal" else max(h, w))


def hand_lmd_per_frame(pred_kpts, gt_kpts, image_size=None, max_px: float | None = 100.0,
                       normalize: str | None = None) -> np.ndarray:
    """Per-frame LMD (T,), NaN where a frame is skipped; see `hand_lmd` for the arguments."""
    pred, gt = _frames(pred_kpts, "pred_kpts"), _frames(gt_kpts, "gt_kpts")
    if len(pred) != len(gt):
        raise ValueError(f"pred_kpts and gt_kpts differ in length: {len(pred)} vs {len(gt)} frames")
    if len(pred) == 0:
        raise ValueError("pred_kpts and gt_kpts hold no frames")
    if max_px is not None and not max_px > 0:
        raise ValueError(f"max_px must be positive or None, got {max_px}")
    sx, sy, s = _scale(image_size, normalize)
    out = np.full(len(pred), np.nan)
    for t, (p, g) in enumerate(zip(pred, gt)):
        pair = _fill_missing(p, g)
        if pair is None:
            continue
        diff = pair[0] - pair[1]  # broadcasts one hand against two, as hand_lmd.py does
        keep = np.isfinite(diff).all(axis=-1)
        if max_px is not None:
            keep &= np.linalg.norm(np.nan_to_num(diff), axis=-1) < max_px
        if keep.any():
            d = diff[keep] / np.array([sx, sy])
            out[t] = np.linalg.norm(d, axis=-1).mean() / s
    return out


def hand_lmd(pred_kpts, gt_kpts, image_size=None, max_px: float | None = 100.0,
             normalize: str | None = None) -> float:
    """Hand Landmark Mean Distance of one video (AnchorCrafter `hand_lmd.py`; lower is better).

    pred_kpts, gt_kpts: per frame the detected hands, each 21 OpenPose keypoints (x, y) in pixels:
        a (T, n_hands, 21, 2) array, or a list of T arrays (n_hands, 21, 2) where n_hands may be
        0 (no hand found) and may differ between frames and between the two inputs.
    image_size: (H, W) in pixels. None (default) returns pixels; given, the value is normalised.
    max_px: pixel distances >= max_px are dropped (100 in AnchorCrafter); None keeps all.
    normalize: "diagonal" (default when image_size is given), "max_side" or "per_axis";
        applied after the pixel cutoff (module docs explain the choice).
    Returns the mean over frames of the per-frame mean distance, skipping frames with no hand on
    either side or no distance below the cutoff; NaN when every frame is skipped. To pool a data
    set like AnchorCrafter does, take `np.nanmean` of the concatenated `hand_lmd_per_frame`.
    """
    per_frame = hand_lmd_per_frame(pred_kpts, gt_kpts, image_size, max_px, normalize)
    kept = per_frame[np.isfinite(per_frame)]
    return float(kept.mean()) if kept.size else float("nan")
