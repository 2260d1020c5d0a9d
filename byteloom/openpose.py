"""OpenPose skeletons: keypoint layouts, ControlNet-style rendering, projection and JSON I/O.

ByteLoom conditions its video DiT on a per-frame OpenPose skeleton video (paper §3: the pose
condition is encoded by the video VAE and fused with the noisy latent; §1 explains why a skeleton
rather than a hand mesh). This module draws such skeletons for synthetic data exactly the way the
widely used ControlNet annotator does, so rendered skeletons look like those extracted from video.

Conventions
-----------
- Body: the 18-keypoint OpenPose COCO layout (`BODY_KEYPOINTS`). Keypoints are (18, 3) arrays of
  [x, y, confidence] in pixels (x right, y down, pixel centres at integers). Confidence 0 means
  "missing", as in OpenPose's JSON output: such keypoints and every limb touching them are skipped.
- Hands: the 21-keypoint OpenPose hand layout (`HAND_KEYPOINTS`): wrist, then 4 joints per finger
  from palm to tip (thumb, index, middle, ring, little).
- Colours are RGB (as ControlNet feeds its canvas to the model); convert with
  `img[..., ::-1]` before `cv2.imwrite`.
- Rendering follows ControlNet's `annotator/openpose/util.py` (lllyasviel/ControlNet-v1-1-nightly,
  `draw_bodypose` / `draw_handpose`, checked against the source): 18 keypoint circles in
  `BODY_COLORS`, then the first 17 of the 19 limbs of `BODY_LIMBS` (the two ear-shoulder limbs are
  not drawn) as filled ellipses of half-width `stickwidth` in `BODY_COLORS[i]`, each blended over the
  canvas with weight 0.6 (`cv2.addWeighted(canvas, 0.4, limb, 0.6, 0)`), so a limb on a black
  background has 0.6 x its colour. Hand edges are 2-pixel lines in HSV-rainbow colours, hand
  keypoints blue circles. ControlNet's sizes (radius 4, stickwidth 4, hand line 2) are for images
  whose short side is 512 pixels; here they scale with the short side.
- Cameras: OpenCV convention (x right, y down, z forward), `world_to_cam` a 4x4 rigid transform,
  see `byteloom.geometry`.
- JSON: the layout OpenPose writes with `--write_json` (version 1.3): one file per frame,
  {"version": 1.3, "people": [{"pose_keypoints_2d": [x, y, c] * 18, "hand_left_keypoints_2d": [...]
  * 21, "hand_right_keypoints_2d": [...] * 21, ...}]}; an empty hand list means "not estimated".
"""
from __future__ import annotations

import colorsys
import json
import math
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .geometry import check_intrinsics, check_pose, check_size, project

# ----------------------------------------------------------------------------- layouts and colours

BODY_KEYPOINTS = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
    "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)

# ControlNet's `limbSeq` (1-based there), 0-based here; limb i is drawn in BODY_COLORS[i].
BODY_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)
DRAWN_LIMBS = 17  # ControlNet draws limbs 0..16; the ear-shoulder limbs 17, 18 are only in the PAFs

BODY_COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
LIMB_ALPHA = 0.6  # weight of a limb's colour over what is below it

HAND_KEYPOINTS = ("Wrist",) + tuple(
    f"{finger}{k}" for finger in ("Thumb", "Index", "Middle", "Ring", "Little") for k in range(1, 5)
)
HAND_EDGES = (  # wrist to each finger's base, then along the finger (ControlNet `draw_handpose`)
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
    (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
)
# ControlNet: matplotlib.colors.hsv_to_rgb([i / 20, 1, 1]) * 255, rounded as cv2 does.
HAND_EDGE_COLORS = tuple(
    tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0))
    for i in range(len(HAND_EDGES))
)
HAND_KEYPOINT_COLOR = (0, 0, 255)

REFERENCE_SHORT_SIDE = 512  # image size ControlNet's pixel sizes were chosen for


# ----------------------------------------------------------------------------- validation

def check_keypoints(kp, n: int, name: str = "keypoints") -> np.ndarray:
    """Validate an (n, 3) array of [x, y, confidence] with finite entries; return float64."""
    kp = np.asarray(kp, dtype=np.float64)
    if kp.shape != (n, 3):
        raise ValueError(f"{name} must have shape ({n}, 3) as [x, y, confidence], got {kp.shape}")
    if not np.isfinite(kp).all():
        raise ValueError(f"{name} has non-finite entries; mark missing keypoints with confidence 0")
    return kp


