"""Relative Coordinate Maps (RCM) and the RCM-cache (paper section 3.2).

An RCM colours every surface point of an object by its position normalised inside the object's
axis-aligned bounding box:  c = (V - b_min) / (b_max - b_min),  stored as round(255 c).
Rendered at a 6-DoF pose, the RCM tells the model *which* object point every pixel shows, so
geometry stays consistent across views. The RCM-cache holds a few views of the object as RCM-RGB
pairs: an appearance prior that the model retrieves from by matching RCM colours.

Flat objects: an axis with zero extent gets the constant colour 0.5 on that axis, and decoding
returns b_min there, so `decode_rcm(rcm_colors(V, b), b) == V` holds for every bounding box.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import trimesh

from .assets import check_mesh
from .geometry import check_size, intrinsics_from_fov, look_at
from .io import save_npz

# ---------------------------------------------------------------------------------- colours


def check_bounds(bounds) -> np.ndarray:
    """Validate a 2x3 [min, max] box; zero extent on an axis is allowed (flat objects)."""
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (2, 3) or not np.isfinite(b).all():
        raise ValueError(f"bounds must be a finite 2x3 array [min, max], got shape {b.shape}")
    if np.any(b[1] < b[0]):
        raise ValueError(f"bounds must have min <= max on every axis, got min={b[0].tolist()} max={b[1].tolist()}")
    return b


def rcm_colors(vertices, bounds=None) -> np.ndarray:
    """Per-vertex RCM colours in [0, 1] (paper section 3.2); `bounds` defaults to the vertices' box."""
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"vertices must be a non-empty (N, 3) array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"vertices: {int((~np.isfinite(v)).any(axis=1).sum())} have non-finite coordinates")
    b = check_bounds(np.stack([v.min(0), v.max(0)]) if bounds is None else bounds)
    extent = b[1] - b[0]
    tol = 1e-9 * max(extent.max(), 1.0)
    outside = np.any((v < b[0] - tol) | (v > b[1] + tol), axis=1)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} of {len(v)} vertices lie outside the given bounds")
    safe = np.where(extent > 0, extent, 1.0)
    return np.clip(np.where(extent > 0, (v - b[0]) / safe, 0.5), 0.0, 1.0)


def quantize(colors) -> np.ndarray:
    """The paper's 8-bit RCM: round(255 c)."""
    return np.round(np.asarray(colors) * 255).astype(np.uint8)


def decode_rcm(colors, bounds) -> np.ndarray:
    """Object-space points of RCM colours: floats in [0, 1] or uint8 (0..255). Exact inverse."""
    c = np.asarray(colors)
    if c.shape[-1:] != (3,):
        raise ValueError(f"RCM colours must have 3 channels in the last axis, got shape {c.shape}")
    c = c / 255.0 if c.dtype == np.uint8 else c.astype(np.float64)
    if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
        raise ValueError("float RCM colours must be finite and within [0, 1]")
    b = check_bounds(bounds)
    return b[0] + c * (b[1] - b[0])


# ---------------------------------------------------------------------------------- rendering


