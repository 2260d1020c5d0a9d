"""Mani4D-mini: small synthetic clips in the structure of the paper's curriculum data (§3.3, Table 1).

This module starts with the paper's optional "object multiview" data (rotating textured objects,
ScannedGoogle in the paper): one object moves along a smooth random 6-DoF trajectory in front of
a fixed camera. Each clip gives the RGB video, the per-frame RCM, the object mask and the object's
RCM-cache: what the model needs to learn to texture an object from its cache by RCM matching.
"""
from __future__ import annotations

import dataclasses
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


# ---------------------------------------------------------------------------------- people and hands
#
# Stage I   (human pose):        a person moving (DeepMimic clip), no object, camera tracking them.
# Stage II  (hand-object):       a close-up of a right hand that approaches an object resting on a
#                                table, grasps it, lifts and turns it; the camera moves around them.
# Stage III (human-object):      a person standing at a table (a DeepMimic clip, its travel, turning
#                                and pose damped to a quarter: `settle`) reaches for an object on the
#                                table in front, grasps it, lifts it towards the camera, turns it in the hand about the vertical
#                                by 90-150 degrees and hands it over to the left hand (`HOI_PHASES`).
#                                Upper-body framing, as in product-demo videos, from a still camera
#                                (`interaction_camera`): the object covers 14-18 % of the image at
#                                the default object size (metrics/data.json).
# test                            Stage III clips with identities and objects never seen in training.
# objmv     (object multiview):  the paper's optional stage (ScannedGoogle): a textured object turning
#                                in front of the camera, no person (`object_only_clip`).
#
# Every frame is rendered once in colour and once as segment labels (person / hands / object /
# backdrop) from the same scene, so masks, depth, RGB and RCM agree pixel for pixel. A held object's
# pose is always the holding hand's frame times a fixed grasp offset (`scene.palm_grasp`).

from . import motion as mo  # noqa: E402
from . import openpose, render, scene  # noqa: E402
from .geometry import look_at, transform  # noqa: E402

# COCO-18 bones drawn as capsules: (a, b, radius m, part) — part picks the identity colour
BODY_BONES = [(1, 2, 0.05, "shirt"), (1, 5, 0.05, "shirt"), (2, 3, 0.042, "shirt"), (5, 6, 0.042, "shirt"),
              (3, 4, 0.034, "skin"), (6, 7, 0.034, "skin"), (1, 8, 0.085, "shirt"), (1, 11, 0.085, "shirt"),
              (8, 11, 0.08, "trousers"), (8, 9, 0.06, "trousers"), (11, 12, 0.06, "trousers"),
              (9, 10, 0.05, "trousers"), (12, 13, 0.05, "trousers")]
HEAD_RADIUS = 0.1025  # the humanoid URDF's head sphere (metres)
OPEN_HAND = 0.25  # finger curl of a hand that holds nothing (scene.hand_keypoints closure)
REST_GAP = 0.002  # metres between a resting object and its support: no depth ties where they touch
UP = np.array([0.0, 1.0, 0.0])  # world up (DeepMimic and the Stage II table scene)


@dataclass
class Frames:
    """Everything rendered for one clip, before it is written in the clip format (byteloom.data)."""

    rgb: np.ndarray
    rcm: np.ndarray
    skeleton: np.ndarray
    depth: np.ndarray
    mask_human: np.ndarray
    mask_object: np.ndarray
    mask_hands: np.ndarray
    body: np.ndarray  # (T, 18, 3) pixel keypoints + confidence
    hands: np.ndarray  # (T, 2, 21, 3) left, right
    poses: np.ndarray | None  # (T, 4, 4) obj_to_cam
    reference: np.ndarray  # (H, W, 3)
    phases: list | None = None  # per frame: the interaction phase (HOI_PHASES / CLOSEUP_PHASES names)
    holder: list | None = None  # per frame: which hand holds the object: "none", "right", "both", "left"
    hands_to_cam: dict | None = None  # {"left", "right"}: (T, 4, 4) hand frames (scene.hand_frame axes)
    world_to_cam: np.ndarray | None = None  # (T, 4, 4) the camera of each frame (world y up)


class Actor:
    """The rigid meshes of one identity's body, head and hands, built once per clip."""

    def __init__(self, identity: scene.Identity, body0: np.ndarray):
        colors = {"shirt": identity.shirt, "skin": identity.skin, "trousers": identity.trousers}
        self.bones = [(a, b, scene.capsule(np.linalg.norm(body0[b] - body0[a]), r, colors[part]))
                      for a, b, r, part in BODY_BONES]
        self.head = scene.head_mesh(HEAD_RADIUS, identity)
        self.hands = {side: scene.hand_meshes(identity.skin) for side in ("left", "right")}

    def items(self, r: render.Renderer, body: np.ndarray, hand_frames: dict, closure: dict, world_to_cam):
        """[(node, obj_to_cam, kind)] of this actor at one frame; body (18, 3) world points."""
        node = lambda m: r.node(m, "rgb", lambda: render.textured_mesh(m))  # noqa: E731
        out = [(node(m), world_to_cam @ scene.bone_pose(body[a], body[b]), "human") for a, b, m in self.bones]
        ears = (body[16] + body[17]) / 2
        up = ears - body[1]
        up /= np.linalg.norm(up)
        head = scene.head_pose(ears - 0.6 * HEAD_RADIUS * up, ears + 0.6 * HEAD_RADIUS * up, body[0] - ears)
        out.append((node(self.head), world_to_cam @ head, "human"))
        for side, frame in hand_frames.items():
            for m, p in zip(self.hands[side], scene.hand_poses(closure[side], side=side)):
                out.append((node(m), world_to_cam @ frame @ p, "hand"))
        return out


def wrist_frames(pos: np.ndarray, rot: np.ndarray, side: str) -> np.ndarray:
    """(T, 4, 4) hand-to-world frames at the humanoid's wrist, oriented like its hand template."""
    sk = mo.load_skeleton()
    tpl = mo.RIGHT_HAND_TEMPLATE * (1, 1, 1 if side == "right" else -1)
    fingers = tpl[9] - tpl[0]
    # the hand frame's z is the back of the hand (its fingers curl towards -z): the template's palm
    # faces along cross(index knuckle, little knuckle) for a right hand, so the back is minus that
    back = -np.cross(tpl[5] - tpl[0], tpl[17] - tpl[0]) * (1 if side == "right" else -1)
    w = sk.index(f"{side}_wrist")
    return np.stack([scene.hand_frame(pos[t, w], rot[t, w] @ fingers, rot[t, w] @ back) for t in range(len(pos))])


