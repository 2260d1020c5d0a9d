"""Evaluation metrics of the ByteLoom paper (arXiv 2512.22854, section 4.1 main table).

Pure functions: numpy arrays in, floats (or small arrays) out. Each module's docstring cites the
peer implementation it follows and lists every deviation.

* Obj-IoU ........ `obj_iou`, `mask_iou` (AnchorCrafter `evalution/obj_iou.py`)
* LMD ............ `hand_lmd` (AnchorCrafter `evalution/hand_lmd.py`; hand Landmark Mean Distance)
* Subj-/Back-Cons  `subject_consistency`, `background_consistency`, `temporal_consistency` (VBench)
* Mot-Smth ....... `motion_smoothness` (VBench; optical-flow SUBSTITUTE for AMT-S)
* T-SSIM (last step) `temporal_ssim`, `masked_ssim` (paper section 3.4)

No learned weights are used: `pixel_embed` (for CLIP/DINO) and `flow_interpolate` (for AMT) are
clearly labelled SUBSTITUTES, and the functions take the feature extractor / interpolator as an
argument so a better substitute can be plugged in.
"""
from .consistency import (
    background_consistency,
    clip_pixel_embed,
    consistency_per_frame,
    dino_pixel_embed,
    mask_out_humans,
    pixel_embed,
    subject_consistency,
    temporal_consistency,
)
from .hands import hand_lmd, hand_lmd_per_frame
from .masks import mask_iou, obj_iou, resize_masks
from .smoothness import flow_interpolate, motion_smoothness
from .ssim import TemporalSSIM, mask_bbox, masked_ssim, temporal_ssim

__all__ = [
    "mask_iou", "obj_iou", "resize_masks",
    "hand_lmd", "hand_lmd_per_frame",
    "temporal_consistency", "consistency_per_frame", "pixel_embed", "clip_pixel_embed",
    "dino_pixel_embed", "mask_out_humans", "background_consistency", "subject_consistency",
    "flow_interpolate", "motion_smoothness",
    "mask_bbox", "masked_ssim", "temporal_ssim", "TemporalSSIM",
]

# T-SSIM, the whole pipeline (paper section 3.4): segment -> reconstruct -> aggregate -> reproject -> SSIM
from .tssim import (  # noqa: E402
    Reconstructor, Reprojection, Segmenter, condition_masks, rcm_reconstructor, rcm_reprojection, t_ssim,
)

__all__ += ["t_ssim", "rcm_reprojection", "rcm_reconstructor", "condition_masks", "Segmenter", "Reconstructor",
            "Reprojection"]
