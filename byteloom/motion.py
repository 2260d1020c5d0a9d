"""Human motion from the DeepMimic clips that ship with pybullet, and their OpenPose keypoints.

The synthetic Mani4D-mini generator needs real human motion with no download. The `pybullet`
wheel ships 15 DeepMimic motion clips (`pybullet_data/data/motions/humanoid3d_*.txt`) and the
humanoid they drive (`pybullet_data/humanoid/humanoid.urdf`). This module parses both, runs forward
kinematics, resamples clips to any frame rate and length, and turns each frame into the 18 body
and 2 x 21 hand keypoints of OpenPose - the skeleton ByteLoom is conditioned on (paper §3).

Conventions
-----------
- World frame: the DeepMimic one - right-handed, metres, **y up**, ground plane y = 0. At rest
  (all rotations identity) the humanoid faces **+x** with its right side towards **+z**
  (the URDF puts the right hip at +z and the toes at +x); the walk clip walks along +x.
- Scale: the URDF is written 4x too large; pybullet's DeepMimic env loads it with
  `globalScaling=0.25` (`URDF_SCALE`), and the clips' root positions are in that scaled frame.
  All lengths here are metres after that scaling.
- Clip rows (verified against pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py, which
  reads the same files): 44 numbers = [duration, root position xyz, root rotation, chest, neck,
  right hip, right knee angle, right ankle, right shoulder, right elbow angle, left hip, left knee
  angle, left ankle, left shoulder, left elbow angle]; rotations are quaternions stored w, x, y, z,
  angles are radians about the joint's z axis. `duration` is the time from that frame to the next
  (0 on the last frame; frame durations may differ within a clip, e.g. "roll"). Several shipped
  clips hold quaternions of norm 0.58-1.12 ("kick", "backflip", "roll"); they are normalised on load.
- In memory quaternions are stored **x, y, z, w** (scipy and pybullet order).
- A joint's rotation maps the child link's frame to its parent link's frame; every URDF joint
  origin has rpy = 0, so a link's frame sits at its joint with the parent's orientation times the
  joint rotation (`forward_kinematics`, checked against pybullet's own FK in the tests).
- Loop mode "wrap" repeats a clip, shifting the root by the clip's horizontal (x, z) displacement
  (last - first frame) per cycle, like pybullet's env (which shifts by the full displacement; the
  same for every shipped "wrap" clip, as each starts and ends at one height). The root's heading is
  not carried over between cycles (neither does pybullet). "none" holds the end poses outside the clip.
"""
from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet_data
from scipy.spatial.transform import Rotation, Slerp

from .openpose import BODY_KEYPOINTS, HAND_KEYPOINTS

DATA_DIR = Path(pybullet_data.getDataPath())
MOTIONS_DIR = DATA_DIR / "data" / "motions"
URDF_PATH = DATA_DIR / "humanoid" / "humanoid.urdf"
URDF_SCALE = 0.25  # globalScaling in pybullet_envs/deep_mimic/env/humanoid_stable_pd.py
CLIP_PREFIX = "humanoid3d_"

# One clip row: (field, number of values), in file order.
FRAME_LAYOUT = (
    ("duration", 1), ("root_pos", 3), ("root_rot", 4),
    ("chest", 4), ("neck", 4),
    ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4), ("right_elbow", 1),
    ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4), ("left_elbow", 1),
)
ROW_LENGTH = sum(n for _, n in FRAME_LAYOUT)  # 44
SPHERICAL_JOINTS = tuple(name for name, n in FRAME_LAYOUT[3:] if n == 4)
REVOLUTE_JOINTS = tuple(name for name, n in FRAME_LAYOUT[3:] if n == 1)
LOOP_MODES = ("wrap", "none")


# ----------------------------------------------------------------------------- clips