def _project(points, world_to_cam, K, size) -> np.ndarray:
    """[u, v, visible] of world points: visible when in front of the camera and inside the image."""
    kp = openpose.project_keypoints(points, K, world_to_cam, size=size)
    return kp


def _render_frame(r, items, obj_mesh, obj_pose, K, size):
    rgb, depth = r.render([(n, p) for n, p, _ in items], K, render.LIT)
    labels, _ = r.render([(n, p) for n, p, _ in items], K, seg=True)
    kinds = np.array(["background"] + [k for _, _, k in items])
    kind_map = kinds[labels]
    rcm_img = np.zeros_like(rgb) if obj_mesh is None else rcm.render_rcm(obj_mesh, obj_pose, K, size, renderer=r).image
    return rgb, depth, rcm_img, kind_map == "human", kind_map == "object", kind_map == "hand"


def _stack(frames: list[dict], **extra) -> Frames:
    return Frames(**{k: np.stack([f[k] for f in frames]) for k in frames[0]}, **extra)


# ---------------------------------------------------------------------------------- interaction phases
#
# A clip with an object is a sequence of phases, each a run of whole frames, in the order listed.
# Phase lengths scale with the clip length (the weights; at the default 9 frames each weight is a
# frame count) and every phase keeps at least one frame while the clip has enough frames; shorter
# clips keep the phases that come first in PHASE_PRIORITY.

HOI_PHASES = {"rest": 1, "reach": 2, "grasp": 1, "lift": 1, "turn": 2, "handover": 2}  # Stage III, test
CLOSEUP_PHASES = {"approach": 3, "grasp": 2, "turn": 4}  # Stage II
PHASE_PRIORITY = ("grasp", "reach", "approach", "turn", "handover", "lift", "rest")
HOLDERS = ("none", "right", "both", "left")


def phase_schedule(frames: int, weights: dict) -> list[str]:
    """The phase of each of `frames` frames: one run per phase, in order, lengths proportional to `weights`."""
    names = list(weights)
    if frames < len(names):  # too short for every phase: keep the most important ones, in order
        kept = set(sorted(names, key=PHASE_PRIORITY.index)[:frames])
        return [n for n in names if n in kept]
    w = np.array([weights[n] for n in names], dtype=float)
    quota = frames * w / w.sum()
    counts = np.maximum(np.floor(quota).astype(int), 1)
    while counts.sum() > frames:  # the one-frame minimum took frames from the long phases
        counts[np.argmax(np.where(counts > 1, counts - quota, -np.inf))] -= 1
    while counts.sum() < frames:  # largest remainder first
        counts[np.argmax(quota - counts)] += 1
    return [n for n, c in zip(names, counts) for _ in range(c)]


def phase_progress(phases: list[str]) -> np.ndarray:
    """(T,) how far each frame is through its phase: (k + 1) / n for the k-th of its n frames."""
    phases = np.asarray(phases)
    out = np.empty(len(phases))
    for name in set(phases.tolist()):
        idx = np.flatnonzero(phases == name)
        out[idx] = (np.arange(len(idx)) + 1) / len(idx)
    return out


def _ease(x):
    """Smoothstep: 0 -> 0 and 1 -> 1 with zero speed at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _in_frames(point, frames: np.ndarray) -> np.ndarray:
    """(T, 3) one local point seen in each of (T, 4, 4) frames."""
    return frames[:, :3, :3] @ np.asarray(point, float) + frames[:, :3, 3]


def _lowest(mesh, poses: np.ndarray) -> np.ndarray:
    """(T,) the lowest world height (y) of `mesh` at each obj_to_world pose."""
    hull = mesh.convex_hull.vertices
    return np.array([transform(hull, p)[:, 1].min() for p in poses])


# ---------------------------------------------------------------------------------- reaching arms


def arm_ik(m: mo.Motion, side: str, goals: np.ndarray, weights: np.ndarray) -> mo.Motion:
    """`m` with one arm bent so that its wrist reaches lerp(own wrist, goal, weight) at each frame.

    Two-bone IK on the humanoid (its upper arm and forearm are collinear at elbow angle 0): the
    elbow angle gives the shoulder-wrist distance (law of cosines), then the smallest rotation of
    the shoulder points the arm at the goal, which keeps the motion's own arm swivel. A goal out of
    reach straightens the arm towards it. Frames of weight 0 keep the motion's arm.
    """
    sk = mo.load_skeleton()
    sh, el, wr = (sk.index(f"{side}_{j}") for j in ("shoulder", "elbow", "wrist"))
    upper, fore = sk.offsets[el].copy(), sk.offsets[wr].copy()  # elbow in the shoulder link, wrist in the elbow link
    a, b = np.linalg.norm(upper), np.linalg.norm(fore)
    reach = (np.sqrt(a * a + b * b + 2 * a * b * np.cos(2.5)), a + b - 1e-4)  # elbow bent at most 2.5 rad
    pos, rot = mo.forward_kinematics(m, sk)
    quats = m.joint_rots[f"{side}_shoulder"].copy()
    angles = m.joint_angles[f"{side}_elbow"].copy()
    for t in np.flatnonzero(weights > 0):
        goal = pos[t, wr] + weights[t] * (goals[t] - pos[t, wr])
        d = np.clip(np.linalg.norm(goal - pos[t, sh]), *reach)
        angles[t] = np.arccos(np.clip((d * d - a * a - b * b) / (2 * a * b), -1.0, 1.0))
        wrist = rot[t, sh] @ (upper + Rotation.from_rotvec(angles[t] * sk.axes[el]).apply(fore))  # world, from the shoulder
        turn, _ = Rotation.align_vectors([goal - pos[t, sh]], [wrist])
        quats[t] = Rotation.from_matrix(rot[t, sk.parents[sh]].T @ turn.as_matrix() @ rot[t, sh]).as_quat()
    return dataclasses.replace(m, joint_rots={**m.joint_rots, f"{side}_shoulder": quats},
                               joint_angles={**m.joint_angles, f"{side}_elbow": angles})


def body_frames(body: np.ndarray) -> np.ndarray:
    """(T, 4, 4) a frame per pose of (T, 18, 3) body keypoints: at the neck, axes forward, up, right."""
    right = body[:, 2] - body[:, 5]  # left shoulder -> right shoulder, made level
    right[:, 1] = 0.0
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    T = np.tile(np.eye(4), (len(body), 1, 1))
    T[:, :3, 0], T[:, :3, 1], T[:, :3, 2], T[:, :3, 3] = np.cross(UP, right), UP, right, body[:, 1]
    return T


# Where things go in interaction clips, in the body frame (forward, up, right; metres from the neck
# keypoint). The framing of Stage III / test is built around them: a person at a table picks the
# object up and shows it to the camera in front of the chest, as in product-demo videos.
PICK_SPOT = np.array([0.34, -0.28, 0.16])  # the right wrist, grasping the object on a table in front, to the right
SHOW_SPOT = np.array([0.42, -0.12, 0.06])  # the held object's centre: held out in front of the chest, shown
HANDOVER_SPOT = np.array([0.38, -0.14, -0.04])  # the object's centre when the left hand takes it
SETTLE = 0.25  # the share of the motion's travel and turning kept in interaction clips: the person stays at the table
POSE_KEEP = 0.25  # the share of the motion's pose kept there, around an upright standing pose (`settle`)
TURN_DEG = (90.0, 150.0)  # the in-hand turn about the vertical during "turn" (either direction)
TILT_DEG = (10.0, 30.0)  # while lifting, the object's top is tipped towards the front by this much


def _yaw(forward: np.ndarray) -> np.ndarray:
    """(T,) unwrapped heading (radians about world up, 0 facing +x) of (T, 3) forward vectors."""
    return np.unwrap(np.arctan2(-forward[:, 2], forward[:, 0]))


def _about_up(angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` radians about world up (y)."""
    return Rotation.from_rotvec([0.0, angle, 0.0]).as_matrix()


