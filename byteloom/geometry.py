"""Cameras and 6-DoF poses in the OpenCV / BOP convention, as pure functions.

Convention (the one of BOP-format pose data sets such as DexYCB and HO3D):
camera axes x right, y down, z forward; intrinsics `K` 3x3 with pixel centres at integer
coordinates; an object's pose is the 4x4 rigid transform `obj_to_cam` taking object-space points to
camera space. Object space follows glTF/OBJ: +y is "up" when a layout needs one.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp


def check_size(size) -> tuple[int, int]:
    """Validate an image size given as (height, width) of positive integers."""
    try:
        h, w = size
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (h, w)):
        raise ValueError(f"size must be two integers (height, width), got {size!r}")
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got (height, width) = ({h}, {w})")
    return int(h), int(w)


def check_pose(pose, name: str = "pose", tol: float = 1e-5) -> np.ndarray:
    """Validate a 4x4 rigid transform (rotation with det +1, last row 0 0 0 1); return float64."""
    T = np.asarray(pose, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"{name} must be a 4x4 matrix, got shape {T.shape}")
    if not np.isfinite(T).all():
        raise ValueError(f"{name} has non-finite entries")
    if not np.allclose(T[3], [0, 0, 0, 1], atol=tol):
        raise ValueError(f"{name} is not a rigid transform: last row is {T[3].tolist()}, not [0, 0, 0, 1]")
    R = T[:3, :3]
    err = np.abs(R @ R.T - np.eye(3)).max()
    if err > tol or np.linalg.det(R) < 0:
        raise ValueError(
            f"{name} is not a rigid transform: rotation part is not orthonormal with det +1 "
            f"(|R R^T - I| = {err:.2e}, det = {np.linalg.det(R):.4f}); scale belongs in the mesh"
        )
    return T


def check_intrinsics(K) -> np.ndarray:
    """Validate a pinhole intrinsics matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all():
        raise ValueError(f"intrinsics K must be a finite 3x3 matrix, got shape {K.shape}")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"intrinsics K must have positive focal lengths, got fx={K[0, 0]}, fy={K[1, 1]}")
    if K[0, 1] != 0 or K[1, 0] != 0 or not np.allclose(K[2], [0, 0, 1]):
        raise ValueError(f"intrinsics K must be [[fx,0,cx],[0,fy,cy],[0,0,1]] (no skew), got {K.tolist()}")
    return K


def intrinsics_from_fov(size, fov_deg: float) -> np.ndarray:
    """Square-pixel intrinsics whose vertical field of view is `fov_deg`, principal point centred."""
    h, w = check_size(size)
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    f = 0.5 * h / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """obj_to_cam for a camera at `eye` looking at `target` (object space), `up` up on screen."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = target - eye
    if np.linalg.norm(z) == 0:
        raise ValueError("look_at: eye and target coincide")
    z /= np.linalg.norm(z)
    if np.linalg.norm(np.cross(up, z)) < 1e-6:  # looking along `up`: pick another screen-up
        up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    y = -up + np.dot(up, z) * z  # image y points down
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    cam_to_obj = np.eye(4)
    cam_to_obj[:3, :3] = np.stack([x, y, z], axis=1)
    cam_to_obj[:3, 3] = eye
    return np.linalg.inv(cam_to_obj)


def transform(points, pose) -> np.ndarray:
    """Apply a 4x4 transform to (..., 3) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ pose[:3, :3].T + pose[:3, 3]


def project(points_obj, obj_to_cam, K) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (u, v) (OpenCV: pixel centres at integers) and depth z of object points."""
    p = transform(points_obj, obj_to_cam)
    z = p[..., 2]
    uv = (p @ np.asarray(K).T)[..., :2] / z[..., None]
    return uv, z


def backproject(depth, K) -> np.ndarray:
    """Camera-space points (H, W, 3) of a metric depth map; zero depth gives zero points."""
    h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (u - K[0, 2]) / K[0, 0] * depth
    y = (v - K[1, 2]) / K[1, 1] * depth
    return np.stack([x, y, depth], axis=-1)


def interpolate_poses(key_times, key_poses, times) -> np.ndarray:
    """6-DoF trajectory: SLERP on rotations, linear on translations, between keyframes.

    `key_times` strictly increasing; `times` must lie within [key_times[0], key_times[-1]].
    Returns (len(times), 4, 4) rigid transforms.
    """
    key_times = np.asarray(key_times, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    key_poses = [check_pose(p, f"key_poses[{i}]") for i, p in enumerate(key_poses)]
    if len(key_poses) != len(key_times) or len(key_times) < 2:
        raise ValueError(f"need >= 2 keyframes with one time each, got {len(key_times)} times and {len(key_poses)} poses")
    if np.any(np.diff(key_times) <= 0):
        raise ValueError(f"key_times must be strictly increasing, got {key_times.tolist()}")
    if times.min() < key_times[0] or times.max() > key_times[-1]:
        raise ValueError(f"times must lie in [{key_times[0]}, {key_times[-1]}], got [{times.min()}, {times.max()}]")
    P = np.stack(key_poses)
    rot = Slerp(key_times, Rotation.from_matrix(P[:, :3, :3]))(times)
    out = np.tile(np.eye(4), (len(times), 1, 1))
    out[:, :3, :3] = rot.as_matrix()
    for i in range(3):
        out[:, i, 3] = np.interp(times, key_times, P[:, i, 3])
    return out


def pose_from_rotvec(rotvec, translation) -> np.ndarray:
    """A 4x4 pose from an axis-angle rotation (radians) and a translation."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = translation
    return T
