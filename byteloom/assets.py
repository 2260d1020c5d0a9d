"""Objects: mesh files with clear errors, and offline textured props.

`ASSETS` names objects that need no download: textured meshes shipped inside the `pybullet` wheel
(`pybullet_data`) and trimesh primitives with generated, asymmetric textures (so a wrong rotation
is visible). A pybullet mesh without a texture image gets a generated one too (the mug by
cylindrical projection, the torus on its own UVs), so every object's sides look different.
`load_object(name_or_path)` returns a trimesh centred on its bounding box and scaled so its
longest side is `extent` metres (hand-held size); `load_mesh(path)` loads a file as is.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw

PYBULLET_MESHES = {
    "duck": "duck.obj",
    "torus": "torus/torus_textured.obj",
    "jenga": "jenga/jenga.obj",
    "domino": "domino/domino.obj",
    "mug": "objects/mug.obj",  # untextured: gets a generated texture
}


def check_mesh(mesh: trimesh.Trimesh, name: str = "mesh") -> trimesh.Trimesh:
    """Reject meshes RCM cannot colour: no faces, non-finite vertices, no surface area."""
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"{name}: expected a trimesh.Trimesh, got {type(mesh).__name__}")
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise ValueError(f"{name}: empty mesh ({len(mesh.vertices)} vertices, {len(mesh.faces)} faces)")
    if not np.isfinite(mesh.vertices).all():
        bad = int((~np.isfinite(mesh.vertices)).any(axis=1).sum())
        raise ValueError(f"{name}: {bad} vertices have non-finite coordinates")
    if not mesh.area > 0:
        raise ValueError(f"{name}: the mesh has zero surface area")
    return mesh


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load a mesh file (OBJ/PLY/GLB/STL...) as one trimesh, keeping its texture if any."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mesh file not found")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for unreadable files
        raise ValueError(f"{path}: could not be loaded as a mesh ({type(e).__name__}: {e})") from e
    if not isinstance(mesh, trimesh.Trimesh):
        raise ValueError(f"{path}: contains no triangle mesh (got {type(mesh).__name__})")
    return check_mesh(mesh, str(path))


def normalize(mesh: trimesh.Trimesh, extent: float = 0.2) -> trimesh.Trimesh:
    """Copy centred on its bounding box, uniformly scaled so the longest side is `extent`."""
    mesh = mesh.copy()
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    mesh.apply_scale(extent / mesh.extents.max())
    return mesh


def make_texture(seed: int, size: int = 256) -> Image.Image:
    """A colourful texture with no symmetry: tiles, stripes, discs and the letters 'F', 'R', '7'."""
    rng = np.random.default_rng(seed)
    hues = rng.uniform(0, 1, 3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([0.5 + 0.5 * np.sin(2 * np.pi * (xx * (1 + i) + hues[i] + 0.3 * yy * i)) for i in range(3)], -1)
    img = Image.fromarray((np.clip(base, 0, 1) * 200 + 30).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(size / 16, size / 6)]
        draw.ellipse([x - r, y - r, x + r, y + r], fill=c, outline=(0, 0, 0))
    for i, letter in enumerate("FR7"):  # asymmetric under every rotation and mirror
        draw.text((size * (0.1 + 0.3 * i), size * 0.4), letter, fill=(255, 255, 255), font_size=size // 4)
    draw.rectangle([0, 0, size // 8, size - 1], fill=(20, 20, 20))  # one dark band: orientation cue
    return img


def box_with_atlas(extents=(0.12, 0.08, 0.05), seed: int = 0) -> trimesh.Trimesh:
    """A box with one tile of a 3x2 texture atlas per face (24 vertices, 12 triangles)."""
    ex = np.asarray(extents, dtype=np.float64) / 2
    verts, uvs, faces = [], [], []
    for k, (axis, sign) in enumerate([(a, s) for a in range(3) for s in (1, -1)]):
        u_ax, v_ax = [a for a in range(3) if a != axis]
        corners = []
        for du, dv in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
            p = np.zeros(3)
            p[axis], p[u_ax], p[v_ax] = sign * ex[axis], du * ex[u_ax], dv * ex[v_ax]
            corners.append(p)
        tile_u, tile_v = k % 3, k // 3
        uv = [((tile_u + (du + 1) / 2) / 3, (tile_v + (dv + 1) / 2) / 2) for du, dv in [(-1, -1), (1, -1), (1, 1), (-1, 1)]]
        n = len(verts)
        tri = [[n, n + 1, n + 2], [n, n + 2, n + 3]]
        normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
        if normal[axis] * sign < 0:  # make triangles face outwards
            tri = [t[::-1] for t in tri]
        verts += corners
        uvs += uv
        faces += tri
    visual = trimesh.visual.TextureVisuals(uv=np.array(uvs), image=make_texture(seed, 384))
    return trimesh.Trimesh(np.array(verts), np.array(faces), visual=visual, process=False)


def with_cylindrical_texture(mesh: trimesh.Trimesh, seed: int = 0) -> trimesh.Trimesh:
    """Give an untextured mesh a generated texture by cylindrical projection around +y.

    Vertices are split per face so triangles that cross the u = 0/1 seam can wrap correctly.
    """
    tris = mesh.vertices[mesh.faces]  # (F, 3, 3)
    c = mesh.bounds.mean(axis=0)
    u = (np.arctan2(tris[..., 0] - c[0], tris[..., 2] - c[2]) / (2 * np.pi)) + 0.5
    wrap = (u.max(axis=1) - u.min(axis=1)) > 0.5
    u[wrap] = np.where(u[wrap] < 0.5, u[wrap] + 1.0, u[wrap])  # repeat-wrapped sampler
    lo, hi = mesh.bounds[0, 1], mesh.bounds[1, 1]
    v = (tris[..., 1] - lo) / max(hi - lo, 1e-12)
    uv = np.stack([u, v], axis=-1).reshape(-1, 2)
    faces = np.arange(len(uv)).reshape(-1, 3)
    visual = trimesh.visual.TextureVisuals(uv=uv, image=make_texture(seed))
    return trimesh.Trimesh(tris.reshape(-1, 3), faces, visual=visual, process=False)


def _pybullet_mesh(rel: str) -> trimesh.Trimesh:
    import pybullet_data

    return load_mesh(Path(pybullet_data.getDataPath()) / rel)


def _generated(name: str) -> trimesh.Trimesh:
    if name == "box":
        return box_with_atlas(seed=1)
    if name == "sphere":
        return with_cylindrical_texture(trimesh.creation.icosphere(subdivisions=3), seed=2)
    if name == "cylinder":
        cyl = trimesh.creation.cylinder(radius=0.4, height=1.0, sections=48)
        cyl.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # axis along y
        return with_cylindrical_texture(cyl, seed=3)
    raise KeyError(name)


ASSETS = tuple(PYBULLET_MESHES) + ("box", "sphere", "cylinder")


def load_object(name_or_path: str | Path, extent: float = 0.2) -> trimesh.Trimesh:
    """An asset from `ASSETS` by name, or a mesh file by path, normalised to `extent` metres."""
    name = str(name_or_path)
    if name in PYBULLET_MESHES:
        mesh = _pybullet_mesh(PYBULLET_MESHES[name])
        if not isinstance(mesh.visual, trimesh.visual.TextureVisuals) or mesh.visual.uv is None:
            mesh = with_cylindrical_texture(mesh, seed=len(name))
        elif getattr(mesh.visual.material, "image", None) is None:  # UVs but no image (the torus): plain grey
            mesh.visual = trimesh.visual.TextureVisuals(uv=mesh.visual.uv, image=make_texture(len(name)))
    elif name in ASSETS:
        mesh = _generated(name)
    elif Path(name).suffix:
        mesh = load_mesh(name)
    else:
        raise ValueError(f"unknown object {name!r}: not one of {list(ASSETS)} and not a mesh file path")
    return normalize(mesh, extent)
