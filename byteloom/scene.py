"""Geometry of the synthetic scenes of Mani4D-mini: people, hands, supports, backdrop (paper §3.3 data).

A person is drawn as capsules along the skeleton's bones plus a textured head, in the colours of
an `Identity` (skin, shirt, trousers, a face-like head texture), so identity preservation can be
measured. A hand is a 21-keypoint articulated model in the OpenPose hand order (wrist, then thumb,
index, middle, ring and little finger, four joints each, base to tip) whose fingers curl by one
`closure` value, so a grasp can close around an object; `palm_grasp` gives the fixed offset of an
object held against the palm, `roll` / `roll_to_face` turn a hand about its finger axis (the
wrist's pronation). Objects wait for the hand on a `support` (a side table). Every part is a rigid
mesh placed by a rigid pose per frame, so `byteloom.render.Renderer` uploads each mesh once per clip.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image, ImageDraw
from scipy.spatial.transform import Rotation

# ---------------------------------------------------------------------------------- identities


@dataclass(frozen=True)
class Identity:
    """The look of one synthetic actor."""

    id: int
    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    hair: tuple[int, int, int]
    face: Image.Image  # texture wrapped around the head (cylindrical u = azimuth, v = height)


def make_identity(seed: int) -> Identity:
    """A distinct actor per seed: colours and a face texture with seed-dependent eyes, mouth, hair."""
    rng = np.random.default_rng(10_000 + seed)
    skin = tuple(int(v) for v in np.array([224, 172, 105]) * rng.uniform(0.55, 1.1) + rng.integers(-15, 15, 3))
    skin = tuple(int(np.clip(v, 40, 255)) for v in skin)
    shirt, trousers, hair = (tuple(int(v) for v in rng.integers(20, 236, 3)) for _ in range(3))
    size = 128
    img = Image.new("RGB", (size, size), skin)
    d = ImageDraw.Draw(img)
    # the face looks along +z of the head: azimuth 0 is at u = 0.5 (see head_mesh)
    cx, eye_y, gap = size / 2, size * rng.uniform(0.38, 0.48), size * rng.uniform(0.07, 0.11)
    r_eye = size * rng.uniform(0.025, 0.045)
    eye_col = tuple(int(v) for v in rng.integers(0, 120, 3))
    for sx in (-1, 1):
        d.ellipse([cx + sx * gap - r_eye, eye_y - r_eye, cx + sx * gap + r_eye, eye_y + r_eye], fill=(250, 250, 250))
        d.ellipse([cx + sx * gap - r_eye / 2, eye_y - r_eye / 2, cx + sx * gap + r_eye / 2, eye_y + r_eye / 2], fill=eye_col)
    mouth_y, mouth_w = size * rng.uniform(0.66, 0.74), size * rng.uniform(0.06, 0.12)
    d.rectangle([cx - mouth_w, mouth_y, cx + mouth_w, mouth_y + size * 0.03], fill=(150, 40, 50))
    d.rectangle([0, 0, size, size * rng.uniform(0.15, 0.3)], fill=hair)  # hair line
    if rng.uniform() < 0.5:  # a beard or a fringe: more between-identity variety
        d.rectangle([cx - size * 0.12, size * 0.78, cx + size * 0.12, size * 0.9], fill=hair)
    return Identity(seed, skin, shirt, trousers, hair, img)


# ---------------------------------------------------------------------------------- rigid parts


def bone_pose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rigid pose that takes a capsule along +z centred at the origin onto the segment a→b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    n = np.linalg.norm(d)
    z = d / n if n > 1e-9 else np.array([0.0, 0.0, 1.0])
    rot, _ = Rotation.align_vectors([z], [[0.0, 0.0, 1.0]])
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = rot.as_matrix(), (a + b) / 2
    return T


def capsule(length: float, radius: float, color) -> trimesh.Trimesh:
    """A capsule of `length` between its hemisphere centres, along z, centred, in one colour."""
    m = trimesh.creation.capsule(height=max(length, 1e-4), radius=radius, count=[10, 10])
    m.apply_translation([0, 0, -max(length, 1e-4) / 2])
    m.visual.vertex_colors = np.tile([*color, 255], (len(m.vertices), 1)).astype(np.uint8)
    return m


def head_mesh(radius: float, identity: Identity) -> trimesh.Trimesh:
    """An ellipsoid head with the identity's face texture; it looks along +z, its up is +y."""
    sphere = trimesh.creation.uv_sphere(radius=1.0, count=[24, 24])
    tris = sphere.vertices[sphere.faces]
    u = np.arctan2(tris[..., 0], tris[..., 2]) / (2 * np.pi) + 0.5  # azimuth 0 (front, +z) -> u = 0.5
    wrap = (u.max(axis=1) - u.min(axis=1)) > 0.5
    u[wrap] = np.where(u[wrap] < 0.5, u[wrap] + 1.0, u[wrap])
    v = 0.5 - np.arcsin(np.clip(tris[..., 1], -1, 1)) / np.pi  # the top of the head shows texture row 0
    verts = tris.reshape(-1, 3) * np.array([0.85, 1.0, 0.9]) * radius
    visual = trimesh.visual.TextureVisuals(uv=np.stack([u, v], -1).reshape(-1, 2), image=identity.face)
    return trimesh.Trimesh(verts, np.arange(len(verts)).reshape(-1, 3), visual=visual, process=False)


