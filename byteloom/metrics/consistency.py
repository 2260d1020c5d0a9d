"""Subj-Cons and Back-Cons: VBench's temporal feature consistency.

ByteLoom reports VBench's subject consistency and background consistency (paper section 4.1,
main table; higher is better). VBench (Vchitect/VBench, `vbench/subject_consistency.py`,
`vbench/background_consistency.py`) embeds every frame (DINO ViT-B/16 for the subject, CLIP
ViT-B/32 for the background), L2-normalises the features and scores one video as

    s_i = 1/2 [max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))],   i = 1 .. T-1,
    score = mean_i s_i.

`temporal_consistency(features)` is exactly that, for any (T, D) features. Preprocessing in VBench:
CLIP frames are resized (shorter side 224, bicubic), centre-cropped to 224x224, scaled to [0, 1]
and normalised with CLIP's channel mean/std; DINO frames are resized (shorter side 224) without a
crop and normalised with ImageNet's mean/std. Neither VBench metric masks anything: the
"background" score embeds the whole frame.

SUBSTITUTE FEATURES. CLIP and DINO weights cannot be had offline here, so the functions take the
feature extractor as an argument `embed(frames) -> (T, D)` and default to `pixel_embed`, a
weight-free stand-in that is NOT CLIP or DINO: the frame resized like VBench's preprocessing (to a
shorter side of `size`, area interpolation, optional centre crop), scaled to [0, 1] and normalised
with the same fixed per-channel mean/std the network would use, then flattened. The constants are
fixed, not per frame, so a brightness or colour change moves the vector and lowers the cosine:
it drops under flicker. Pixels are far more sensitive to small motion than semantic features
are, so absolute values are lower than VBench's and are comparable only with each other. A later
issue may plug in a documented substitute network through `embed`.

Other deviations:

* `background_consistency` optionally removes the human (`human_masks`): the union of the masks
  over all frames (optionally dilated) is painted with the normalisation mean colour in every
  frame, so the hidden region is identical in all frames and a moving person cannot lower the
  score, while the rest of the background is compared as usual. VBench does not mask; pass
  `human_masks=None` for VBench's behaviour.
* A single-frame video scores 1.0 (VBench's background_consistency convention; its
  subject_consistency would divide by zero).
* VBench's data-set value pools pairs over videos (sum of s_i over all videos / number of pairs);
  these functions return one video's mean, so weight by T-1 when pooling.
"""
from __future__ import annotations

from functools import partial

import cv2
import numpy as np

from ._checks import as_mask_stack, as_video

__all__ = [
    "CLIP_MEAN", "CLIP_STD", "IMAGENET_MEAN", "IMAGENET_STD",
    "consistency_per_frame", "temporal_consistency", "pixel_embed", "clip_pixel_embed",
    "dino_pixel_embed", "mask_out_humans", "background_consistency", "subject_consistency",
]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_features(features) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
        raise ValueError(f"features must have shape (T, D) with T, D >= 1, got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or inf")
    return f


def consistency_per_frame(features) -> np.ndarray:
    """VBench's s_i for i = 1 .. T-1 (shape (T-1,)) from (T, D) features.

    Features are L2-normalised first (zero vectors stay zero and have cosine 0 with everything,
    like `torch.nn.functional.normalize` followed by `cosine_similarity`).
    """
    f = _check_features(features)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    prev = np.maximum(0.0, np.einsum("td,td->t", f[:-1], f[1:]))
    first = np.maximum(0.0, f[1:] @ f[0])
    return 0.5 * (prev + first)


def temporal_consistency(features) -> float:
    """VBench's temporal consistency of one video: mean of s_i (module docs); 1.0 when T == 1."""
    s = consistency_per_frame(features)
    return float(s.mean()) if s.size else 1.0