@dataclass(frozen=True)
class Motion:
    """One humanoid clip of T frames (arrays indexed by frame first)."""

    name: str
    frame_durations: np.ndarray  # (T,) seconds from frame i to frame i + 1 (last one unused)
    root_pos: np.ndarray  # (T, 3) metres, world frame (y up)
    root_rot: np.ndarray  # (T, 4) unit quaternions xyzw, root link -> world
    joint_rots: dict  # spherical joint name -> (T, 4) unit quaternions xyzw, child -> parent link
    joint_angles: dict  # revolute joint name -> (T,) radians about the joint axis
    loop: str = "none"  # "wrap" or "none"

    @property
    def num_frames(self) -> int:
        return len(self.frame_durations)

    @property
    def times(self) -> np.ndarray:
        """(T,) time of each frame in seconds, starting at 0."""
        return np.concatenate([[0.0], np.cumsum(self.frame_durations[:-1])])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame (one cycle of a looping clip)."""
        return float(self.times[-1])


def list_motions() -> list[str]:
    """Names ("walk", "run", ...) of the humanoid clips shipped in pybullet_data."""
    return sorted(p.stem[len(CLIP_PREFIX):] for p in MOTIONS_DIR.glob(f"{CLIP_PREFIX}*.txt"))


def motion_path(name_or_path) -> Path:
    """The file of a clip given by name ("walk" or "humanoid3d_walk") or by path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path).removeprefix(CLIP_PREFIX)
    shipped = MOTIONS_DIR / f"{CLIP_PREFIX}{name}.txt"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"motion file not found: {name_or_path} (not a file, nor one of {list_motions()})")


def _read_frames(path: Path) -> tuple[np.ndarray, str]:
    """The (T, 44) frame table and loop mode of a DeepMimic clip file, validated."""
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Frames"), list):
        raise ValueError(f"{path}: expected a JSON object with a 'Frames' list (DeepMimic motion format)")
    loop = doc.get("Loop", "none")
    if loop not in LOOP_MODES:
        raise ValueError(f"{path}: 'Loop' must be one of {LOOP_MODES}, got {loop!r}")
    rows = doc["Frames"]
    if len(rows) < 2:
        raise ValueError(f"{path}: a clip needs at least 2 frames, got {len(rows)}")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != ROW_LENGTH:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise ValueError(f"{path}: frame {i} has {got} values, expected {ROW_LENGTH} "
                             f"({', '.join(f'{k} x{n}' for k, n in FRAME_LAYOUT)})")
    try:
        frames = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: frames must contain only numbers") from None
    bad = np.flatnonzero(~np.isfinite(frames).all(axis=1))
    if len(bad):
        raise ValueError(f"{path}: frame {bad[0]} has non-finite values")
    short = np.flatnonzero(frames[:-1, 0] <= 0)
    if len(short):
        raise ValueError(f"{path}: frame {short[0]} has duration {frames[short[0], 0]}; "
                         "every frame but the last needs a positive duration")
    return frames, loop


def _unit_xyzw(wxyz: np.ndarray, where: str) -> np.ndarray:
    """File quaternions (T, 4) w, x, y, z to unit x, y, z, w; zero quaternions are an error."""
    norm = np.linalg.norm(wxyz, axis=1, keepdims=True)
    if (norm < 1e-6).any():
        raise ValueError(f"{where}: zero quaternion at frame {int(np.argmin(norm))}")
    return np.roll(wxyz / norm, -1, axis=1)


def load_motion(name_or_path) -> Motion:
    """Load a DeepMimic humanoid clip (a shipped name such as "walk", or a file path)."""
    path = motion_path(name_or_path)
    frames, loop = _read_frames(path)
    fields, col = {}, 0
    for field, n in FRAME_LAYOUT:
        fields[field] = frames[:, col:col + n]
        col += n
    name = path.stem.removeprefix(CLIP_PREFIX)
    return Motion(
        name=name,
        frame_durations=fields["duration"][:, 0].copy(),
        root_pos=fields["root_pos"].copy(),
        root_rot=_unit_xyzw(fields["root_rot"], f"{path}: root rotation"),
        joint_rots={j: _unit_xyzw(fields[j], f"{path}: {j}") for j in SPHERICAL_JOINTS},
        joint_angles={j: fields[j][:, 0].copy() for j in REVOLUTE_JOINTS},
        loop=loop,
    )


