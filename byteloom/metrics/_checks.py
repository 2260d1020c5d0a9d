"""Input validation shared by the metric modules (private).

Every metric takes plain numpy arrays; these helpers turn wrong shapes, dtypes and lengths into
`ValueError`s that name the offending argument instead of failing deep inside numpy or OpenCV.
"""
from __future__ import annotations

import numpy as np


def as_mask_stack(masks, name: str) -> np.ndarray:
    """A (T, H, W) bool array; a list of equally sized (H, W) bool arrays is stacked."""
    if isinstance(masks, (list, tuple)):
        if len(masks) == 0:
            raise ValueError(f"{name}: no frames given")
        frames = [np.asarray(m) for m in masks]
        if any(f.shape != frames[0].shape for f in frames):
            raise ValueError(f"{name}: frames differ in size: {sorted({f.shape for f in frames})}")
        masks = np.stack(frames)
    m = np.asarray(masks)
    if m.dtype != bool:
        raise ValueError(f"{name} must be a bool array, got dtype {m.dtype} (threshold it first, e.g. m > 0)")
    if m.ndim != 3:
        raise ValueError(f"{name} must have shape (T, H, W), got {m.shape}")
    if m.shape[0] == 0 or m.shape[1] == 0 or m.shape[2] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {m.shape}")
    return m


def as_video(frames, name: str, min_frames: int = 1) -> np.ndarray:
    """A (T, H, W, 3) uint8 RGB video with at least `min_frames` frames."""
    v = np.asarray(frames)
    if v.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0..255), got dtype {v.dtype}")
    if v.ndim != 4 or v.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (T, H, W, 3), got {v.shape}")
    if v.shape[1] == 0 or v.shape[2] == 0:
        raise ValueError(f"{name} has empty frames: shape {v.shape}")
    if v.shape[0] < min_frames:
        raise ValueError(f"{name} needs at least {min_frames} frame(s), got {v.shape[0]}")
    return v


def same_length(a, b, name_a: str, name_b: str) -> None:
    """Raise unless two sequences have the same number of frames."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} differ in length: {len(a)} vs {len(b)} frames")