# ----------------------------------------------------------------------------- drawing

def _scaled(size_px: float, h: int, w: int) -> int:
    """A ControlNet pixel size scaled from a 512-pixel short side to this image (at least 1)."""
    return max(1, int(round(size_px * min(h, w) / REFERENCE_SHORT_SIDE)))


def _blend_limb(canvas: np.ndarray, a, b, color, stickwidth: int) -> None:
    """Blend one limb (an ellipse from a to b) into `canvas` in place, as ControlNet does.

    ControlNet copies the whole canvas, fills the ellipse and blends the copy back; blending only
    the ellipse's bounding box gives the same pixels for much less work.
    """
    (x0, y0), (x1, y1) = a, b
    length = math.hypot(x0 - x1, y0 - y1)
    angle = math.degrees(math.atan2(y0 - y1, x0 - x1))
    centre = (int((x0 + x1) / 2), int((y0 + y1) / 2))
    polygon = cv2.ellipse2Poly(centre, (int(length / 2), stickwidth), int(angle), 0, 360, 1)
    h, w = canvas.shape[:2]
    left, top = np.maximum(polygon.min(axis=0), 0)
    right, bottom = np.minimum(polygon.max(axis=0) + 1, (w, h))
    if left >= right or top >= bottom:
        return  # entirely outside the image
    roi = canvas[top:bottom, left:right]
    limb = roi.copy()
    cv2.fillConvexPoly(limb, polygon - np.array([left, top], dtype=polygon.dtype), color)
    roi[:] = cv2.addWeighted(roi, 1 - LIMB_ALPHA, limb, LIMB_ALPHA, 0)


def draw_body(canvas: np.ndarray, body) -> np.ndarray:
    """Draw one 18-keypoint body onto an RGB uint8 canvas in place (ControlNet `draw_bodypose`)."""
    body = check_keypoints(body, len(BODY_KEYPOINTS), "body keypoints")
    h, w = canvas.shape[:2]
    radius, stickwidth = _scaled(4, h, w), _scaled(4, h, w)
    seen = body[:, 2] > 0
    for i in np.flatnonzero(seen):
        cv2.circle(canvas, (int(body[i, 0]), int(body[i, 1])), radius, BODY_COLORS[i], thickness=-1)
    for i, (a, b) in enumerate(BODY_LIMBS[:DRAWN_LIMBS]):
        if seen[a] and seen[b]:
            _blend_limb(canvas, body[a, :2], body[b, :2], BODY_COLORS[i], stickwidth)
    return canvas


def draw_hand(canvas: np.ndarray, hand) -> np.ndarray:
    """Draw one 21-keypoint hand onto an RGB uint8 canvas in place (ControlNet `draw_handpose`)."""
    hand = check_keypoints(hand, len(HAND_KEYPOINTS), "hand keypoints")
    h, w = canvas.shape[:2]
    thickness, radius = _scaled(2, h, w), _scaled(4, h, w)
    seen = hand[:, 2] > 0
    px = hand[:, :2].astype(int)  # truncation, as ControlNet's int()
    for (a, b), color in zip(HAND_EDGES, HAND_EDGE_COLORS):
        if seen[a] and seen[b]:
            cv2.line(canvas, tuple(px[a]), tuple(px[b]), color, thickness=thickness)
    for i in np.flatnonzero(seen):
        cv2.circle(canvas, tuple(px[i]), radius, HAND_KEYPOINT_COLOR, thickness=-1)
    return canvas


def draw_skeleton(body, hands=None, size=(512, 512)) -> np.ndarray:
    """Render an OpenPose skeleton (body, then hands) on black: an RGB uint8 (H, W, 3) image.

    `body` is (18, 3) [x, y, confidence] in pixels; `hands` an optional list of (21, 3) arrays
    (left/right does not change the drawing). Confidence-0 keypoints are not drawn.
    """
    h, w = check_size(size)
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    if body is not None:
        draw_body(canvas, body)
    for hand in hands or ():
        draw_hand(canvas, hand)
    return canvas


# ----------------------------------------------------------------------------- projection