# ----------------------------------------------------------------------------- resampling

def _clip_times(motion: Motion, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times mapped into [0, duration] and the number of whole cycles before each (loop mode)."""
    if motion.loop == "wrap":
        cycles = np.floor(times / motion.duration)
        end = (cycles > 0) & (times - cycles * motion.duration <= 0)  # t = k * duration: end of cycle k-1
        cycles = np.where(end, cycles - 1, cycles)
        return np.clip(times - cycles * motion.duration, 0.0, motion.duration), cycles
    return np.clip(times, 0.0, motion.duration), np.zeros_like(times)


def _slerp(key_times: np.ndarray, quats: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation of (T, 4) xyzw quaternions at `times` (shortest path)."""
    return Slerp(key_times, Rotation.from_quat(quats))(times).as_quat()


def sample(motion: Motion, times) -> Motion:
    """The pose at each of `times` (seconds, strictly increasing), as a new non-looping Motion.

    Root position and revolute angles are interpolated linearly, rotations with SLERP, as
    pybullet's HumanoidPoseInterpolator does. Times outside the clip wrap around ("wrap" clips,
    the root advancing by the clip's horizontal displacement each cycle) or hold the end pose.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) < 1 or not np.isfinite(times).all():
        raise ValueError(f"times must be a non-empty 1-D array of finite seconds, got shape {times.shape}")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must be strictly increasing")
    local, cycles = _clip_times(motion, times)
    key = motion.times
    step = motion.root_pos[-1] - motion.root_pos[0]
    step[1] = 0.0  # cycles advance horizontally only
    root_pos = np.stack([np.interp(local, key, motion.root_pos[:, i]) for i in range(3)], axis=1)
    return Motion(
        name=motion.name,
        frame_durations=np.append(np.diff(times), 0.0),
        root_pos=root_pos + cycles[:, None] * step,
        root_rot=_slerp(key, motion.root_rot, local),
        joint_rots={j: _slerp(key, q, local) for j, q in motion.joint_rots.items()},
        joint_angles={j: np.interp(local, key, a) for j, a in motion.joint_angles.items()},
        loop="none",
    )


def resample(motion: Motion, fps: float, num_frames: int | None = None, start: float = 0.0) -> Motion:
    """`num_frames` frames at `fps` from `start` seconds (default: as many as fit in one pass)."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if num_frames is None:
        num_frames = int(np.floor((motion.duration - start) * fps + 1e-9)) + 1
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return sample(motion, start + np.arange(num_frames) / fps)


# ----------------------------------------------------------------------------- skeleton and FK

@dataclass(frozen=True)
class Skeleton:
    """The humanoid's kinematic tree from its URDF, in metres. Joint j drives link `names[j]`.

    The order is the URDF's, which is also pybullet's link index order (URDF_MAINTAIN_LINK_ORDER).
    """

    names: tuple  # link names, parents before children
    parents: tuple  # index of each link's parent link, -1 for the root (attached to the base)
    types: tuple  # "fixed", "spherical" or "revolute"
    offsets: np.ndarray  # (J, 3) joint position in the parent link's frame
    axes: np.ndarray  # (J, 3) unit rotation axis of revolute joints (zeros otherwise)
    head_centre: np.ndarray  # (3,) centre of the head sphere in the "neck" link frame
    head_radius: float

    def index(self, name: str) -> int:
        return self.names.index(name)


def _xyz(element, attr: str = "xyz") -> np.ndarray:
    return np.array([float(v) for v in element.get(attr).split()])


@functools.lru_cache(maxsize=4)
def load_skeleton(urdf_path=URDF_PATH, scale: float = URDF_SCALE) -> Skeleton:
    """Parse the humanoid URDF's joint tree (joint origins, types, axes) and head sphere."""
    path = Path(urdf_path)
    if not path.is_file():
        raise FileNotFoundError(f"humanoid URDF not found: {path}")
    text = path.read_bytes().replace(b"\x00", b"")  # the shipped file ends with a NUL byte
    try:
        robot = ET.fromstring(text)
    except ET.ParseError as e:
        raise ValueError(f"{path}: not valid URDF XML ({e})") from None
    names, parents, types, offsets, axes = [], [], [], [], []
    for joint in robot.iter("joint"):
        parent, child = joint.find("parent").get("link"), joint.find("child").get("link")
        names.append(child)
        parents.append(names.index(parent) if parent in names else -1)
        types.append(joint.get("type"))
        offsets.append(_xyz(joint.find("origin")) * scale)
        axis = joint.find("axis")
        axes.append(_xyz(axis) if axis is not None and types[-1] == "revolute" else np.zeros(3))
    head = robot.find("link[@name='neck']/collision")
    arrays = [np.array(offsets), np.array(axes), _xyz(head.find("origin")) * scale]
    for a in arrays:
        a.flags.writeable = False  # shared by the cache
    return Skeleton(
        names=tuple(names), parents=tuple(parents), types=tuple(types),
        offsets=arrays[0], axes=arrays[1], head_centre=arrays[2],
        head_radius=float(head.find("geometry/sphere").get("radius")) * scale,
    )


def local_rotations(motion: Motion, skeleton: Skeleton) -> np.ndarray:
    """(T, J, 3, 3) rotation of each link relative to its parent (identity for fixed joints)."""
    out = np.tile(np.eye(3), (motion.num_frames, len(skeleton.names), 1, 1))
    for j, (name, kind) in enumerate(zip(skeleton.names, skeleton.types)):
        if kind == "spherical":
            out[:, j] = Rotation.from_quat(motion.joint_rots[name]).as_matrix()
        elif kind == "revolute":
            angles = motion.joint_angles[name]
            out[:, j] = Rotation.from_rotvec(angles[:, None] * skeleton.axes[j]).as_matrix()
    return out


def forward_kinematics(motion: Motion, skeleton: Skeleton | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World position (T, J, 3) and orientation (T, J, 3, 3) of every link frame (= its joint).

    child rotation = parent rotation @ joint rotation; child position = parent position +
    parent rotation @ joint offset. The root link hangs off the base, which is placed at the
    clip's root position and rotation.
    """
    sk = skeleton or load_skeleton()
    local = local_rotations(motion, sk)
    n, J = motion.num_frames, len(sk.names)
    rot, pos = np.empty((n, J, 3, 3)), np.empty((n, J, 3))
    base_rot = Rotation.from_quat(motion.root_rot).as_matrix()
    for j, p in enumerate(sk.parents):
        parent_rot, parent_pos = (base_rot, motion.root_pos) if p < 0 else (rot[:, p], pos[:, p])
        rot[:, j] = parent_rot @ local[:, j]
        pos[:, j] = parent_pos + parent_rot @ sk.offsets[j]
    return pos, rot


# ----------------------------------------------------------------------------- OpenPose keypoints

# Body keypoints that are humanoid joints (the URDF has fixed "wrist" links at the forearm's end).
JOINT_KEYPOINTS = {
    "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
    "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
    "RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle",
    "LHip": "left_hip", "LKnee": "left_knee", "LAnkle": "left_ankle",
}
# Face keypoints: directions from the head-sphere centre in the "neck" (head) link frame
# (x forward, y up, z right); the points lie on the URDF's head sphere (radius 0.1025 m).
HEAD_DIRECTIONS = {
    "Nose": (1.0, -0.25, 0.0),
    "REye": (0.9, 0.0, 0.33), "LEye": (0.9, 0.0, -0.33),
    "REar": (-0.05, -0.05, 1.0), "LEar": (-0.05, -0.05, -1.0),
}


def head_offsets(skeleton: Skeleton) -> dict:
    """Face keypoints' positions (metres) in the head link frame, on the URDF head sphere."""
    return {k: skeleton.head_centre + skeleton.head_radius * np.asarray(d) / np.linalg.norm(d)
            for k, d in HEAD_DIRECTIONS.items()}


def body_keypoints_3d(pos: np.ndarray, rot: np.ndarray, skeleton: Skeleton | None = None) -> np.ndarray:
    """(T, 18, 3) world positions of the OpenPose body keypoints (`BODY_KEYPOINTS` order).

    Shoulders, elbows, wrists, hips, knees and ankles are the humanoid's joints. Neck is the
    shoulder midpoint, as OpenPose defines it for COCO (which has no neck). Nose, eyes and ears
    are fixed points on the head sphere, carried by the neck joint's rotation (`HEAD_DIRECTIONS`).
    """
    sk = skeleton or load_skeleton()
    out = np.empty(pos.shape[:1] + (len(BODY_KEYPOINTS), 3))
    for k, joint in JOINT_KEYPOINTS.items():
        out[:, BODY_KEYPOINTS.index(k)] = pos[:, sk.index(joint)]
    out[:, BODY_KEYPOINTS.index("Neck")] = (pos[:, sk.index("right_shoulder")] + pos[:, sk.index("left_shoulder")]) / 2
    head = sk.index("neck")
    for k, offset in head_offsets(sk).items():
        out[:, BODY_KEYPOINTS.index(k)] = pos[:, head] + rot[:, head] @ offset
    return out


# A flat open right hand in the wrist link frame (metres; x forward = thumb side, y up, so the
# fingers point along -y like the forearm, z right = the back of a right hand when the arm hangs).
# Lengths fit the humanoid's 1.6-m size (hand length 0.18 m); left hands mirror z. This is a
# template, not data: the humanoid's wrists are fixed, so hands follow the forearm rigidly.
RIGHT_HAND_TEMPLATE = np.array([
    (0.000, 0.000, 0.000),  # wrist
    (0.022, -0.025, -0.012), (0.040, -0.050, -0.020), (0.055, -0.075, -0.024), (0.066, -0.098, -0.026),
    (0.030, -0.090, 0.0), (0.032, -0.132, 0.0), (0.033, -0.157, 0.0), (0.034, -0.177, 0.0),
    (0.010, -0.094, 0.0), (0.010, -0.140, 0.0), (0.010, -0.168, 0.0), (0.010, -0.190, 0.0),
    (-0.010, -0.090, 0.0), (-0.011, -0.133, 0.0), (-0.012, -0.160, 0.0), (-0.012, -0.181, 0.0),
    (-0.028, -0.082, 0.0), (-0.030, -0.114, 0.0), (-0.031, -0.133, 0.0), (-0.032, -0.150, 0.0),
])
assert len(RIGHT_HAND_TEMPLATE) == len(HAND_KEYPOINTS)


def hand_keypoints_3d(pos: np.ndarray, rot: np.ndarray, side: str, skeleton: Skeleton | None = None) -> np.ndarray:
    """(T, 21, 3) world positions of the OpenPose hand keypoints of the "left" or "right" hand."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    sk = skeleton or load_skeleton()
    template = RIGHT_HAND_TEMPLATE * (1, 1, 1 if side == "right" else -1)
    wrist = sk.index(f"{side}_wrist")
    return pos[:, wrist, None] + template @ np.swapaxes(rot[:, wrist], 1, 2)


def keypoints_3d(motion: Motion, skeleton: Skeleton | None = None) -> dict:
    """OpenPose keypoints of every frame: {"body": (T, 18, 3), "left_hand", "right_hand": (T, 21, 3)}."""
    sk = skeleton or load_skeleton()
    pos, rot = forward_kinematics(motion, sk)
    return {
        "body": body_keypoints_3d(pos, rot, sk),
        "left_hand": hand_keypoints_3d(pos, rot, "left", sk),
        "right_hand": hand_keypoints_3d(pos, rot, "right", sk),
    }