def settle(m: mo.Motion, frame: int, keep: float = SETTLE, pose_keep: float = POSE_KEEP) -> mo.Motion:
    """`m` calmed down for an interaction clip: a person who picks an object up from a table and
    shows it stands at the table, as in product-demo videos.

    The horizontal travel and the turning about the vertical are scaled by `keep` around `frame`
    (the root drifts and turns only a little). The pose itself keeps `pose_keep` of the motion
    around an upright standing pose (the humanoid's zero pose, arms down): every joint rotation and
    the root's lean are scaled along their rotation vectors, the pelvis height around its median.
    The arms are then bent to their goals by `plan_interaction`. (With the whole motion kept, a
    dance or a kick threw the body across the still camera's frame between two frames, and the
    repeated reference and every trained model scored near chance: README, "The benchmark".)
    """
    R = Rotation.from_quat(m.root_rot)
    d = _yaw(R.apply([1.0, 0.0, 0.0]))
    d = d - d[frame]
    fix = Rotation.from_rotvec(np.outer(-(1 - keep) * d, UP))  # undo (1 - keep) of each frame's turn
    R = fix * R
    heading = Rotation.from_rotvec(np.outer(_yaw(R.apply([1.0, 0.0, 0.0])), UP))  # upright, same heading
    lean = Rotation.from_rotvec((heading.inv() * R).as_rotvec() * pose_keep)
    root_pos = m.root_pos.copy()
    root_pos[:, [0, 2]] = m.root_pos[frame, [0, 2]] + keep * (m.root_pos[:, [0, 2]] - m.root_pos[frame, [0, 2]])
    height = np.median(m.root_pos[:, 1])
    root_pos[:, 1] = height + pose_keep * (m.root_pos[:, 1] - height)
    joint_rots = {k: Rotation.from_rotvec(Rotation.from_quat(q).as_rotvec() * pose_keep).as_quat()
                  for k, q in m.joint_rots.items()}
    joint_angles = {k: a * pose_keep for k, a in m.joint_angles.items()}
    return dataclasses.replace(m, root_pos=root_pos, root_rot=(heading * lean).as_quat(), joint_rots=joint_rots,
                               joint_angles=joint_angles)


@dataclass
class Interaction:
    """A full-body clip's hand-object interaction (world frame of the motion, y up)."""

    motion: mo.Motion  # the clip's motion (`settle`d) with the arms bent towards their goals
    hands: dict  # side -> (T, 4, 4) hand-to-world frames
    closure: dict  # side -> (T,) finger curl: closed only while holding (closing during "grasp")
    objects: np.ndarray  # (T, 4, 4) obj_to_world
    holder: list  # per frame: "none", "right", "both" or "left"
    grasp: dict  # side -> (4, 4) the fixed grasp offset of that hand (object pose = hand frame @ offset)
    support: np.ndarray  # (4, 4) support_to_world of the table: its top face is at y = support[1, 3]
    support_radius: float
    turn: float = 0.0  # radians: the in-hand turn about the vertical over the "turn" phase (signed)
    tilt: float = 0.0  # radians: the tip towards the front while lifting