class View(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8: RCM colours or RGB appearance
    mask: np.ndarray  # (H, W) bool: the object covers the pixel
    depth: np.ndarray  # (H, W) float32: metric z in the camera, 0 where empty


def _gl():
    """The GL renderer module, imported on first use: the colour functions above need no OpenGL."""
    from . import render

    return render


def _renderer(size, renderer):
    return renderer if renderer is not None else _gl().get_renderer(check_size(size))


def rcm_node(r: render.Renderer, mesh: trimesh.Trimesh, bounds=None):
    """The scene node of `mesh` coloured by its RCM (uploaded once per renderer).

    A cache hit touches neither the vertices nor trimesh's cached properties: checking the mesh
    and computing its colours are O(V) and happen only when the node is built.
    """
    key = ("rcm", None if bounds is None else tuple(check_bounds(bounds).ravel()))

    def make():
        check_mesh(mesh)
        b = mesh.bounds if bounds is None else check_bounds(bounds)
        return _gl().vertex_color_mesh(mesh.vertices, rcm_colors(mesh.vertices, b), mesh.faces)

    return r.node(mesh, key, make)


def render_rcm(mesh, obj_to_cam, K, size, bounds=None, renderer=None) -> View:
    """The RCM of `mesh` at pose `obj_to_cam` (OpenCV camera): unlit, exact per pixel, with mask and depth."""
    r = _renderer(size, renderer)
    image, depth = r.render([(rcm_node(r, mesh, bounds), obj_to_cam)], K, _gl().FLAT)
    return View(image, depth > 0, depth)


def render_rgb(mesh, obj_to_cam, K, size, renderer=None) -> View:
    """The textured appearance of `mesh` at the same pose, lit by a head light and ambient light."""
    r = _renderer(size, renderer)
    node = r.node(mesh, "rgb", lambda: _gl().textured_mesh(check_mesh(mesh)))
    image, depth = r.render([(node, obj_to_cam)], K, _gl().LIT)
    return View(image, depth > 0, depth)


def render_rcm_video(mesh, poses, K, size, bounds=None, renderer=None) -> View:
    """Per-frame RCM of a 6-DoF trajectory: stacked (T, H, W, ...) arrays."""
    r = _renderer(size, renderer)
    views = [render_rcm(mesh, p, K, size, bounds, r) for p in poses]
    return View(*(np.stack(a) for a in zip(*views)))


def face_id_node(r: render.Renderer, mesh: trimesh.Trimesh):
    """A node drawing face i in the flat colour encoding i + 1 (24 bits), for visibility tests."""

    def make(mesh):
        ids = np.repeat(np.arange(1, len(mesh.faces) + 1), 3)
        colors = np.stack([(ids >> 16) & 255, (ids >> 8) & 255, ids & 255], axis=1) / 255.0
        return _gl().vertex_color_mesh(mesh.vertices[mesh.faces].reshape(-1, 3), colors, np.arange(len(ids)).reshape(-1, 3))

    if len(mesh.faces) >= 2**24 - 1:
        raise ValueError(f"face-id rendering supports < 2^24 faces, mesh has {len(mesh.faces)}")
    return r.node(mesh, "face_id", lambda: make(check_mesh(mesh)))


def render_face_ids(mesh, obj_to_cam, K, size, renderer=None) -> np.ndarray:
    """(H, W) int64 index of the face seen at each pixel, -1 where empty."""
    r = _renderer(size, renderer)
    image, _ = r.render([(face_id_node(r, mesh), obj_to_cam)], K, _gl().FLAT)
    image = image.astype(np.int64)
    return ((image[..., 0] << 16) | (image[..., 1] << 8) | image[..., 2]) - 1


# ---------------------------------------------------------------------------------- cache views


def fibonacci_directions(n: int) -> np.ndarray:
    """n nearly uniform directions on the sphere (golden-angle spiral along +y)."""
    i = np.arange(n) + 0.5
    y = 1 - 2 * i / n
    r = np.sqrt(1 - y**2)
    phi = i * np.pi * (3 - np.sqrt(5))
    return np.stack([r * np.sin(phi), y, r * np.cos(phi)], axis=1)


def ring_directions(n: int, elevation_deg: float = 20.0) -> np.ndarray:
    """n directions evenly around the up axis (+y) at one elevation: a turntable."""
    az = 2 * np.pi * np.arange(n) / n
    el = np.radians(elevation_deg)
    return np.stack([np.sin(az) * np.cos(el), np.full(n, np.sin(el)), np.cos(az) * np.cos(el)], axis=1)


ICOSAHEDRON_VIEWS = {12: 0, 42: 1, 162: 2}  # view count -> subdivision level


def icosahedron_directions(n: int) -> np.ndarray:
    """Vertices of a (subdivided) icosahedron: n must be one of ICOSAHEDRON_VIEWS (12, 42, 162)."""
    if n not in ICOSAHEDRON_VIEWS:
        raise ValueError(f"layout 'icosahedron' needs num_views in {sorted(ICOSAHEDRON_VIEWS)}, got {n}")
    return np.asarray(trimesh.creation.icosphere(subdivisions=ICOSAHEDRON_VIEWS[n]).vertices)


def fps_directions(n: int, pool: int = 2048) -> np.ndarray:
    """Greedy farthest-point order over a dense sphere: every prefix is well spread (nested sets)."""
    cand = fibonacci_directions(pool)
    chosen = [int(np.argmax(cand @ np.array([0.0, 0.2, 1.0])))]  # start at the front view
    dist = np.linalg.norm(cand - cand[chosen[0]], axis=1)
    for _ in range(n - 1):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(cand - cand[chosen[-1]], axis=1))
    return cand[chosen]


def random_directions(n: int, seed: int = 0) -> np.ndarray:
    """n independent uniform directions (seeded)."""
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


VIEW_LAYOUTS = {
    "fibonacci": fibonacci_directions,
    "fps": fps_directions,
    "icosahedron": icosahedron_directions,
    "ring": ring_directions,
    "random": random_directions,
}