def head_pose(neck: np.ndarray, head_top: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """Head frame: up along neck→head_top, forward (+z) along `facing` made orthogonal to up."""
    up = head_top - neck
    up /= np.linalg.norm(up)
    fwd = facing - np.dot(facing, up) * up
    fwd /= max(np.linalg.norm(fwd), 1e-9)
    x = np.cross(up, fwd)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, up, fwd], axis=1)
    T[:3, 3] = (neck + head_top) / 2
    return T


# ---------------------------------------------------------------------------------- hands

# OpenPose hand: 0 wrist; thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20 (base to tip)
HAND_BONES = [(0, 1), (1, 2), (2, 3), (3, 4)] + [
    (a, b) for f in range(1, 5) for a, b in [(0, 4 * f + 1), (4 * f + 1, 4 * f + 2), (4 * f + 2, 4 * f + 3), (4 * f + 3, 4 * f + 4)]
]
# knuckle positions (hand frame: x towards the fingers, y towards the thumb side, z palm normal)
_KNUCKLES = np.array([[0.025, 0.030, -0.01], [0.085, 0.025, 0.0], [0.090, 0.005, 0.0], [0.085, -0.014, 0.0], [0.075, -0.031, 0.0]])
_SEGMENTS = np.array([[0.035, 0.030, 0.025], [0.040, 0.025, 0.020], [0.045, 0.028, 0.022], [0.042, 0.026, 0.020], [0.033, 0.020, 0.017]])


def hand_keypoints(closure: float, scale: float = 1.0, side: str = "right") -> np.ndarray:
    """21 hand keypoints (metres, hand frame) for a curl `closure` in [0, 1] (0 open, 1 fist).

    Fingers curl about the hand's y axis towards −z (the palm side); the thumb curls across the
    palm. A left hand mirrors y.
    """
    if not 0 <= closure <= 1:
        raise ValueError(f"closure must be in [0, 1], got {closure}")
    kp = np.zeros((21, 3))
    for f in range(5):
        p = _KNUCKLES[f].copy()
        kp[4 * f + 1] = p
        direction = np.array([1.0, 0.0, 0.0]) if f else np.array([0.6, 0.6, -0.5]) / np.linalg.norm([0.6, 0.6, -0.5])
        axis = np.array([0.0, 1.0, 0.0]) if f else np.array([0.5, -0.3, 0.8]) / np.linalg.norm([0.5, -0.3, 0.8])
        angle = 0.0
        for s in range(3):
            angle += closure * (np.radians(70) if f else np.radians(35))
            d = Rotation.from_rotvec(axis * angle).apply(direction)
            p = p + d * _SEGMENTS[f, s]
            kp[4 * f + 2 + s] = p
    kp *= scale
    if side == "left":
        kp[:, 1] *= -1
    elif side != "right":
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    return kp


def grasp_point(scale: float = 1.0, side: str = "right") -> np.ndarray:
    """Where a held object's centre sits in the hand frame (in front of the palm, between thumb and fingers)."""
    p = np.array([0.075, 0.005, -0.045]) * scale
    if side == "left":
        p[1] *= -1
    return p


PALM_FACE_Z = -0.015  # hand frame z of the palm's inner face (the palm box of `hand_meshes` at `hand_poses`)
PALM_CENTRE = np.array([0.045, 0.0, PALM_FACE_Z])  # the middle of that face


def palm_grasp(mesh: trimesh.Trimesh, hand_rot: np.ndarray, obj_rot: np.ndarray, scale: float = 1.0,
               side: str = "right") -> np.ndarray:
    """The grasp offset (object-to-hand pose) of a hand holding `mesh` against its palm.

    `hand_rot` and `obj_rot` are the world rotations of the hand frame and of the object at the
    moment of grasping: the offset keeps that relative rotation, puts the object's bounding-box
    centre under `grasp_point` (hand x, y) and slides the object along the palm normal until its
    surface touches the palm's inner face. While held, object pose = hand frame @ offset.
    """
    R = np.asarray(hand_rot).T @ np.asarray(obj_rot)
    verts = mesh.vertices @ R.T  # object points in hand axes, relative to the object's origin
    centre = mesh.bounds.mean(axis=0) @ R.T
    g = grasp_point(scale, side)
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = [g[0] - centre[0], g[1] - centre[1], PALM_FACE_Z * scale - verts[:, 2].max()]
    return T