def plan_interaction(m: mo.Motion, obj, phases: list[str], rng: np.random.Generator,
                     closure: float = 0.7) -> Interaction:
    """Phase by phase (`HOI_PHASES`), where the arms, the hands and the object are.

    The motion is `settle`d around the grasp first (the person stays at the table). rest: the
    object stands upright on a table in front of the person, to the right; the hands are open.
    reach: the right wrist is blended from the motion's own towards the pick spot (IK), the hand
    rolls palm down. grasp: the hand closes; at the last grasp frame the grasp offset is fixed (the
    palm touches the object) and from then on the object is the hand frame times that offset.
    lift: the object comes up to the show spot, held out in front of the chest, its top tipped
    towards the front by 10-30 degrees. turn: the hand turns the object about the vertical through
    its centre by 90-150 degrees (either way), showing sides that the first view did not; the
    object stays at the show spot, which moves with the body. handover: the right hand brings the
    object in front of the chest, the left hand comes to it (`_left_takes_over`) and closes; from
    that frame ("both") the object follows the left hand, and the right hand opens and returns to
    the motion's arm. Legs, trunk and head keep the motion. With fewer frames than phases some
    phases are left out (`phase_schedule`).
    """
    T = len(phases)
    ph, prog, frames = np.asarray(phases), phase_progress(phases), np.arange(T)
    at = {name: np.flatnonzero(ph == name) for name in HOI_PHASES}
    g = int(at["grasp"][-1])  # the grasp offset is fixed here
    h = at["handover"]
    tx = int(h[int(np.ceil(2 * len(h) / 3)) - 1]) if len(h) else None  # the left hand takes over here
    m = settle(m, g)
    pos, rot = mo.forward_kinematics(m)
    B = body_frames(mo.body_keypoints_3d(pos, rot))  # the arms' goals move with the body
    pick = transform(PICK_SPOT + rng.uniform(-0.03, 0.03, 3), B[g])  # world-fixed: the object waits there
    show = _in_frames(SHOW_SPOT + rng.uniform(-0.03, 0.03, 3), B)  # (T, 3): these move with the body
    give = _in_frames(HANDOVER_SPOT + rng.uniform(-0.03, 0.03, 3), B)
    turn_by = rng.choice([-1, 1]) * np.radians(rng.uniform(*TURN_DEG))
    tilt_by = np.radians(rng.uniform(*TILT_DEG))
    heading = Rotation.from_rotvec([0, rng.uniform(0, 2 * np.pi), 0]).as_matrix()  # the object's, on the table

    def progress(name):  # 0 before the phase, easing to 1 over it, 1 after it
        out = np.zeros(T)
        if len(at[name]):
            out[at[name]] = _ease(prog[at[name]])
            out[at[name][-1] + 1:] = 1.0
        return out

    lifted, turned = progress("lift"), progress("turn")
    lifted[g + 1:] = np.maximum(lifted[g + 1:], 1.0 if not len(at["lift"]) else 0.0)  # no lift phase: lifted at once

    # reach and grasp: the right wrist's goal and blend weight (weight 0: the motion's own arm)
    goal, weight = np.zeros((T, 3)), np.zeros(T)
    r = at["reach"]
    goal[r], weight[r] = pick, _ease(prog[r] * len(r) / (len(r) + 1))  # arrives at the grasp phase
    goal[at["grasp"]], weight[at["grasp"]] = pick, 1.0
    pos_g, rot_g = mo.forward_kinematics(arm_ik(m, "right", goal, weight))
    wrist_g = wrist_frames(pos_g, rot_g, "right")
    palm_down = scene.roll_to_face(wrist_g[g], -UP)  # the hand comes down onto the object
    angle = np.where(ph == "rest", 0.0, palm_down)
    angle[r] = palm_down * weight[r]
    hand_g = wrist_g[g] @ scene.roll(palm_down)
    grasp_r = scene.palm_grasp(obj, hand_g[:3, :3], heading)
    c0 = transform(obj.bounds.mean(axis=0), hand_g @ grasp_r)  # the object's centre at rest
    c_in_hand = transform(c0, np.linalg.inv(hand_g))

    # held by the right hand (g < t <= tx): the object's centre and the hand's rotation, then the
    # wrist that puts them there. The rotation: tipped about the body's right axis while lifting,
    # then turned about the vertical (world up) while turning.
    hold_r = (frames >= g) & (frames <= (T if tx is None else tx))
    hold_l = frames >= (T if tx is None else tx)
    centre = c0 + lifted[:, None] * (show - c0)
    if tx is not None:
        give_in, after = h[h <= tx], h[h > tx]
        s = _ease(np.arange(1, len(give_in) + 1) / len(give_in))[:, None]
        centre[give_in] = show[give_in] + s * (give[give_in] - show[give_in])
    tip_axis = B[g, :3, 2]  # the body's right: a negative turn about it tips the top forwards
    hold_rot = np.stack([_about_up(turn_by * turned[t])
                         @ Rotation.from_rotvec(-tilt_by * lifted[t] * tip_axis).as_matrix() @ hand_g[:3, :3]
                         for t in frames])
    held = np.flatnonzero(hold_r & (frames > g))
    goal[held] = centre[held] - np.einsum("tij,j->ti", hold_rot[held], c_in_hand)
    weight[held] = 1.0
    if tx is not None and len(after):  # the right hand lets go and goes back to the motion's arm
        goal[after] = _in_frames(transform(goal[tx], np.linalg.inv(B[tx])), B[after])
        weight[after] = 1.0 - np.arange(1, len(after) + 1) / (len(after) + 1)

    def solve(raised):
        """Arms, hands and object, with the held object raised by `raised` (T,) metres."""
        mr = arm_ik(m, "right", goal + raised[:, None] * UP * hold_r[:, None], weight)
        pos, rot = mo.forward_kinematics(mr)
        wrist = wrist_frames(pos, rot, "right")
        right = np.stack([wrist[t] @ scene.roll(angle[t]) for t in frames])
        right[held, :3, :3] = hold_rot[held]  # the wrist is where the IK put it, the hand turns the object
        if tx is not None:
            for k, t in enumerate(after):  # the released hand turns back to the motion's wrist
                back = Rotation.from_matrix(hold_rot[tx].T @ wrist[t, :3, :3])
                right[t, :3, :3] = hold_rot[tx] @ Rotation.from_rotvec((k + 1) / (len(after) + 1) * back.as_rotvec()).as_matrix()
        objects = np.stack([right[g] @ grasp_r if t < g else right[t] @ grasp_r for t in frames])
        if tx is None:
            return mr, right, wrist_frames(pos, rot, "left"), objects, {"right": grasp_r}
        ml, left, grasp_l = _left_takes_over(mr, obj, objects, right, h, tx, B, raised)
        objects[tx + 1:] = left[tx + 1:] @ grasp_l
        return ml, right, left, objects, {"right": grasp_r, "left": grasp_l}

    # a held object must stay above the table top (then the table, below that plane, never hides it
    # from a camera above the plane): raise the wrist where it would dip, and solve again
    raised = np.zeros(T)
    for _attempt in range(4):
        motion, right, left, objects, grasp = solve(raised)
        top = _lowest(obj, objects[g:g + 1])[0] - REST_GAP  # the table top, under the resting object
        deficit = np.zeros(T)
        deficit[g + 1:] = np.maximum(top + 0.01 - _lowest(obj, objects[g + 1:]), 0.0)
        if not deficit.any():
            break
        raised += deficit
    rest = objects[g]
    centre = transform(obj.bounds.mean(axis=0), rest)
    support = np.eye(4)
    support[:3, 3] = [centre[0], top, centre[2]]
    spread = np.linalg.norm((transform(obj.convex_hull.vertices, rest) - centre)[:, [0, 2]], axis=1).max()
    closure_r = np.where(hold_r, closure, OPEN_HAND)
    closure_r[at["grasp"]] = OPEN_HAND + prog[at["grasp"]] * (closure - OPEN_HAND)
    holder = np.where(hold_r & hold_l, "both", np.where(hold_r, "right", np.where(hold_l, "left", "none")))
    return Interaction(motion=motion, hands={"left": left, "right": right}, objects=objects, holder=holder.tolist(),
                       closure={"left": np.where(hold_l, closure, OPEN_HAND), "right": closure_r}, grasp=grasp,
                       support=support, support_radius=float(spread) + 0.02, turn=float(turn_by), tilt=float(tilt_by))