def pixel_embed(frames, size: int = 32, center_crop: bool = True,
                mean=CLIP_MEAN, std=CLIP_STD) -> np.ndarray:
    """SUBSTITUTE for CLIP/DINO features: normalised, downsampled pixels, shape (T, D).

    Each (H, W, 3) uint8 RGB frame is resized so its shorter side is `size` (area interpolation),
    centre-cropped to size x size when `center_crop` (as VBench's CLIP transform does), scaled
    to [0, 1], normalised per channel with the fixed `mean` / `std`, and flattened.
    """
    v = as_video(frames, "frames")
    if int(size) < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    h, w = v.shape[1:3]
    k = size / min(h, w)
    nh, nw = max(size, round(h * k)), max(size, round(w * k))
    m, s = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    feats = []
    for frame in v:
        small = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        if center_crop:
            top, left = (nh - size) // 2, (nw - size) // 2
            small = small[top:top + size, left:left + size]
        feats.append(((small.astype(np.float32) / 255.0 - m) / s).ravel())
    return np.stack(feats)


clip_pixel_embed = partial(pixel_embed, center_crop=True, mean=CLIP_MEAN, std=CLIP_STD)
clip_pixel_embed.__doc__ = "SUBSTITUTE for CLIP ViT-B/32 (Back-Cons): `pixel_embed` with CLIP's crop and constants."
dino_pixel_embed = partial(pixel_embed, center_crop=False, mean=IMAGENET_MEAN, std=IMAGENET_STD)
dino_pixel_embed.__doc__ = "SUBSTITUTE for DINO ViT-B/16 (Subj-Cons): `pixel_embed`, no crop, ImageNet constants."


def _embed(embed, frames, n: int) -> np.ndarray:
    f = np.asarray(embed(frames))
    if f.ndim != 2 or f.shape[0] != n:
        raise ValueError(f"embed must return (T, D) = ({n}, D) features, got shape {f.shape}")
    return f


def mask_out_humans(frames, human_masks, dilate_px: int = 0, fill=CLIP_MEAN) -> np.ndarray:
    """Paint the union over time of `human_masks` (dilated by `dilate_px`) with `fill` in every frame.

    `fill` is an RGB colour in [0, 1]; the default is CLIP's mean, which `clip_pixel_embed`
    maps to zero, so hidden pixels contribute nothing to the cosine.
    """
    v = as_video(frames, "frames")
    m = as_mask_stack(human_masks, "human_masks")
    if m.shape != v.shape[:3]:
        raise ValueError(f"human_masks shape {m.shape} does not match frames {v.shape[:3]}")
    union = m.any(axis=0)
    if dilate_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        union = cv2.dilate(union.view(np.uint8), kernel).astype(bool)
    out = v.copy()
    out[:, union] = np.round(np.asarray(fill, dtype=np.float64) * 255).astype(np.uint8)
    return out


def background_consistency(frames, human_masks=None, embed=None, dilate_px: int = 0) -> float:
    """Back-Cons of one video (VBench `background_consistency.py`; higher is better).

    frames: (T, H, W, 3) uint8 RGB. human_masks: (T, H, W) bool or None (None = VBench: whole
    frame). embed: frames -> (T, D) features; default `clip_pixel_embed`, a weight-free
    SUBSTITUTE for CLIP ViT-B/32 (module docs). Masking paints the union of the human masks
    (see `mask_out_humans`) with CLIP's mean colour before embedding.
    """
    v = as_video(frames, "frames")
    if human_masks is not None:
        v = mask_out_humans(v, human_masks, dilate_px)
    return temporal_consistency(_embed(embed or clip_pixel_embed, v, len(v)))


def subject_consistency(frames, embed=None) -> float:
    """Subj-Cons of one video (VBench `subject_consistency.py`; higher is better).

    frames: (T, H, W, 3) uint8 RGB. embed: frames -> (T, D) features; default `dino_pixel_embed`,
    a weight-free SUBSTITUTE for DINO ViT-B/16 (module docs).
    """
    v = as_video(frames, "frames")
    return temporal_consistency(_embed(embed or dino_pixel_embed, v, len(v)))