def project_keypoints(points_3d, K, world_to_cam, size=None) -> np.ndarray:
    """Project (N, 3) world points to (N, 3) [u, v, visible] pixels (OpenCV camera convention).

    visible is 1.0 for points in front of the camera (and, when `size` = (H, W) is given, whose
    rounded pixel lies inside the image), else 0.0 - what an OpenPose detector run on the rendered
    frame could at best report. Points behind the camera get u = v = 0, OpenPose's "missing" value.
    """
    pts = np.asarray(points_3d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points_3d must have shape (N, 3), got {pts.shape}")
    uv, z = project(pts, check_pose(world_to_cam, "world_to_cam"), check_intrinsics(K))
    visible = z > 1e-6
    uv = np.where(visible[:, None], uv, 0.0)
    if size is not None:
        h, w = check_size(size)
        u, v = np.round(uv[:, 0]), np.round(uv[:, 1])
        visible &= (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    return np.column_stack([uv, visible.astype(np.float64)])


# ----------------------------------------------------------------------------- JSON I/O

OPENPOSE_JSON_VERSION = 1.3
BODY_KEY, LEFT_HAND_KEY, RIGHT_HAND_KEY = "pose_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"


class Person(NamedTuple):
    """One person of an OpenPose JSON file; a hand is None when it was not estimated."""

    body: np.ndarray  # (18, 3)
    left_hand: np.ndarray | None  # (21, 3)
    right_hand: np.ndarray | None  # (21, 3)


def _flat(kp, n: int, name: str) -> list[float]:
    """(n, 3) keypoints as OpenPose's flat [x0, y0, c0, x1, ...] list; None gives []."""
    return [] if kp is None else [float(v) for v in check_keypoints(kp, n, name).ravel()]


def to_openpose_json(body, left_hand=None, right_hand=None) -> dict:
    """The OpenPose JSON document (a dict) for one person; hands left as None are written as []."""
    person = {
        "person_id": [-1],
        BODY_KEY: _flat(body, len(BODY_KEYPOINTS), "body keypoints"),
        "face_keypoints_2d": [],
        LEFT_HAND_KEY: _flat(left_hand, len(HAND_KEYPOINTS), "left hand keypoints"),
        RIGHT_HAND_KEY: _flat(right_hand, len(HAND_KEYPOINTS), "right hand keypoints"),
        "pose_keypoints_3d": [],
        "face_keypoints_3d": [],
        "hand_left_keypoints_3d": [],
        "hand_right_keypoints_3d": [],
    }
    return {"version": OPENPOSE_JSON_VERSION, "people": [person]}


def write_openpose_json(path, body, left_hand=None, right_hand=None) -> Path:
    """Write one person's keypoints as an OpenPose JSON file; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(to_openpose_json(body, left_hand, right_hand)))
    return path


def _unflat(values, n: int, where: str, required: bool) -> np.ndarray | None:
    """OpenPose's flat keypoint list back to (n, 3); [] is None unless `required`."""
    if not isinstance(values, list):
        raise ValueError(f"{where} must be a list of numbers, got {type(values).__name__}")
    if not values and not required:
        return None
    if len(values) != 3 * n:
        hint = " (75 values is BODY_25; only the 18-keypoint COCO body is supported)" if len(values) == 75 else ""
        raise ValueError(f"{where} has {len(values)} values, expected {3 * n} ([x, y, c] x {n}){hint}")
    try:
        kp = np.array(values, dtype=np.float64).reshape(n, 3)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must contain only numbers") from None
    if not np.isfinite(kp).all():
        raise ValueError(f"{where} has non-finite values")
    return kp


def read_openpose_json(path) -> list[Person]:
    """Read every person of an OpenPose JSON file (COCO-18 body, optional 21-keypoint hands)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OpenPose JSON file not found: {path}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise ValueError(f"{path}: expected an object with a 'people' list (OpenPose --write_json layout)")
    people = []
    for i, person in enumerate(doc["people"]):
        where = f"{path}: people[{i}]"
        if not isinstance(person, dict) or BODY_KEY not in person:
            raise ValueError(f"{where} has no '{BODY_KEY}' key")
        people.append(Person(
            body=_unflat(person[BODY_KEY], len(BODY_KEYPOINTS), f"{where}.{BODY_KEY}", required=True),
            left_hand=_unflat(person.get(LEFT_HAND_KEY, []), len(HAND_KEYPOINTS), f"{where}.{LEFT_HAND_KEY}", False),
            right_hand=_unflat(person.get(RIGHT_HAND_KEY, []), len(HAND_KEYPOINTS), f"{where}.{RIGHT_HAND_KEY}", False),
        ))
    return people