def _left_takes_over(m: mo.Motion, obj, objects, right, handover, tx: int, B, raised):
    """The left arm of the hand-over: its palm reaches the object's side towards the left shoulder
    (and away from the right palm) at frame `tx`, turned to face it, then holds it where it is
    relative to the body.

    Returns (motion, left hand frames (T, 4, 4), the left grasp offset fixed at `tx`).
    """
    T = len(objects)
    give_in, after = handover[handover <= tx], handover[handover > tx]
    weight = np.zeros(T)
    weight[give_in] = _ease(np.arange(1, len(give_in) + 1) / len(give_in))
    weight[after] = 1.0
    palm_at, facing = np.zeros((T, 3)), np.zeros((T, 3))
    hull = obj.convex_hull.vertices
    pos, _ = mo.forward_kinematics(m)
    shoulder = pos[:, mo.load_skeleton().index("left_shoulder")]
    unit = lambda v: v / max(np.linalg.norm(v), 1e-9)  # noqa: E731
    for t in give_in:  # the left palm comes to the side of the object that faces the left shoulder and
        c = transform(obj.bounds.mean(axis=0), objects[t])  # is away from the right palm
        n = unit(unit(shoulder[t] - c) + unit(c - transform(scene.PALM_CENTRE, right[t])))
        palm_at[t], facing[t] = c + ((transform(hull, objects[t]) - c) @ n).max() * n, -n

    def hand(ml):
        pos, rot = mo.forward_kinematics(ml)
        wrist = wrist_frames(pos, rot, "left")
        angle = np.zeros(T)
        for t in give_in:
            angle[t] = weight[t] * scene.roll_to_face(wrist[t], facing[t])
        angle[after] = scene.roll_to_face(wrist[tx], facing[tx])
        return np.stack([wrist[t] @ scene.roll(angle[t]) for t in range(T)])

    goal = palm_at.copy()  # first guess: the wrist where the palm should be; corrected by the palm's offset
    for _ in range(3):
        left = hand(arm_ik(m, "left", goal, weight))
        goal[give_in] += palm_at[give_in] - _in_frames(scene.PALM_CENTRE, left[give_in])
    hold = transform(goal[tx], np.linalg.inv(B[tx]))  # after tx the wrist stays put relative to the body
    goal[after] = _in_frames(hold, B[after]) + raised[after, None] * UP
    ml = arm_ik(m, "left", goal, weight)
    left = hand(ml)
    return ml, left, np.linalg.inv(left[tx]) @ objects[tx]


CAMERA_YAW = np.radians(35)  # interaction clips: the camera is at most this far round from the person's front
CAMERA_DIST = (0.7, 0.85)  # metres from the point it looks at
CAMERA_AIM = 0.5  # it looks at this far from the neck towards the held object's centre