def roll_to_face(hand: np.ndarray, direction) -> float:
    """The angle about the hand's finger axis (x) that turns its palm (−z) towards `direction`.

    Only the part of `direction` across the fingers counts: a hand rolls, it does not bend here.
    `hand @ roll(angle)` is the rolled hand frame.
    """
    e = -np.asarray(direction, float)  # the rolled hand's z should point away from `direction`
    return float(np.arctan2(-e @ hand[:3, 1], e @ hand[:3, 2]))


def roll(angle: float) -> np.ndarray:
    """A 4x4 rotation by `angle` (radians) about the hand's finger axis x (wrist pronation/supination)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec([angle, 0.0, 0.0]).as_matrix()
    return T


def hand_frame(wrist: np.ndarray, toward_fingers: np.ndarray, palm_normal: np.ndarray) -> np.ndarray:
    """Hand-to-world pose from the wrist position, the finger direction and the palm normal."""
    x = toward_fingers / np.linalg.norm(toward_fingers)
    z = palm_normal - np.dot(palm_normal, x) * x
    z /= np.linalg.norm(z)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    T[:3, 3] = wrist
    return T


def hand_meshes(color, scale: float = 1.0) -> list[trimesh.Trimesh]:
    """The rigid parts of one hand: a palm box and 20 finger capsules (segment lengths are fixed)."""
    kp = hand_keypoints(0.0, scale)
    palm = trimesh.creation.box(extents=np.array([0.085, 0.07, 0.022]) * scale)
    palm.visual.vertex_colors = np.tile([*color, 255], (len(palm.vertices), 1)).astype(np.uint8)
    return [palm] + [capsule(np.linalg.norm(kp[b] - kp[a]), (0.009 if a == 0 else 0.008) * scale, color)
                     for a, b in HAND_BONES]


def hand_poses(closure: float, scale: float = 1.0, side: str = "right") -> list[np.ndarray]:
    """Poses (hand frame) of the `hand_meshes` parts at `closure`, in the same order."""
    kp = hand_keypoints(closure, scale, side)
    palm = np.eye(4)
    palm[:3, 3] = np.array([0.045, 0.0, -0.004]) * scale
    return [palm] + [bone_pose(kp[a], kp[b]) for a, b in HAND_BONES]


# ---------------------------------------------------------------------------------- backdrop


def backdrop(seed: int, width: float = 6.0, height: float = 4.0, distance: float = 3.0) -> trimesh.Trimesh:
    """A textured wall (plane facing −z) for camera-space placement behind the scene."""
    from .assets import make_texture

    verts = np.array([[-width / 2, -height / 2, 0], [width / 2, -height / 2, 0], [width / 2, height / 2, 0], [-width / 2, height / 2, 0]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])  # normal towards −z (the camera)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    img = make_texture(500 + seed, 256).resize((256, 256))
    arr = (np.asarray(img).astype(float) * 0.45 + 70).astype(np.uint8)  # muted: the actor stands out
    m = trimesh.Trimesh(verts, faces, visual=trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(arr)), process=False)
    m.apply_translation([0, 0, distance])
    return m


_Z_UP_TO_Y_UP = np.array([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]])  # (x, y, z) -> (x, z, -y)


def support(top_radius: float, height: float, color, top_thickness: float = 0.025,
            leg_radius: float = 0.025) -> trimesh.Trimesh:
    """A round side table (top plate on one leg) whose top face is the plane y = 0 (world y up).

    Objects rest on it before they are grasped; place it with a translation to (x, top height, z).
    """
    top = trimesh.creation.cylinder(radius=top_radius, height=top_thickness, sections=24)
    top.apply_translation([0, 0, -top_thickness / 2])
    leg = trimesh.creation.cylinder(radius=leg_radius, height=max(height - top_thickness, 1e-3), sections=12)
    leg.apply_translation([0, 0, -top_thickness - max(height - top_thickness, 1e-3) / 2])
    m = trimesh.util.concatenate([top, leg])
    m.apply_transform(_Z_UP_TO_Y_UP)
    shade = np.where(np.arange(len(m.vertices)) < len(top.vertices), 1.0, 0.8)[:, None]  # the leg a bit darker
    m.visual.vertex_colors = np.column_stack([np.clip(np.asarray(color) * shade, 0, 255), np.full(len(m.vertices), 255)]).astype(np.uint8)
    return m
