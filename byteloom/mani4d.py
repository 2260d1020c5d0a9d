"""Mani4D-mini: small synthetic clips in the structure of the paper's curriculum data (§3.3, Table 1).

This module starts with the paper's optional "object multiview" data (rotating textured objects,
ScannedGoogle in the paper): one object moves along a smooth random 6-DoF trajectory in front of
a fixed camera. Each clip gives the RGB video, the per-frame RCM, the object mask and the object's
RCM-cache: what the model needs to learn to texture an object from its cache by RCM matching.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from . import rcm
from .geometry import intrinsics_from_fov, interpolate_poses


@dataclass
class ObjectClip:
    """Arrays of one object-only clip (T frames, V cache views)."""

    rgb: np.ndarray  # (T, H, W, 3) uint8
    rcm: np.ndarray  # (T, H, W, 3) uint8
    mask: np.ndarray  # (T, H, W) bool
    poses: np.ndarray  # (T, 4, 4) obj_to_cam
    K: np.ndarray  # (3, 3)
    cache: rcm.RcmCache


def random_trajectory(rng: np.random.Generator, frames: int, distance: float, keyframes: int = 3,
                      max_turn_deg: float = 60.0, max_shift: float = 0.03) -> np.ndarray:
    """A smooth 6-DoF trajectory: random keyframe rotations (SLERP) and small shifts around (0, 0, distance)."""
    rot = Rotation.random(random_state=rng.integers(2**31))
    keys = []
    for _ in range(keyframes):
        T = np.eye(4)
        T[:3, :3] = rot.as_matrix()
        T[:3, 3] = [*rng.uniform(-max_shift, max_shift, 2), distance + rng.uniform(-max_shift, max_shift)]
        keys.append(T)
        axis = rng.normal(size=3)
        rot = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(rng.uniform(0.3, 1) * max_turn_deg)) * rot
    return interpolate_poses(np.linspace(0, 1, keyframes), keys, np.linspace(0, 1, frames))


def object_multiview_clip(mesh, frames: int, size, seed: int, cache: rcm.RcmCache | None = None,
                          cache_views: int = 9, fov_deg: float = 40.0) -> ObjectClip:
    """One clip of `mesh` turning in front of the camera, with its RCM video and RCM-cache."""
    rng = np.random.default_rng(seed)
    K = intrinsics_from_fov(size, fov_deg)
    radius = np.linalg.norm(mesh.extents) / 2
    distance = 1.15 * radius / np.tan(np.radians(fov_deg) / 2)
    poses = random_trajectory(rng, frames, distance)
    if cache is None:
        cache = rcm.build_cache(mesh, cache_views, size, fov_deg=fov_deg)
    views = [rcm.render_rcm(mesh, p, K, size) for p in poses]
    rgb = np.stack([rcm.render_rgb(mesh, p, K, size).image for p in poses])
    return ObjectClip(rgb=rgb, rcm=np.stack([v.image for v in views]), mask=np.stack([v.mask for v in views]),
                      poses=poses, K=K, cache=cache)