def interaction_camera(body: np.ndarray, centres: np.ndarray, grasp: int, yaw: float, table_top: float,
                       turn: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(T, 4, 4) world_to_cam of a Stage III / test clip, and its distance to what it looks at.

    Upper-body framing around the interaction, as in product-demo videos, from a camera on a
    tripod: one pose for the whole clip, so the first frame is the reference image's view and the
    background stays put. It looks at a point between the neck and the object's centre
    (`centres`, (T, 3); CAMERA_AIM), averaged over all frames, from CAMERA_DIST,
    which at the default 40 degree field of view frames about 0.7 m at the person: head to hips,
    the held object large in front (the table and the resting object at the bottom edge). It stands
    `yaw` radians round from the person's front at the grasp frame, slightly from above, never
    lower than 0.1 m over the table top (the table cannot hide a held object). `turn` is unused by
    a still camera: the in-hand turn alone shows the object's other sides. (A camera that dollied in as the object
    came up was tried: the reference then shows another framing than the video, and both the
    repeated reference and the trained models scored lower SSIM to the ground truth; README.)
    """
    T = len(body)
    forward = body_frames(body)[grasp, :3, 0]
    rng.uniform(0.0, 0.15)  # (the draw of a former pan; kept so every later draw of a clip is unchanged)
    az = np.arctan2(forward[2], forward[0]) + yaw
    dist = rng.uniform(*CAMERA_DIST)
    above = rng.uniform(0.0, 0.1)
    target = (body[:, 1] + CAMERA_AIM * (centres - body[:, 1])).mean(axis=0)
    eye = target + dist * np.array([np.cos(az), 0.0, np.sin(az)]) + above * UP
    eye[1] = max(eye[1], table_top + 0.1)
    return np.repeat(look_at(eye, target)[None], T, axis=0), float(dist)


def human_clip(identity: scene.Identity, motion_name: str, frames: int, size, seed: int, fps: float = 15.0,
               obj=None, fov_deg: float = 40.0, closure: float = 0.7) -> Frames:
    """Stage I (obj=None) or Stage III / test clip (obj = a trimesh picked up and handed over, `plan_interaction`)."""
    rng = np.random.default_rng(seed)
    clip = mo.load_motion(motion_name)
    start = rng.uniform(0, max(clip.duration - (frames - 1) / fps, 0))
    m = mo.resample(clip, fps, frames, start=start)
    K = intrinsics_from_fov(size, fov_deg)
    # Stage I: the camera tracks the person's pelvis from a random direction in front, at a fixed height
    yaw = rng.uniform(-np.pi / 3, np.pi / 3)
    view_dir = np.array([np.cos(yaw), 0.0, np.sin(yaw)])  # the humanoid faces +x at rest
    dist = 0.8 / np.tan(np.radians(fov_deg) / 2)  # frames about 1.6 m: the person from the shins up
    hoi = phases = None
    if obj is None:
        pos, rot = mo.forward_kinematics(m)
        hands = {s: wrist_frames(pos, rot, s) for s in ("left", "right")}
        close = {s: np.full(frames, OPEN_HAND) for s in hands}
        body = mo.body_keypoints_3d(pos, rot)
        root = pos[:, 0] * [1, 0, 1] + 1.0 * UP
        world_to_cam = np.stack([look_at(c + dist * view_dir + [0, 0.1, 0], c) for c in root])
    else:
        phases = phase_schedule(frames, HOI_PHASES)
        hoi = plan_interaction(m, obj, phases, rng, closure)
        pos, rot = mo.forward_kinematics(hoi.motion)
        hands, close = hoi.hands, hoi.closure
        body = mo.body_keypoints_3d(pos, rot)
        world_to_cam, dist = interaction_camera(body, _in_frames(obj.bounds.mean(axis=0), hoi.objects),
                                                int(np.flatnonzero(np.asarray(phases) == "grasp")[-1]),
                                                yaw * CAMERA_YAW / (np.pi / 3), hoi.support[1, 3], hoi.turn, rng)
    actor = Actor(identity, body[0])
    r = render.get_renderer(tuple(size))
    node = lambda m: r.node(m, "rgb", lambda: render.textured_mesh(m))  # noqa: E731
    wall = scene.backdrop(seed, distance=dist + (2.5 if hoi is None else 2.0))
    wall_to_cam = np.tile(np.eye(4), (frames, 1, 1))  # Stage I: the backdrop moves with the camera
    if hoi is not None:  # interaction clips: it stays in the world, where the camera sees it at the grasp,
        g = int(np.flatnonzero(np.asarray(phases) == "grasp")[-1])  # so the camera's moves show against it
        wall_to_cam = world_to_cam @ np.linalg.inv(world_to_cam[g])
    if hoi is not None:
        table = scene.support(hoi.support_radius, hoi.support[1, 3], _table_color(seed))
    out, ref = [], None
    for t in range(frames):
        c = {s: close[s][t] for s in hands}
        items = actor.items(r, body[t], {s: hands[s][t] for s in hands}, c, world_to_cam[t])
        items.append((node(wall), wall_to_cam[t], "background"))
        obj_pose = None
        if hoi is not None:
            items.append((node(table), world_to_cam[t] @ hoi.support, "background"))
            obj_pose = world_to_cam[t] @ hoi.objects[t]
            items.append((node(obj), obj_pose, "object"))
        rgb, depth, rcm_img, m_h, m_o, m_hd = _render_frame(r, items, obj, obj_pose, K, size)
        if ref is None:  # the reference: the person at frame 0, without the object
            ref = r.render([(n, p) for n, p, k in items if k != "object"], K, render.LIT)[0]
        kp_body = _project(body[t], world_to_cam[t], K, size)
        kp_hands = np.stack([_project(transform(scene.hand_keypoints(c[s], side=s), hands[s][t]), world_to_cam[t], K, size)
                             for s in ("left", "right")])
        out.append(dict(rgb=rgb, rcm=rcm_img, depth=depth, mask_human=m_h | m_hd, mask_object=m_o, mask_hands=m_hd,
                        body=kp_body, hands=kp_hands,
                        skeleton=openpose.draw_skeleton(kp_body, hands=list(kp_hands), size=tuple(size))))
    poses = None if hoi is None else world_to_cam @ hoi.objects
    return _stack(out, poses=poses, reference=ref, phases=phases, holder=None if hoi is None else hoi.holder,
                  hands_to_cam={s: world_to_cam @ hands[s] for s in hands}, world_to_cam=world_to_cam)


def _table_color(seed: int) -> tuple:
    """A muted wood-like colour per clip."""
    rng = np.random.default_rng([seed, 7])
    return tuple(int(v) for v in np.array([150, 110, 75]) * rng.uniform(0.6, 1.2) + rng.integers(-20, 20, 3))


def hand_object_clip(identity: scene.Identity, obj, frames: int, size, seed: int, fov_deg: float = 40.0) -> Frames:
    """Stage II: a close-up of a right hand that approaches `obj`, grasps it and turns it (`CLOSEUP_PHASES`).

    World: y up, a table top is the plane y = 0 and the object stands on it, upright, until the
    hand has closed. approach: the open hand comes in from 12 cm away, palm towards the object from
    above and the side. grasp: it closes; at the last grasp frame the grasp offset is fixed (the
    palm touches the object). turn: the hand lifts the object clear of the table, then turns it
    about the finger axis through the object's centre. The camera looks at the object from a
    distance proportional to the object's size (hand and object stay in frame whatever the object
    extent) and moves around it during the clip.
    """
    rng = np.random.default_rng(seed)
    K = intrinsics_from_fov(size, fov_deg)
    phases = phase_schedule(frames, CLOSEUP_PHASES)
    ph, prog, T = np.asarray(phases), phase_progress(phases), frames
    g = int(np.flatnonzero(ph == "grasp")[-1])
    hull = obj.convex_hull.vertices
    rest = np.eye(4)
    rest[:3, :3] = Rotation.from_rotvec([0, rng.uniform(0, 2 * np.pi), 0]).as_matrix()
    rest[1, 3] = REST_GAP - obj.bounds[0, 1]  # a turn about y keeps the lowest point: it rests on y = 0
    centre = transform(obj.bounds.mean(axis=0), rest)
    radius = float(np.linalg.norm(hull - obj.bounds.mean(axis=0), axis=1).max())
    # the hand at the grasp: palm towards the object from above and the side, fingers level or down
    az, el = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(30, 70))
    toward = np.array([np.cos(el) * np.cos(az), -np.sin(el), np.cos(el) * np.sin(az)])  # hand -> object
    e1 = np.cross(toward, UP)
    e1 /= np.linalg.norm(e1)
    psi = rng.uniform(0, 2 * np.pi)
    fingers = np.cos(psi) * e1 + np.sin(psi) * np.cross(toward, e1)
    fingers = -fingers if fingers[1] > 0 else fingers  # the forearm then points up or level, away from the table
    grasp = scene.palm_grasp(obj, scene.hand_frame(np.zeros(3), fingers, -toward)[:3, :3], rest[:3, :3])
    hand_at_grasp = rest @ np.linalg.inv(grasp)
    start = hand_at_grasp.copy()
    axis = rng.normal(size=3)
    start[:3, :3] = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(20)).as_matrix() @ start[:3, :3]
    start[:3, 3] += -0.12 * toward + 0.03 * UP
    lift = max(radius - centre[1] + 0.02, 0.04)  # then turning about the centre cannot reach the table
    turn_by = rng.choice([-1, 1]) * np.radians(rng.uniform(50, 100))
    closed = rng.uniform(0.55, 0.75)
    hand, closure = np.zeros((T, 4, 4)), np.zeros(T)
    for t in range(T):
        if ph[t] == "approach":
            n = np.sum(ph == "approach")
            hand[t] = interpolate_poses([0, 1], [start, hand_at_grasp], [_ease(prog[t] * n / (n + 1))])[0]
            closure[t] = OPEN_HAND
        elif ph[t] == "grasp":
            hand[t], closure[t] = hand_at_grasp, OPEN_HAND + prog[t] * (closed - OPEN_HAND)
        else:  # turn: first lift, then turn about the finger axis through the object's centre
            up, turn = _ease(2 * prog[t]), _ease(2 * prog[t] - 1)
            M = np.eye(4)
            M[:3, :3] = Rotation.from_rotvec(turn * turn_by * hand_at_grasp[:3, 0]).as_matrix()
            M[:3, 3] = centre - M[:3, :3] @ centre + up * lift * UP
            hand[t], closure[t] = M @ hand_at_grasp, closed
    objects = np.stack([rest if t < g else hand[t] @ grasp for t in range(T)])
    # the camera: to one side of the approach (away from the forearm), looking down at the object
    half_fov = min(np.arctan(size[0] / 2 / K[1, 1]), np.arctan(size[1] / 2 / K[0, 0]))
    # it looks half-way between the object's rest and current centres (the lift shows), so the
    # object stays within radius + lift / 2 of the line of sight: that sphere fills ~80% of the view
    dist = 1.05 * (radius + lift / 2 + 0.02) / np.sin(half_fov)
    side = np.cross(UP, toward)
    side = side if side @ -fingers <= 0 else -side
    cam_az = np.arctan2(side[2], side[0]) + rng.uniform(-0.5, 0.5) + rng.uniform(-0.4, 0.4) * np.linspace(-1, 1, T)
    cam_el = np.radians(rng.uniform(20, 45))
    world_to_cam = np.zeros((T, 4, 4))
    for t in range(T):
        c = (centre + transform(obj.bounds.mean(axis=0), objects[t])) / 2
        eye = c + dist * np.array([np.cos(cam_el) * np.cos(cam_az[t]), np.sin(cam_el), np.cos(cam_el) * np.sin(cam_az[t])])
        world_to_cam[t] = look_at(eye, c)
    r = render.get_renderer(tuple(size))
    node = lambda m: r.node(m, "rgb", lambda: render.textured_mesh(m))  # noqa: E731
    hand_parts = scene.hand_meshes(identity.skin)
    forearm = scene.capsule(0.25, 0.035, identity.skin)
    arm = np.eye(4)  # the forearm in the hand frame: from the wrist along -x
    arm[:3, :3] = scene.bone_pose(np.zeros(3), np.array([1.0, 0, 0]))[:3, :3]
    arm[:3, 3] = [-0.125, 0, 0]
    wall = scene.backdrop(seed, distance=dist + 1.0)
    table = scene.support(0.8, 0.75, _table_color(seed))
    out, ref = [], None
    for t in range(T):
        to_cam = world_to_cam[t] @ hand[t]
        items = [(node(m), to_cam @ p, "hand") for m, p in zip(hand_parts, scene.hand_poses(closure[t]))]
        items += [(node(forearm), to_cam @ arm, "human"), (node(wall), np.eye(4), "background"),
                  (node(table), world_to_cam[t], "background")]
        obj_pose = world_to_cam[t] @ objects[t]
        items.append((node(obj), obj_pose, "object"))
        rgb, depth, rcm_img, m_h, m_o, m_hd = _render_frame(r, items, obj, obj_pose, K, size)
        if ref is None:
            ref = r.render([(n, p) for n, p, k in items if k != "object"], K, render.LIT)[0]
        kp_right = openpose.project_keypoints(transform(scene.hand_keypoints(closure[t]), hand[t]), K, world_to_cam[t], size=size)
        kp_hands = np.stack([np.zeros((21, 3)), kp_right])
        body = np.zeros((18, 3))
        out.append(dict(rgb=rgb, rcm=rcm_img, depth=depth, mask_human=m_h | m_hd, mask_object=m_o, mask_hands=m_hd,
                        body=body, hands=kp_hands, skeleton=openpose.draw_skeleton(body, hands=list(kp_hands), size=tuple(size))))
    holder = ["none" if t < g else "right" for t in range(T)]
    return _stack(out, poses=world_to_cam @ objects, reference=ref, phases=phases, holder=holder,
                  hands_to_cam={"right": world_to_cam @ hand}, world_to_cam=world_to_cam)


# ---------------------------------------------------------------------------------- splits

SPLITS = ("stage1", "stage2", "stage3", "test", "objmv")  # appended: each split's random stream stays the same
STAGE_OF = {"stage1": "I", "stage2": "II", "stage3": "III", "test": "test", "objmv": "Obj"}


def clip_plan(cfg, split: str, seed: int) -> list[dict]:
    """What each clip of a split shows: identity, object, motion and seed (deterministic)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    test = split == "test"
    objects = cfg.test_objects if test else cfg.train_objects
    ids = np.arange(cfg.test_identities) + 1000 if test else np.arange(cfg.train_identities)
    plan = []
    for i in range(cfg.clips[split]):
        plan.append({"index": i, "seed": int(rng.integers(2**31)),
                     "identity": None if split == "objmv" else int(ids[i % len(ids)]),
                     "object": None if split == "stage1" else objects[i % len(objects)],
                     "motion": None if split in ("stage2", "objmv") else cfg.motions[int(rng.integers(len(cfg.motions)))]})
    return plan


