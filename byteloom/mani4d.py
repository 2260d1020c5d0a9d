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


# ---------------------------------------------------------------------------------- people and hands
#
# Stage I   (human pose):        a person moving (DeepMimic clip), no object, camera tracking them.
# Stage II  (hand-object):       a close-up of a hand holding an object, moving in 6-DoF near the camera.
# Stage III (human-object):      a person moving while holding an object in the right hand.
# test                            Stage III clips with identities and objects never seen in training.
#
# Every frame is rendered once in colour and once as segment labels (person / hands / object /
# backdrop) from the same scene, so masks, depth, RGB and RCM agree pixel for pixel.

from . import motion as mo  # noqa: E402
from . import openpose, render, scene  # noqa: E402
from .geometry import look_at, transform  # noqa: E402

# COCO-18 bones drawn as capsules: (a, b, radius m, part) — part picks the identity colour
BODY_BONES = [(1, 2, 0.05, "shirt"), (1, 5, 0.05, "shirt"), (2, 3, 0.042, "shirt"), (5, 6, 0.042, "shirt"),
              (3, 4, 0.034, "skin"), (6, 7, 0.034, "skin"), (1, 8, 0.085, "shirt"), (1, 11, 0.085, "shirt"),
              (8, 11, 0.08, "trousers"), (8, 9, 0.06, "trousers"), (11, 12, 0.06, "trousers"),
              (9, 10, 0.05, "trousers"), (12, 13, 0.05, "trousers")]
HEAD_RADIUS = 0.1025  # the humanoid URDF's head sphere (metres)


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
    normal = np.cross(tpl[5] - tpl[0], tpl[17] - tpl[0]) * (1 if side == "right" else -1)
    w = sk.index(f"{side}_wrist")
    return np.stack([scene.hand_frame(pos[t, w], rot[t, w] @ fingers, rot[t, w] @ normal) for t in range(len(pos))])


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


def human_clip(identity: scene.Identity, motion_name: str, frames: int, size, seed: int, fps: float = 15.0,
               obj=None, fov_deg: float = 40.0, closure: float = 0.7) -> Frames:
    """Stage I (obj=None) or Stage III (obj = a trimesh held in the right hand) clip."""
    rng = np.random.default_rng(seed)
    clip = mo.load_motion(motion_name)
    start = rng.uniform(0, max(clip.duration - (frames - 1) / fps, 0))
    m = mo.resample(clip, fps, frames, start=start)
    pos, rot = mo.forward_kinematics(m)
    body = mo.body_keypoints_3d(pos, rot)
    hands = {s: wrist_frames(pos, rot, s) for s in ("left", "right")}
    K = intrinsics_from_fov(size, fov_deg)
    # the camera tracks the person's pelvis from a random direction in front, at a fixed height
    yaw = rng.uniform(-np.pi / 3, np.pi / 3)
    view_dir = np.array([np.cos(yaw), 0.0, np.sin(yaw)])  # the humanoid faces +x at rest
    dist = 0.8 / np.tan(np.radians(fov_deg) / 2)  # frames about 1.6 m: the person from the shins up
    root = pos[:, 0] * [1, 0, 1] + [0, 1.0, 0]
    world_to_cam = np.stack([look_at(c + dist * view_dir + [0, 0.1, 0], c) for c in root])
    grasp = np.eye(4)
    grasp[:3, :3] = Rotation.random(random_state=rng.integers(2**31)).as_matrix()
    grasp[:3, 3] = scene.grasp_point()
    actor = Actor(identity, body[0])
    r = render.get_renderer(tuple(size))
    wall = scene.backdrop(seed, distance=dist + 2.5)
    wall_node = r.node(wall, "rgb", lambda: render.textured_mesh(wall))
    obj_node = None if obj is None else r.node(obj, "rgb", lambda: render.textured_mesh(obj))
    out, ref = [], None
    for t in range(frames):
        close = {"left": 0.25, "right": closure if obj is not None else 0.25}
        items = actor.items(r, body[t], {s: hands[s][t] for s in hands}, close, world_to_cam[t])
        items.append((wall_node, np.eye(4), "background"))
        obj_pose = None
        if obj is not None:
            obj_pose = world_to_cam[t] @ hands["right"][t] @ grasp
            items.append((obj_node, obj_pose, "object"))
        rgb, depth, rcm_img, m_h, m_o, m_hd = _render_frame(r, items, obj, obj_pose, K, size)
        if ref is None:  # the reference: the person at frame 0, without the object
            ref = r.render([(n, p) for n, p, k in items if k != "object"], K, render.LIT)[0]
        kp_body = _project(body[t], world_to_cam[t], K, size)
        kp_hands = np.stack([_project(transform(scene.hand_keypoints(close[s], side=s), hands[s][t]), world_to_cam[t], K, size)
                             for s in ("left", "right")])
        out.append(dict(rgb=rgb, rcm=rcm_img, depth=depth, mask_human=m_h | m_hd, mask_object=m_o, mask_hands=m_hd,
                        body=kp_body, hands=kp_hands,
                        skeleton=openpose.draw_skeleton(kp_body, hands=list(kp_hands), size=tuple(size))))
    poses = None if obj is None else np.stack([world_to_cam[t] @ hands["right"][t] @ grasp for t in range(frames)])
    return _stack(out, poses=poses, reference=ref)


