"""T-SSIM's last step: SSIM between each frame's object crop and its 3D reprojection.

ByteLoom's T-SSIM (paper section 3.4; higher is better) measures how geometry-consistent the
generated object is over time: segment the object in every frame (SAM2 in the paper), reconstruct
it in 3D from the frames (a foundation model such as VGGT), aggregate one point cloud, reproject it
into every frame, and report the temporal mean of the SSIM between each frame's object crop and
its reprojection. No reference code is public (MEt3R, mohammadasim98/met3r, is the nearest
relative). This module implements only the last step, for any reprojection source:
`temporal_ssim(frames, reprojections, masks)`; segmentation and reconstruction come later.

Choices (the paper does not state them):

* SSIM is `skimage.metrics.structural_similarity` with its defaults (7x7 uniform window,
  K1 = 0.01, K2 = 0.03), per colour channel and averaged, `data_range` 255 for uint8.
* "Object crop" = the mask's bounding box, grown to at least the 7-pixel window (centred, kept
  inside the image). SSIM is computed on the crops, so the window sees nothing outside the box.
* `region="bbox"` (default) returns skimage's mean SSIM of the crop (the map without its
  (win-1)/2 border). `region="mask"` averages the full SSIM map over the mask's pixels only.
* `fill_outside`: when set, pixels outside the mask are painted with this value in both images
  before cropping, i.e. the crops are segmented objects on a plain background, as a reconstruction
  from segmented frames would reproject them. `temporal_ssim` does this with 0 by default; the
  painted pixels agree trivially, so with `region="bbox"` non-rectangular objects score a bit
  higher than their pixels alone would; `region="mask"` scores object pixels only.
* Frames whose mask is empty have no object crop: `temporal_ssim` skips them and reports how many
  (`n_skipped`); `masked_ssim` raises on an empty mask.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from skimage.metrics import structural_similarity

from ._checks import as_mask_stack, as_video, same_length

__all__ = ["mask_bbox", "masked_ssim", "temporal_ssim", "TemporalSSIM"]


def mask_bbox(mask, min_size: int = 1) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), exclusive ends, of a non-empty (H, W) bool mask.

    The box is grown (centred, clamped to the image) to at least `min_size` on each side.
    """
    m = np.asarray(mask)
    if m.dtype != bool or m.ndim != 2:
        raise ValueError(f"mask must be an (H, W) bool array, got {m.shape} {m.dtype}")
    if not m.any():
        raise ValueError("mask is empty: there is no object to crop")
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    box = []
    for lo, hi, n in ((rows[0], rows[-1] + 1, m.shape[0]), (cols[0], cols[-1] + 1, m.shape[1])):
        grow = max(0, min(min_size, n) - (hi - lo))
        lo = min(max(0, lo - grow // 2), n - max(hi - lo, min(min_size, n)))
        hi = lo + max(hi - lo, min(min_size, n))
        box += [int(lo), int(hi)]
    return tuple(box)


def _check_pair(a, b, data_range):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"a and b must match in shape and dtype, got {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (1, 3)):
        raise ValueError(f"images must be (H, W) or (H, W, 1|3), got {a.shape}")
    if data_range is None:
        if a.dtype != np.uint8:
            raise ValueError(f"data_range is required for dtype {a.dtype} (it defaults to 255 for uint8 only)")
        data_range = 255.0
    return a, b, float(data_range)


def masked_ssim(a, b, mask, region: str = "bbox", fill_outside=None, data_range=None,
                win_size: int = 7) -> float:
    """SSIM of images `a` and `b` over the object given by `mask` (module docs for the choices).

    a, b: (H, W) or (H, W, 3) images of one shape and dtype (uint8, or float with data_range).
    mask: (H, W) bool, non-empty. region: "bbox" (mean SSIM of the bounding-box crop) or
    "mask" (SSIM map averaged over the mask pixels). fill_outside: None, or a value painted over
    pixels outside the mask in both images before the crop.
    """
    if region not in ("bbox", "mask"):
        raise ValueError(f"region must be 'bbox' or 'mask', got {region!r}")
    a, b, data_range = _check_pair(a, b, data_range)
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != a.shape[:2]:
        raise ValueError(f"mask must be a bool array of shape {a.shape[:2]}, got {m.shape} {m.dtype}")
    if min(a.shape[:2]) < win_size:
        raise ValueError(f"images {a.shape[:2]} are smaller than the SSIM window ({win_size})")
    if fill_outside is not None:
        outside = ~m
        a, b = a.copy(), b.copy()
        a[outside], b[outside] = fill_outside, fill_outside
    t, btm, l, r = mask_bbox(m, min_size=win_size)
    ca, cb, cm = a[t:btm, l:r], b[t:btm, l:r], m[t:btm, l:r]
    channel_axis = -1 if ca.ndim == 3 else None
    mssim, smap = structural_similarity(ca, cb, win_size=win_size, data_range=data_range,
                                        channel_axis=channel_axis, full=True)
    if region == "bbox":
        return float(mssim)
    if smap.ndim == 3:
        smap = smap.mean(axis=-1)
    return float(smap[cm].mean())


class TemporalSSIM(NamedTuple):
    """`value`: mean SSIM over the scored frames (NaN if none); `per_frame`: (T,) with NaN where
    skipped; `n_skipped`: frames skipped for an empty mask."""

    value: float
    per_frame: np.ndarray
    n_skipped: int


def temporal_ssim(frames, reprojections, masks, region: str = "bbox", fill_outside=0) -> TemporalSSIM:
    """Temporal mean SSIM between each frame's object crop and its reprojection (T-SSIM's last step).

    frames, reprojections: (T, H, W, 3) uint8. masks: (T, H, W) bool object masks of the frames.
    Frames with an empty mask are skipped and counted. See `masked_ssim` and the module docs.
    """
    v = as_video(frames, "frames")
    rp = as_video(reprojections, "reprojections")
    m = as_mask_stack(masks, "masks")
    same_length(v, rp, "frames", "reprojections")
    same_length(v, m, "frames", "masks")
    if rp.shape != v.shape or m.shape != v.shape[:3]:
        raise ValueError(f"frames {v.shape}, reprojections {rp.shape} and masks {m.shape} must agree in size")
    per_frame = np.full(len(v), np.nan)
    for t in range(len(v)):
        if m[t].any():
            per_frame[t] = masked_ssim(v[t], rp[t], m[t], region=region, fill_outside=fill_outside)
    scored = per_frame[np.isfinite(per_frame)]
    value = float(scored.mean()) if scored.size else float("nan")
    return TemporalSSIM(value, per_frame, int(len(v) - scored.size))