def object_only_clip(mesh, plan: dict, cfg, cache: rcm.RcmCache):
    """An Object-Multiview clip (the paper's optional stage, ScannedGoogle there): the textured object
    turning in front of the camera on a black background, with its RCM video and RCM-cache; no
    person, so the skeleton, keypoints and reference image are empty (black)."""
    from .data import Clip

    oc = object_multiview_clip(mesh, cfg.frames, cfg.size, plan["seed"], cache=cache)
    n, none = cfg.frames, np.zeros(oc.mask.shape, bool)
    meta = {"source": "mani4d-mini", "split": "objmv", "stage": STAGE_OF["objmv"], "seed": plan["seed"],
            "identity": None, "object": plan["object"], "motion": None, "fps": cfg.fps, "phases": None, "holder": None}
    return Clip(meta=meta, rgb=oc.rgb, rcm=oc.rcm, skeleton=np.zeros_like(oc.rgb), reference=np.zeros_like(oc.rgb[0]),
                body=np.zeros((n, 18, 3)), hands=np.zeros((n, 2, 21, 3)), K=np.tile(oc.K, (n, 1, 1)), poses=oc.poses,
                mesh=mesh, cache=cache, extra={"mask_object": oc.mask, "mask_human": none, "mask_hands": none})


_OBJECTS: dict = {}  # per process: (mesh, RCM-cache) by object and the settings that shape them
PARALLEL_FROM = 8  # clips in a split from which its generation uses worker processes (a worker's start: ~1.5 s)