def hand_object_clip(identity: scene.Identity, obj, frames: int, size, seed: int, fov_deg: float = 40.0) -> Frames:
    """Stage II: a close-up of a right hand holding `obj`, moving in 6-DoF about 0.4 m from the camera."""
    rng = np.random.default_rng(seed)
    K = intrinsics_from_fov(size, fov_deg)
    hand_to_cam = random_trajectory(rng, frames, 0.42, max_turn_deg=50, max_shift=0.04)
    centre = np.eye(4)  # put the grasped object (not the wrist) near the image centre
    centre[:3, 3] = -scene.grasp_point()
    hand_to_cam = hand_to_cam @ centre
    grasp = np.eye(4)
    grasp[:3, :3] = Rotation.random(random_state=rng.integers(2**31)).as_matrix()
    grasp[:3, 3] = scene.grasp_point()
    closure = np.linspace(rng.uniform(0.5, 0.6), rng.uniform(0.65, 0.8), frames)
    r = render.get_renderer(tuple(size))
    node = lambda m: r.node(m, "rgb", lambda: render.textured_mesh(m))  # noqa: E731
    hand = scene.hand_meshes(identity.skin)
    forearm = scene.capsule(0.25, 0.035, identity.skin)
    wall = scene.backdrop(seed, distance=1.2)
    out, ref = [], None
    for t in range(frames):
        arm = np.eye(4)
        arm[:3, :3] = scene.bone_pose(np.zeros(3), np.array([1.0, 0, 0]))[:3, :3]
        arm[:3, 3] = [-0.125, 0, 0]
        items = [(node(m), hand_to_cam[t] @ p, "hand") for m, p in zip(hand, scene.hand_poses(closure[t]))]
        items += [(node(forearm), hand_to_cam[t] @ arm, "human"), (node(wall), np.eye(4), "background")]
        obj_pose = hand_to_cam[t] @ grasp
        items.append((node(obj), obj_pose, "object"))
        rgb, depth, rcm_img, m_h, m_o, m_hd = _render_frame(r, items, obj, obj_pose, K, size)
        if ref is None:
            ref = r.render([(n, p) for n, p, k in items if k != "object"], K, render.LIT)[0]
        kp_right = openpose.project_keypoints(transform(scene.hand_keypoints(closure[t]), hand_to_cam[t]), K, np.eye(4), size=size)
        kp_hands = np.stack([np.zeros((21, 3)), kp_right])
        body = np.zeros((18, 3))
        out.append(dict(rgb=rgb, rcm=rcm_img, depth=depth, mask_human=m_h | m_hd, mask_object=m_o, mask_hands=m_hd,
                        body=body, hands=kp_hands, skeleton=openpose.draw_skeleton(body, hands=list(kp_hands), size=tuple(size))))
    return _stack(out, poses=np.stack([hand_to_cam[t] @ grasp for t in range(frames)]), reference=ref)


# ---------------------------------------------------------------------------------- splits

SPLITS = ("stage1", "stage2", "stage3", "test")
STAGE_OF = {"stage1": "I", "stage2": "II", "stage3": "III", "test": "test"}


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
        plan.append({"index": i, "seed": int(rng.integers(2**31)), "identity": int(ids[i % len(ids)]),
                     "object": None if split == "stage1" else objects[i % len(objects)],
                     "motion": None if split == "stage2" else cfg.motions[int(rng.integers(len(cfg.motions)))]})
    return plan


def generate_split(cfg, split: str, seed: int, out_root=None, progress: bool = True) -> list:
    """Render and write every clip of `split` into `<cfg.root>/<split>/NNNN/` (byteloom.data format)."""
    from pathlib import Path

    from tqdm.auto import tqdm

    from .assets import load_object
    from .data import Clip, save_clip

    out = Path(out_root or cfg.root) / split
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: already has clips; remove the folder (dvc repro does) before generating")
    out.mkdir(parents=True, exist_ok=True)
    meshes, caches, written = {}, {}, []
    for p in tqdm(clip_plan(cfg, split, seed), desc=f"mani4d {split}", disable=not progress):
        ident = scene.make_identity(p["identity"])
        obj = None
        if p["object"] is not None:
            if p["object"] not in meshes:
                meshes[p["object"]] = load_object(p["object"], extent=cfg.object_extent)
                caches[p["object"]] = rcm.build_cache(meshes[p["object"]], cfg.cache_views, cfg.size)
            obj = meshes[p["object"]]
        if split == "stage2":
            f = hand_object_clip(ident, obj, cfg.frames, cfg.size, p["seed"])
        else:
            f = human_clip(ident, p["motion"], cfg.frames, cfg.size, p["seed"], fps=cfg.fps, obj=obj)
        meta = {"source": "mani4d-mini", "split": split, "stage": STAGE_OF[split], "seed": p["seed"],
                "identity": p["identity"], "object": p["object"], "motion": p["motion"], "fps": cfg.fps}
        K = np.tile(intrinsics_from_fov(cfg.size, 40.0), (cfg.frames, 1, 1))
        clip = Clip(meta=meta, rgb=f.rgb, rcm=f.rcm, skeleton=f.skeleton, reference=f.reference, body=f.body,
                    hands=f.hands, K=K, poses=f.poses, mesh=obj, cache=caches.get(p["object"]),
                    extra={"depth": f.depth.astype(np.float32), "mask_human": f.mask_human,
                           "mask_object": f.mask_object, "mask_hands": f.mask_hands})
        written.append(save_clip(out / f"{p['index']:04d}", clip))
    return written


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
