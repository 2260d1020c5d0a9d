"""Mot-Smth: VBench's motion smoothness, with an optical-flow SUBSTITUTE for the AMT network.

ByteLoom reports VBench's motion smoothness (paper section 4.1, main table; higher is better).
VBench (Vchitect/VBench, `vbench/motion_smoothness.py`) reads the video as RGB uint8 frames,
keeps the even frames 0, 2, 4, ..., interpolates the midpoint between every consecutive pair of
them with the AMT-S frame-interpolation network (time 1/2, one pass), and compares each
interpolated frame with the real odd frame 1, 3, 5, ... it stands for:

    d_k = mean over pixels and channels of |interp_k - frame_{2k+1}|   (cv2.absdiff, uint8)
    score = (255 - mean_k d_k) / 255

A real odd frame with no even frame after it (the last frame of an even-length video) is not
scored. `motion_smoothness` follows these steps exactly; only the interpolator differs.

SUBSTITUTE INTERPOLATOR. AMT-S weights cannot be had offline, so `flow_interpolate` stands in:
Farneback optical flow (`cv2.calcOpticalFlowFarneback` on grey frames) in both directions,
F01 from frame 2k to 2k+2 and F10 back; the flows from the midpoint to either end are
approximated as in Super SloMo (Jiang et al. 2018) at t = 1/2,

    F_{t->0} = (F10 - F01) / 4,   F_{t->1} = (F01 - F10) / 4,

both frames are backward-warped to the midpoint with `cv2.remap` (bilinear, border replicated)
and averaged. Only this interpolator is swapped; pass any `interpolate(frame_a, frame_b) ->
midpoint` to use another one. Classical flow is weaker than AMT on occlusions and large motion,
so absolute values are lower than VBench's for the same video; compare them only with each other.

Other deviations: the midpoint is rounded to uint8 (AMT's output is truncated by `astype`, a
-0.5 grey-level bias); VBench may downscale frames for the network when GPU memory is short (on
CPU it does not); here frames are always used at full size.
"""
from __future__ import annotations

import cv2
import numpy as np

from ._checks import as_video

__all__ = ["flow_interpolate", "motion_smoothness", "FARNEBACK"]

#: Farneback parameters (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags).
FARNEBACK = dict(pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _flow(a_grey: np.ndarray, b_grey: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(a_grey, b_grey, None, **FARNEBACK)


def flow_interpolate(frame_a, frame_b) -> np.ndarray:
    """SUBSTITUTE for AMT-S: the midpoint of two (H, W, 3) uint8 frames by bidirectional flow.

    See the module docs for the flow approximation. Returns an (H, W, 3) uint8 frame.
    """
    a, b = np.asarray(frame_a), np.asarray(frame_b)
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8 or a.ndim != 3:
        raise ValueError(f"frames must be two (H, W, 3) uint8 arrays of one size, got {a.shape} {a.dtype} "
                         f"and {b.shape} {b.dtype}")
    ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    f01, f10 = _flow(ga, gb), _flow(gb, ga)
    h, w = ga.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    ft0, ft1 = (f10 - f01) / 4.0, (f01 - f10) / 4.0

    def warp(img, f):
        return cv2.remap(img, gx + f[..., 0], gy + f[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)

    mid = 0.5 * (warp(a, ft0) + warp(b, ft1))
    return np.clip(np.round(mid), 0, 255).astype(np.uint8)


def motion_smoothness(frames, interpolate=None) -> float:
    """Mot-Smth of one video (VBench `motion_smoothness.py`; higher is better, at most 1).

    frames: (T, H, W, 3) uint8 RGB with T >= 3 (VBench needs two even frames).
    interpolate: (frame_a, frame_b) -> midpoint (H, W, 3) uint8; default `flow_interpolate`,
        a weight-free SUBSTITUTE for AMT-S (module docs).
    """
    v = as_video(frames, "frames", min_frames=3)
    interpolate = interpolate or flow_interpolate
    even, odd = v[0::2], v[1::2]
    diffs = []
    for k in range(len(even) - 1):
        mid = np.asarray(interpolate(even[k], even[k + 1]))
        if mid.shape != odd[k].shape or mid.dtype != np.uint8:
            raise ValueError(f"interpolate must return a {odd[k].shape} uint8 frame, got {mid.shape} {mid.dtype}")
        diffs.append(float(cv2.absdiff(mid, odd[k]).mean()))
    return float((255.0 - np.mean(diffs)) / 255.0)