def _object(cfg, name: str):
    """The object's mesh and RCM-cache, built once per process (deterministic: every worker builds the same)."""
    from .assets import load_object

    key = (name, cfg.object_extent, cfg.cache_views, tuple(cfg.size))
    if key not in _OBJECTS:
        mesh = load_object(name, extent=cfg.object_extent)
        _OBJECTS[key] = (mesh, rcm.build_cache(mesh, cfg.cache_views, cfg.size))
    return _OBJECTS[key]


def write_clip(cfg, split: str, p: dict, out):
    """Render the clip `p` of `clip_plan` and write it to `out/NNNN/` (byteloom.data format); its path.

    A clip depends on its plan entry alone (its own seed), so clips can be written in any order,
    by any process, and come out byte for byte the same."""
    from .data import Clip, save_clip

    obj, cache = _object(cfg, p["object"]) if p["object"] is not None else (None, None)
    folder = out / f"{p['index']:04d}"
    if split == "objmv":
        return save_clip(folder, object_only_clip(obj, p, cfg, cache))
    ident = scene.make_identity(p["identity"])
    if split == "stage2":
        f = hand_object_clip(ident, obj, cfg.frames, cfg.size, p["seed"])
    else:
        f = human_clip(ident, p["motion"], cfg.frames, cfg.size, p["seed"], fps=cfg.fps, obj=obj)
    meta = {"source": "mani4d-mini", "split": split, "stage": STAGE_OF[split], "seed": p["seed"],
            "identity": p["identity"], "object": p["object"], "motion": p["motion"], "fps": cfg.fps,
            "phases": f.phases, "holder": f.holder}
    K = np.tile(intrinsics_from_fov(cfg.size, 40.0), (cfg.frames, 1, 1))
    clip = Clip(meta=meta, rgb=f.rgb, rcm=f.rcm, skeleton=f.skeleton, reference=f.reference, body=f.body,
                hands=f.hands, K=K, poses=f.poses, mesh=obj, cache=cache,
                extra={"depth": f.depth.astype(np.float32), "mask_human": f.mask_human,
                       "mask_object": f.mask_object, "mask_hands": f.mask_hands})
    return save_clip(folder, clip)


def generate_split(cfg, split: str, seed: int, out_root=None, progress: bool = True, workers: int | None = None) -> list:
    """Render and write every clip of `split` into `<cfg.root>/<split>/NNNN/` (byteloom.data format).

    From `PARALLEL_FROM` clips on, `workers` processes (default: one per core) render clips side by
    side; the clips are the same as one process writes (`write_clip`)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor
    from itertools import repeat
    from pathlib import Path

    from tqdm.auto import tqdm

    out = Path(out_root or cfg.root) / split
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: already has clips; remove the folder (dvc repro does) before generating")
    out.mkdir(parents=True, exist_ok=True)
    plan = clip_plan(cfg, split, seed)
    workers = min(workers or os.cpu_count() or 1, len(plan)) if len(plan) >= PARALLEL_FROM else 1
    bar = {"total": len(plan), "desc": f"mani4d {split}", "disable": not progress}
    if workers <= 1:
        return [write_clip(cfg, split, p, out) for p in tqdm(plan, **bar)]
    # spawn, not fork: a forked OpenGL (EGL) context is not safe to render with
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(tqdm(ex.map(write_clip, repeat(cfg), repeat(split), plan, repeat(out)), **bar))


def main(argv=None):
    import argparse

    from .config import load_config

    ap = argparse.ArgumentParser(description="Generate one split of Mani4D-mini (see params.yaml: data).")
    ap.add_argument("--split", required=True, choices=SPLITS)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    cfg = load_config(args.params)
    paths = generate_split(cfg.data, args.split, cfg.seed)
    print(f"wrote {len(paths)} clips to {paths[0].parent if paths else cfg.data.root}")


if __name__ == "__main__":
    main()