def view_directions(layout: str, n: int, seed: int = 0) -> np.ndarray:
    """Unit directions (object space, from the object towards each camera) of a view layout."""
    if layout not in VIEW_LAYOUTS:
        raise ValueError(f"unknown view layout {layout!r}; choose one of {list(VIEW_LAYOUTS)}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"num_views must be a positive integer, got {n!r}")
    return VIEW_LAYOUTS[layout](n, seed) if layout == "random" else VIEW_LAYOUTS[layout](n)


def orbit_poses(mesh, directions, size, fov_deg: float = 40.0, margin: float = 1.05):
    """obj_to_cam poses looking at the object's box centre from `directions`, whole object in view."""
    h, w = check_size(size)
    directions = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    K = intrinsics_from_fov((h, w), fov_deg)
    half = min(np.arctan(0.5 * h / K[1, 1]), np.arctan(0.5 * w / K[0, 0]))
    center = mesh.bounds.mean(axis=0)
    radius = np.linalg.norm(mesh.extents) / 2
    dist = margin * radius / np.sin(half)
    poses = np.stack([look_at(center + dist * d, center) for d in directions])
    return poses, K


# ---------------------------------------------------------------------------------- the cache


@dataclass(frozen=True)
class RcmCache:
    """`num_views` RCM-RGB pairs of one object with their poses: the model's appearance prior."""

    rcm: np.ndarray  # (V, H, W, 3) uint8
    rgb: np.ndarray  # (V, H, W, 3) uint8
    mask: np.ndarray  # (V, H, W) bool
    depth: np.ndarray  # (V, H, W) float32
    poses: np.ndarray  # (V, 4, 4) obj_to_cam
    K: np.ndarray  # (3, 3)
    bounds: np.ndarray  # (2, 3) the RCM's bounding box
    directions: np.ndarray  # (V, 3)
    face_seen: np.ndarray  # (V, F) bool: face f is visible in view v
    face_areas: np.ndarray  # (F,)
    layout: str

    @property
    def num_views(self) -> int:
        return len(self.poses)

    @property
    def coverage(self) -> float:
        """Fraction of the surface area visible in at least one cached view."""
        return surface_coverage(self.face_seen, self.face_areas)

    def coverage_curve(self) -> np.ndarray:
        """Coverage of the first k views, k = 1..V (non-decreasing by construction)."""
        seen = np.logical_or.accumulate(self.face_seen, axis=0)
        return seen.astype(np.float64) @ self.face_areas / self.face_areas.sum()

    def save(self, path: str | Path) -> None:
        """Write to a compressed .npz; refuses to overwrite an existing file."""
        save_npz(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str | Path) -> "RcmCache":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: RCM-cache file not found")
        with np.load(path) as z:
            missing = [f.name for f in fields(cls) if f.name not in z]
            if missing:
                raise ValueError(f"{path}: not an RCM-cache, missing arrays {missing}")
            data = {f.name: z[f.name] for f in fields(cls)}
        data["layout"] = str(data["layout"])
        return cls(**data)


def surface_coverage(face_seen, face_areas) -> float:
    """Area-weighted fraction of faces seen in any view; `face_seen` is (F,) or (V, F)."""
    seen = np.asarray(face_seen, dtype=bool)
    if seen.ndim == 2:
        seen = seen.any(axis=0)
    return float(face_areas[seen].sum() / face_areas.sum())


def build_cache(mesh, num_views: int, size, layout: str = "fibonacci", fov_deg: float = 40.0,
                seed: int = 0, bounds=None, renderer=None) -> RcmCache:
    """Render the RCM-cache: `num_views` views around the object as RCM-RGB pairs, plus coverage."""
    check_mesh(mesh)
    directions = view_directions(layout, num_views, seed)
    poses, K = orbit_poses(mesh, directions, size, fov_deg)
    r = _renderer(size, renderer)
    b = mesh.bounds if bounds is None else check_bounds(bounds)
    rcm, rgb, seen = [], [], []
    for pose in poses:
        rcm.append(render_rcm(mesh, pose, K, size, b, r))
        rgb.append(render_rgb(mesh, pose, K, size, r).image)
        ids = render_face_ids(mesh, pose, K, size, r)
        s = np.zeros(len(mesh.faces), dtype=bool)
        s[ids[ids >= 0]] = True
        seen.append(s)
    return RcmCache(
        rcm=np.stack([v.image for v in rcm]), rgb=np.stack(rgb), mask=np.stack([v.mask for v in rcm]),
        depth=np.stack([v.depth for v in rcm]), poses=poses, K=K, bounds=np.asarray(b, dtype=np.float64),
        directions=directions, face_seen=np.stack(seen), face_areas=np.asarray(mesh.area_faces), layout=layout,
    )
