"""Bring your own person, object and motion: `python -m byteloom.generate` (`byteloom-generate`).

Makes a video of the person in `--reference` handling the object `--object` while moving as
`--pose` says, with a trained ByteLoom model (paper §3.1 model, §3.2 RCM and RCM-cache, §3.3
curriculum adapters, §4 multi-segment inference):

    reference image ─ resized + padded to the model's size ─────────────┐
    pose: OpenPose JSON folder, or a built-in DeepMimic motion ─► skeleton ├─► conditions ─► sampler ─► MP4
    object mesh + trajectory (BOP scene_gt.json, keyframes, or --hold) ─► RCM video + RCM-cache ┘

Every input is checked before the model loads; a bad one raises `GenerateError` naming the file
and the problem (adapters too: their LoRA and fusion shapes against the model the params build).
A built-in motion is drawn with the camera the object is rendered from, as Mani4D-mini draws its
clips (`mani4d.human_clip`); `--hold` places the object in the hands with the generator's own
planner and interaction camera (`mani4d.plan_interaction`, `interaction_camera`). An OpenPose
folder is drawn in the camera of its trajectory (BOP `cam_K`, or the keyframes' camera).

Example (the pipeline's trained default model, after `dvc repro`):

    python -m byteloom.generate --reference me.png --pose walk --object mug.ply --hold right \\
        --out walk.mp4 --panel
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import assets, geometry, mani4d, openpose, rcm, scene
from . import motion as mo
from .config import Config, ConfigError, load_config
from .curriculum import TRAIN_DIR, adapter_dir, plan_runs, variant_run
from .data import ClipError, bop_pose, resize_frames
from .model import VARIANTS

DEFAULT_RUN = "rcm_cache-I-II-III"  # ByteLoom I+II+III (params.yaml curriculum.variants.byteloom)
HOLD_PHASES = {  # --hold: phase weights for mani4d.plan_interaction (see mani4d.HOI_PHASES)
    "right": {"grasp": 1, "lift": 1, "turn": 2},  # picked up by the right hand at once, carried and turned
    "left": {"grasp": 1, "lift": 1, "handover": 4},  # picked up by the right hand, handed to the left
    "both": mani4d.HOI_PHASES,  # the generator's Stage III schedule: rest, reach, ... ends in the hand-over
}


class GenerateError(ValueError):
    """A bad input of `generate`: the message names the file (or option) and the problem."""


@dataclass
class Inputs:
    """Everything rendered for one video, before the model loads (uint8 arrays at the model's size)."""

    reference: np.ndarray  # (H, W, 3)
    skeleton: np.ndarray  # (T, H, W, 3)
    rcm: np.ndarray  # (T, H, W, 3)
    cache_rgb: np.ndarray  # (V, H, W, 3)
    cache_rcm: np.ndarray  # (V, H, W, 3)
    design: str
    notes: list = field(default_factory=list)  # what was done to the inputs, printed for the user


# ---------------------------------------------------------------------------------- images


def letterbox(image: np.ndarray, size, nearest: bool = False) -> np.ndarray:
    """Resize `image` (H, W, 3) uint8 to fit `size` = (h, w) keeping its aspect, centred on black."""
    import cv2

    h, w = size
    ih, iw = image.shape[:2]
    s = min(h / ih, w / iw)
    nh, nw = max(1, round(ih * s)), max(1, round(iw * s))
    if (nh, nw) != (ih, iw):
        interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        image = cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y:y + nh, x:x + nw] = image
    return out


def read_reference(path: str | Path, size) -> tuple[np.ndarray, str]:
    """The person image (PNG/JPG, any size) resized and padded to the model's `size` (paper §3.1:
    the reference is the first latent frame); returns it and a note of what was done."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise GenerateError(f"{path}: reference image not found")
    try:
        with Image.open(path) as im:
            im.load()
            img = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise GenerateError(f"{path}: not an image PIL can read ({type(e).__name__}: {e})") from None
    ih, iw = img.shape[:2]
    note = f"reference {path.name}: {iw}x{ih}"
    if (ih, iw) == tuple(size):
        return img, note + " (the model's size, used as is)"
    return letterbox(img, size), note + f" resized and padded to the model's {size[1]}x{size[0]}"


# ---------------------------------------------------------------------------------- object + trajectory


def read_object(name_or_path: str, extent: float | None, scale: float = 1.0):
    """A built-in object (`assets.ASSETS`, normalised to `extent` m) or a mesh file (PLY/OBJ/GLB,
    textured or not): normalised to `extent` m when given (held objects), else in its own units x `scale`."""
    if name_or_path in assets.ASSETS:
        return assets.load_object(name_or_path, extent=extent or 0.2)
    path = Path(name_or_path)
    if not path.is_file():
        raise GenerateError(f"{path}: object mesh not found (nor a built-in object: {list(assets.ASSETS)})")
    try:
        mesh = assets.load_mesh(path)
    except ValueError as e:
        raise GenerateError(f"{path}: not a usable mesh: {e}") from None
    if extent is not None:
        return assets.normalize(mesh, extent)
    mesh = mesh.copy()
    mesh.apply_scale(scale)
    if mesh.extents.max() > 10:
        raise GenerateError(f"{path}: the mesh is {mesh.extents.max():.0f} m wide after --mesh-scale {scale}; "
                            "trajectories are in metres (a BOP model in millimetres needs --mesh-scale 0.001)")
    return mesh


def intrinsics_size(K: np.ndarray) -> tuple[int, int]:
    """The image size a camera was made for, from its centred principal point: (2 cy + 1, 2 cx + 1)."""
    return int(round(2 * K[1, 2] + 1)), int(round(2 * K[0, 2] + 1))


def read_bop_trajectory(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """obj_to_cam poses (T, 4, 4) metres and K of a BOP scene (folder or its scene_gt.json, with
    scene_camera.json beside it); every pose is checked rigid (`geometry.check_pose`)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    gt_file, cam_file = folder / "scene_gt.json", folder / "scene_camera.json"
    gt, cam = (_json(f) for f in (gt_file, cam_file))
    try:
        frames = sorted(int(k) for k in gt)
    except ValueError:
        raise GenerateError(f"{gt_file}: keys must be frame numbers") from None
    if frames != list(range(len(frames))) or not frames:
        raise GenerateError(f"{gt_file}: needs frames 0..T-1, got {frames[:5]}...")
    poses = []
    for t in frames:
        entries = gt[str(t)]
        if not isinstance(entries, list) or not entries:
            raise GenerateError(f"{gt_file}[{t}]: no object pose")
        ids = sorted({e.get("obj_id") for e in entries})
        if len(ids) > 1:
            raise GenerateError(f"{gt_file}[{t}]: several objects {ids}; keep one object in the scene")
        try:
            poses.append(bop_pose(entries[0], f"{gt_file}[{t}]"))
        except ClipError as e:
            raise GenerateError(str(e)) from None
    first = cam.get("0", cam.get(str(frames[0]))) if isinstance(cam, dict) else None
    try:
        K = geometry.check_intrinsics(np.asarray(first["cam_K"], dtype=np.float64).reshape(3, 3))
    except (TypeError, KeyError, ValueError) as e:
        raise GenerateError(f"{cam_file}: frame 0 needs a valid cam_K ({e})") from None
    return np.stack(poses), K


def _json(path: Path):
    if not path.is_file():
        raise GenerateError(f"{path}: file missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GenerateError(f"{path}: not valid JSON ({e})") from None


def keyframe_pose(k: dict, where: str) -> np.ndarray:
    """One keyframe's obj_to_cam: {"pose": 4x4} or {"rotvec_deg": [3], "translation": [3] (metres)}."""
    try:
        if "pose" in k:
            T = np.asarray(k["pose"], dtype=np.float64)
        else:
            T = geometry.pose_from_rotvec(np.radians(np.asarray(k["rotvec_deg"], float)), np.asarray(k["translation"], float))
        return geometry.check_pose(T, where)
    except (KeyError, TypeError, ValueError) as e:
        raise GenerateError(f"{where}: {e}" if isinstance(e, ValueError) else
                            f"{where}: needs 'pose' (4x4) or 'rotvec_deg' and 'translation' ({e!r})") from None


def read_keyframes(path: str | Path, frames: int, fov_deg: float, size) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """A keyframe trajectory as notebook 1 makes one (SLERP rotations, linear translations:
    `geometry.interpolate_poses`, paper §3.2) sampled at `frames` evenly spaced times.

    {"camera": {"fov_deg": 40, "size": [h, w]} or {"K": 3x3, "size": [h, w]},
     "keyframes": [{"time": 0.0, "pose": 4x4 | "rotvec_deg": [..], "translation": [..]}, ...]}
    Returns poses (T, 4, 4), K and the camera's size (None when the file gives none).
    """
    path = Path(path)
    doc = _json(path)
    keys = doc.get("keyframes") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or len(keys) < 2:
        raise GenerateError(f"{path}: needs a 'keyframes' list of at least 2 keyframes")
    cam = doc.get("camera", {})
    cam_size = tuple(int(v) for v in cam["size"]) if "size" in cam else None
    try:
        K = geometry.check_intrinsics(cam["K"]) if "K" in cam else \
            geometry.intrinsics_from_fov(cam_size or size, float(cam.get("fov_deg", fov_deg)))
    except ValueError as e:
        raise GenerateError(f"{path}: camera: {e}") from None
    if "K" in cam and cam_size is None:
        cam_size = intrinsics_size(K)
    times = [k.get("time") if isinstance(k, dict) else None for k in keys]
    if not all(isinstance(t, (int, float)) for t in times):
        raise GenerateError(f"{path}: every keyframe needs a numeric 'time'")
    poses = [keyframe_pose(k, f"{path}: keyframes[{i}]") for i, k in enumerate(keys)]
    try:
        traj = geometry.interpolate_poses(times, poses, np.linspace(times[0], times[-1], frames))
    except ValueError as e:
        raise GenerateError(f"{path}: {e}") from None
    return traj, K, cam_size


# ---------------------------------------------------------------------------------- pose


def pose_folder_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*_keypoints.json")) or sorted(folder.glob("*.json"))
    if not files:
        raise GenerateError(f"{folder}: no OpenPose JSON files (*_keypoints.json, one per frame)")
    return files


def skeletons_from_folder(files: list[Path], size) -> np.ndarray:
    """OpenPose JSONs (first person of each) drawn as skeleton images of `size` (paper §3.1 pose condition)."""
    out = []
    for f in files:
        try:
            people = openpose.read_openpose_json(f)
        except ValueError as e:
            raise GenerateError(str(e)) from None
        if not people:
            out.append(np.zeros((*size, 3), np.uint8))
            continue
        p = people[0]
        hands = [h for h in (p.left_hand, p.right_hand) if h is not None]
        out.append(openpose.draw_skeleton(p.body, hands=hands, size=tuple(size)))
    return np.stack(out)


@dataclass
class Performance:
    """A built-in motion performed in front of the Mani4D-mini camera (as `mani4d.human_clip`)."""

    skeleton: np.ndarray  # (T, h, w, 3) at the render size
    world_to_cam: np.ndarray  # (T, 4, 4)
    objects: np.ndarray | None  # (T, 4, 4) obj_to_world when the hands hold it (--hold)
    holder: list | None


def perform_motion(name: str, frames: int, size, K: np.ndarray, seed: int, fps: float, fov_deg: float,
                   obj=None, hold: str | None = None) -> Performance:
    """The camera, skeletons and (with `hold`) the held object of a built-in motion, as Mani4D-mini
    makes them (`mani4d.human_clip`, same random draws): with `hold`, the hand-object planner and
    the interaction camera of Stage III (`plan_interaction`, `interaction_camera`); without, the
    Stage I camera tracking the pelvis."""
    rng = np.random.default_rng(seed)
    clip = mo.load_motion(name)
    m = mo.resample(clip, fps, frames, start=rng.uniform(0, max(clip.duration - (frames - 1) / fps, 0)))
    yaw = rng.uniform(-np.pi / 3, np.pi / 3)
    if hold is None:
        pos, rot = mo.forward_kinematics(m)
        hands = {s: mani4d.wrist_frames(pos, rot, s) for s in ("left", "right")}
        close = {s: np.full(frames, mani4d.OPEN_HAND) for s in hands}
        body = mo.body_keypoints_3d(pos, rot)
        view_dir = np.array([np.cos(yaw), 0.0, np.sin(yaw)])  # Stage I camera (human_clip with obj=None)
        dist = 0.8 / np.tan(np.radians(fov_deg) / 2)
        root = pos[:, 0] * [1, 0, 1] + 1.0 * mani4d.UP
        world_to_cam = np.stack([geometry.look_at(c + dist * view_dir + [0, 0.1, 0], c) for c in root])
        hoi = None
    else:
        phases = mani4d.phase_schedule(frames, HOLD_PHASES[hold])
        hoi = mani4d.plan_interaction(m, obj, phases, rng)
        pos, rot = mo.forward_kinematics(hoi.motion)
        hands, close = hoi.hands, hoi.closure
        body = mo.body_keypoints_3d(pos, rot)
        centres = hoi.objects[:, :3, :3] @ obj.bounds.mean(axis=0) + hoi.objects[:, :3, 3]
        grasp = int(np.flatnonzero(np.asarray(phases) == "grasp")[-1])
        world_to_cam, _ = mani4d.interaction_camera(body, centres, grasp, yaw * mani4d.CAMERA_YAW / (np.pi / 3),
                                                    hoi.support[1, 3], hoi.turn, rng)
    sk = []
    for t in range(frames):
        kp = openpose.project_keypoints(body[t], K, world_to_cam[t], size=size)
        kh = [openpose.project_keypoints(geometry.transform(scene.hand_keypoints(close[s][t], side=s), hands[s][t]),
                                         K, world_to_cam[t], size=size) for s in ("left", "right")]
        sk.append(openpose.draw_skeleton(kp, hands=kh, size=tuple(size)))
    return Performance(np.stack(sk), world_to_cam, None if hoi is None else hoi.objects,
                       None if hoi is None else hoi.holder)


# ---------------------------------------------------------------------------------- adapters


def adapter_design(folder: Path, design: str | None) -> str:
    """The conditioning design a run folder was trained for, from its run name
    (`<run>/seed<k>/adapters`, `curriculum.run_name`): Stage I alone (`I`) is pose_only."""
    run = folder.parent.parent.name if folder.parent.name.startswith("seed") else folder.name
    named = "pose_only" if run == "I" else next((v for v in VARIANTS if run.startswith(v + "-")), None)
    if design is not None and named is not None and design != named:
        raise GenerateError(f"{folder}: adapters of run {run!r} were trained for design {named!r}, not --design {design!r}")
    return design or named or "rcm_cache"


def expected_shapes(cfg: Config, base: Path) -> tuple[dict, int]:
    """LoRA tensor shapes and latent channels of the base in `base` (tiny or Wan2.1: its
    transformer/config.json) with the params' LoRA, built on the meta device (no weights)."""
    import torch
    from diffusers import WanTransformer3DModel
    from peft import get_peft_model_state_dict

    from .train import add_lora

    m = cfg.model
    with torch.device("meta"):
        tr = WanTransformer3DModel.from_config(WanTransformer3DModel.load_config(base / "transformer"))
        try:
            add_lora(types.SimpleNamespace(transformer=tr), m.lora_rank, m.lora_alpha, m.lora_targets)
        except ValueError as e:
            raise GenerateError(f"--params: model.lora_targets: {e}") from None
    return {k: tuple(v.shape) for k, v in get_peft_model_state_dict(tr).items()}, tr.config.in_channels


def check_adapters(folder: Path, cfg: Config, base: Path) -> None:
    """Compare an adapter folder (`train.save_adapters`) with the model the params build: LoRA keys
    and shapes (rank, width, blocks, targets), fusion channels and width, prompt shape."""
    from safetensors import safe_open

    lora = folder / "pytorch_lora_weights.safetensors"
    for f in (lora, folder / "fusion" / "config.json", folder / "null_text.safetensors"):
        if not f.is_file():
            raise GenerateError(f"{folder}: not a ByteLoom adapter folder ({f.relative_to(folder)} missing; "
                                "train one with `python -m byteloom.curriculum` or `dvc repro`)")
    want, channels = expected_shapes(cfg, base)
    with safe_open(lora, "pt") as f:
        have = {k.removeprefix("transformer."): tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    wrong = [(k, have[k], want[k]) for k in sorted(set(want) & set(have)) if have[k] != want[k]]
    m = cfg.model
    c = json.loads((base / "transformer" / "config.json").read_text())
    made = (f"the params put rank {m.lora_rank} LoRA on {len(want) // 2} layers of the {c.get('num_layers')}-block, "
            f"width {c.get('num_attention_heads', 0) * c.get('attention_head_dim', 0)} DiT of {base}")
    if wrong:
        k, h, w = wrong[0]
        raise GenerateError(f"{lora}: adapters made for another model size: {k} is {list(h)} in the file, "
                            f"{list(w)} in the model ({len(wrong)} such tensors); {made}")
    if missing or extra:
        raise GenerateError(f"{lora}: adapters made for another model: {len(missing)} LoRA tensors missing "
                            f"(e.g. {missing[:1]}), {len(extra)} unexpected (e.g. {extra[:1]}); {made}")
    with safe_open(folder / "null_text.safetensors", "pt") as f:
        prompt = tuple(f.get_slice("null_text").get_shape()) if "null_text" in f.keys() else None
    if prompt != (m.text_len, c.get("text_dim")):
        raise GenerateError(f"{folder / 'null_text.safetensors'}: prompt of shape {prompt}, the model needs "
                            f"{(m.text_len, c.get('text_dim'))} (model.text_len x the backbone's text_dim)")
    fusion = _json(folder / "fusion" / "config.json")
    got = (fusion.get("latent_channels"), fusion.get("hidden"), fusion.get("slots", 3))
    if got != (channels, m.fusion_hidden, 3):
        raise GenerateError(f"{folder / 'fusion' / 'config.json'}: fusion for {got[0]} latent channels, width {got[1]}, "
                            f"{got[2]} slots; the model needs {channels}, {m.fusion_hidden}, 3")


def resolve_model(args, cfg: Config) -> tuple[Config, Path | None, Path, Path]:
    """(cfg with model.checkpoint set for a Wan2.1 folder, that folder or None, the tiny base folder, adapters)."""
    ckpt = Path(args.checkpoint) if args.checkpoint else (Path(cfg.model.checkpoint) if cfg.model.checkpoint else TRAIN_DIR / "base")
    if not ckpt.is_dir():
        raise GenerateError(f"{ckpt}: base model folder not found (the tiny base is made by `dvc repro pretrain`; "
                            "at paper scale pass a local Wan2.1-T2V-1.3B diffusers folder)")
    if not (ckpt / "transformer" / "config.json").is_file():
        raise GenerateError(f"{ckpt}: not a base model folder (no transformer/config.json)")
    wan = not (ckpt / "null_text.safetensors").is_file()  # the pipeline's tiny base saves its prompt beside
    channels = json.loads((ckpt / "transformer" / "config.json").read_text()).get("in_channels")
    codec = 16 if cfg.model.codec == "wan_vae" else 3 * cfg.model.codec_patch ** 2
    if codec != channels or (cfg.model.codec == "wan_vae" and not wan):
        raise GenerateError(f"{ckpt}: the base takes {channels} latent channels but the params' codec "
                            f"'{cfg.model.codec}' (patch {cfg.model.codec_patch}) gives {codec}; "
                            "a Wan2.1 folder needs model.codec: wan_vae, the tiny base the codec it was trained with")
    if wan and not (ckpt / "vae" / "config.json").is_file():
        raise GenerateError(f"{ckpt}: a Wan2.1 folder needs vae/config.json too (model.codec: wan_vae)")
    if wan:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, checkpoint=str(ckpt)))
    if args.adapters:
        adapters = Path(args.adapters)
    else:
        run = variant_run(cfg, "byteloom").name if "byteloom" in cfg.curriculum.variants else DEFAULT_RUN
        adapters = adapter_dir(run, cfg.curriculum.seeds[0], Path(args.train_dir))
    if (adapters / "adapters").is_dir():  # a run folder's seed folder
        adapters = adapters / "adapters"
    if not adapters.is_dir():
        raise GenerateError(f"{adapters}: adapter folder not found (train the curriculum with `dvc repro`, "
                            f"runs: {list(plan_runs(cfg))})")
    return cfg, ckpt if wan else None, ckpt, adapters


# ---------------------------------------------------------------------------------- inputs


def parse_size(text: str | None, default, option: str = "--size") -> tuple[int, int]:
    if text is None:
        return tuple(default)
    try:
        h, w = (int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise GenerateError(f"{option} {text!r}: expected HEIGHTxWIDTH, e.g. 32x32") from None
    if h < 1 or w < 1:
        raise GenerateError(f"{option} {text!r}: height and width must be positive")
    return h, w


def check_size_fits(size, cfg: Config, base: Path) -> None:
    """The model's size must divide into codec pixels x DiT patches (paper §3.1 packing)."""
    patch = json.loads((base / "transformer" / "config.json").read_text()).get("patch_size", [1, 2, 2])
    factor = (8 if cfg.model.codec == "wan_vae" else cfg.model.codec_patch) * max(patch[1:])
    if any(v % factor or v <= 0 for v in size):
        raise GenerateError(f"--size {size[0]}x{size[1]}: height and width must be positive multiples of {factor} "
                            "(codec factor x DiT patch)")


@dataclass
class Sources:
    """Where the pose and the object's motion come from (checked, nothing rendered yet)."""

    motion: str | None  # a built-in motion, or None for an OpenPose folder
    pose_files: list | None  # the OpenPose folder's JSON files
    trajectory: Path | None
    bop: bool  # the trajectory is a BOP scene (else a keyframes JSON)


def check_sources(args, design: str) -> Sources:
    """The pose (`--pose`: folder or built-in motion) and trajectory options, checked together."""
    pose = Path(args.pose)
    builtin = not pose.is_dir() and args.pose in mo.list_motions()
    if not builtin and not pose.is_dir():
        raise GenerateError(f"--pose {args.pose}: neither an OpenPose JSON folder nor a built-in motion {mo.list_motions()}")
    traj = Path(args.trajectory) if args.trajectory else None
    if traj is not None and not traj.exists():
        raise GenerateError(f"{traj}: trajectory file not found")
    if design == "pose_only":
        raise GenerateError(f"{args.adapters or 'the adapters'}: trained for design pose_only, which takes no object; "
                            "use a run of an object design (e.g. rcm_cache-I-II-III)")
    if traj is None and not builtin:
        raise GenerateError(f"--pose {pose}: an OpenPose folder needs --trajectory (BOP scene_gt.json or keyframes JSON) "
                            "for the object; --hold needs a built-in motion")
    if traj is not None and args.hold:
        raise GenerateError("--hold places the object with a built-in motion's hands; it cannot be combined with --trajectory")
    return Sources(args.pose if builtin else None, None if builtin else pose_folder_files(pose), traj,
                   traj is not None and (traj.is_dir() or traj.name == "scene_gt.json"))


def read_trajectory(src: Sources, frames: int | None, default_frames: int, fov: float, render_size,
                    frame_size=None):
    """(obj_to_cam poses or None for --hold, K, the camera's image size, frame count): the pose
    folder, the trajectory and --frames must agree on the frame count. `frame_size` (--frame-size)
    is the image size the camera and keypoints refer to, by default guessed from K's principal point."""
    poses = K = cam_size = None
    if src.bop:
        poses, K = read_bop_trajectory(src.trajectory)
        cam_size = frame_size or intrinsics_size(K)
        frames = _agree(frames, len(poses), "--frames", src.trajectory)
    if src.pose_files is not None:
        frames = _agree(frames, len(src.pose_files), src.trajectory if src.bop else "--frames",
                        src.pose_files[0].parent)
    frames = frames or default_frames
    if frames < 1:
        raise GenerateError(f"--frames {frames}: needs at least one frame")
    if src.trajectory is not None and not src.bop:
        poses, K, cam_size = read_keyframes(src.trajectory, frames, fov, frame_size or render_size)
        cam_size = frame_size or cam_size
    if src.pose_files is not None and cam_size is None:
        raise GenerateError(f"{src.trajectory}: an OpenPose folder needs the image size its keypoints refer to: give "
                            "'camera': {'K': ..., 'size': [h, w]} in the keyframes JSON, or --frame-size")
    size = cam_size or frame_size or tuple(render_size)
    return poses, (K if K is not None else geometry.intrinsics_from_fov(size, fov)), size, frames


def prepare(args, cfg: Config, size, design: str) -> Inputs:
    """Check and render every condition at the model's `size`: skeletons (§3.1), the per-frame RCM
    and the RCM-cache (§3.2), the reference. No model is loaded."""
    reference, note = read_reference(args.reference, size)
    notes = [note]
    fov = cfg.rcm.fov_deg
    scale = max(1, cfg.data.size[0] // cfg.curriculum.size[0])  # training renders at data.size, then downscales
    render_size = (size[0] * scale, size[1] * scale)
    src = check_sources(args, design)
    mesh = read_object(args.object, cfg.data.object_extent if src.trajectory is None else None, args.mesh_scale)
    frame_size = parse_size(args.frame_size, None, "--frame-size") if args.frame_size else None
    poses, K, frame_size, frames = read_trajectory(src, args.frames, cfg.data.frames, fov, render_size, frame_size)
    if src.motion is not None:  # drawn with the camera the object is rendered from
        hold = args.hold or ("right" if poses is None else None)
        perf = perform_motion(src.motion, frames, frame_size, K, args.seed, cfg.data.fps, fov, mesh, hold)
        skeleton = perf.skeleton
        if poses is None:
            poses = perf.world_to_cam @ perf.objects
            notes.append(f"object held ({hold}): " + " ".join(h[0] for h in perf.holder)
                         + "  (n none, r right, b both, l left)")
    else:
        skeleton = skeletons_from_folder(src.pose_files, frame_size)
    rcm_video = rcm.render_rcm_video(mesh, poses, K, frame_size).image
    if not rcm_video.any():
        notes.append("warning: the object is not visible in any frame (check the trajectory's camera)")
    views = args.cache_views or cfg.data.cache_views
    cache = rcm.build_cache(mesh, views, render_size, layout=cfg.rcm.cache_layout, fov_deg=fov)
    notes.append(f"{frames} frames; conditions rendered at {frame_size[1]}x{frame_size[0]}, RCM-cache of {views} views")
    if frame_size == render_size:  # the training path: rendered at data.size, downscaled (data.resize_frames)
        fit = lambda a, nearest=False: resize_frames(a, size, nearest)  # noqa: E731
    else:  # another camera's image size: fitted like the reference
        fit = lambda a, nearest=False: np.stack([letterbox(f, size, nearest) for f in a])  # noqa: E731
    return Inputs(reference=reference, skeleton=fit(skeleton), rcm=fit(rcm_video, True),
                  cache_rgb=resize_frames(cache.rgb, size), cache_rcm=resize_frames(cache.rcm, size, True), design=design, notes=notes)


def _agree(frames: int | None, n: int, what, source) -> int:
    if frames is not None and frames != n:
        raise GenerateError(f"{source}: has {n} frames but {what} has {frames}; the pose and the trajectory must have "
                            "one entry per frame")
    return n


# ---------------------------------------------------------------------------------- sampling


def load_model(cfg: Config, checkpoint: Path | None, base: Path, adapters: Path):
    """The base (tiny pretrained or Wan2.1) with the run's LoRA + fusion (`curriculum.run_model`)."""
    from safetensors.torch import load_file

    from .model import build_model, load_wan, place
    from .train import add_lora, load_adapters

    model, codec = build_model(cfg.model, seed=cfg.seed)
    if checkpoint is None:
        model.transformer = load_wan(base, "transformer")
        model.null_text.data.copy_(load_file(base / "null_text.safetensors")["null_text"])
    add_lora(model, cfg.model.lora_rank, cfg.model.lora_alpha, cfg.model.lora_targets)
    try:
        load_adapters(model, adapters)
    except (RuntimeError, ValueError) as e:
        raise GenerateError(f"{adapters}: adapters do not fit the model: {e}") from None
    return place(model.eval(), codec), codec


def sample_video(model, codec, inputs: Inputs, cfg: Config, steps: int, seed: int):
    """Encode the conditions (`train.encode_clips`), drop what the design does not use
    (`model.drop_conditions`) and sample (`sample.sample_long`: multi-segment past one window, §4)."""
    import torch
    from tqdm.auto import tqdm

    from .model import drop_conditions
    from .sample import sample_long
    from .train import encode_clips, tensor_to_frames

    data = encode_clips(codec, inputs.skeleton[None], inputs.skeleton[None], inputs.reference[None],
                        rcm=inputs.rcm[None], cache_rgb=inputs.cache_rgb[None], cache_rcm=inputs.cache_rcm[None])
    cond = drop_conditions(data.cond, inputs.design)
    s = cfg.sampler
    t = cond.pose.shape[2]
    segments = 1 if t <= s.window else 1 + int(np.ceil((t - s.window) / (s.window - s.overlap)))
    calls = steps * segments * (2 if s.guidance != 1.0 else 1)
    with tqdm(total=calls, desc=f"sampling ({segments} segment{'s' * (segments > 1)})", unit="call") as bar:
        hook = model.register_forward_hook(lambda *_: bar.update() and None)  # None: keep the output
        try:
            z = sample_long(model, cond, window=s.window, overlap=s.overlap, steps=steps, scheduler=s.scheduler,
                            shift=s.shift, guidance=s.guidance, seed=seed)
        finally:
            hook.remove()
    with torch.no_grad():
        return tensor_to_frames(codec.decode(z.float().cpu()))[0]


# ---------------------------------------------------------------------------------- output


def upscale(frames: np.ndarray, k: int) -> np.ndarray:
    return frames if k == 1 else frames.repeat(k, axis=-3).repeat(k, axis=-2)


def write_mp4(path: Path, frames: np.ndarray, fps: float) -> Path:
    """H.264 MP4 through imageio-ffmpeg's own ffmpeg binary (even sizes: yuv420p)."""
    import imageio_ffmpeg

    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(str(path), (frames.shape[2], frames.shape[1]), fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", macro_block_size=1, quality=8,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


def write_gif(path: Path, frames: np.ndarray, fps: float) -> Path:
    import imageio.v3 as iio

    iio.imwrite(path, frames, duration=1000 / fps, loop=0)
    return path


def cache_grid(views: np.ndarray, size) -> np.ndarray:
    """The cache views tiled into one (h, w) image, a ceil(sqrt(V)) grid."""
    n = int(np.ceil(np.sqrt(len(views))))
    h, w = size
    cell = (max(1, h // n), max(1, w // n))
    out = np.zeros((h, w, 3), np.uint8)
    for i, v in enumerate(views):
        r, c = divmod(i, n)
        out[r * cell[0]:(r + 1) * cell[0], c * cell[1]:(c + 1) * cell[1]] = resize_frames(v, cell)
    return out


def panel(inputs: Inputs, video: np.ndarray) -> np.ndarray:
    """Per frame, side by side: reference | skeleton | RCM | RCM-cache RGB | RCM-cache RCM | result."""
    size = video.shape[1:3]
    still = [inputs.reference, None, None, cache_grid(inputs.cache_rgb, size), cache_grid(inputs.cache_rcm, size)]
    rows = []
    for t in range(len(video)):
        parts = [still[0], inputs.skeleton[t], inputs.rcm[t], still[3], still[4], video[t]]
        rows.append(np.concatenate(parts, axis=1))
    return np.stack(rows)


# ---------------------------------------------------------------------------------- the command


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="byteloom-generate", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", required=True, help="person image (PNG/JPG, any size)")
    ap.add_argument("--pose", required=True, help=f"folder of OpenPose JSON files, or a built-in motion: {mo.list_motions()}")
    ap.add_argument("--object", required=True, help=f"mesh file (PLY/OBJ/GLB) or a built-in object: {list(assets.ASSETS)}")
    ap.add_argument("--trajectory", help="object poses: BOP scene folder or scene_gt.json, or a keyframes JSON")
    ap.add_argument("--hold", choices=sorted(HOLD_PHASES), help="built-in motion: which hand holds the object (default right)")
    ap.add_argument("--frame-size", help="HEIGHTxWIDTH of the images the keypoints and the trajectory's camera "
                    "refer to (default: from the camera's principal point)")
    ap.add_argument("--mesh-scale", type=float, default=1.0, help="mesh units to metres with --trajectory (BOP mm: 0.001)")
    ap.add_argument("--adapters", help="trained run folder (<run>/seed<k>[/adapters]); default: ByteLoom I+II+III")
    ap.add_argument("--design", choices=VARIANTS, help="conditioning design of the adapters (default: from the run name)")
    ap.add_argument("--checkpoint", help="base model: the pipeline's tiny base (default build/train/base) or a Wan2.1 folder")
    ap.add_argument("--train-dir", default=str(TRAIN_DIR), help="where the default adapters are (build/train)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--frames", type=int, help="frames (default: the pose/trajectory's, else data.frames)")
    ap.add_argument("--size", help="HEIGHTxWIDTH of the model (default curriculum.size)")
    ap.add_argument("--cache-views", type=int, help="RCM-cache views (default data.cache_views)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="sampling steps (default sampler.steps)")
    ap.add_argument("--upscale", type=int, default=1, help="nearest-neighbour upscaling of the written videos")
    ap.add_argument("--out", default="video.mp4", help="output MP4")
    ap.add_argument("--gif", action="store_true", help="also write a GIF beside the MP4")
    ap.add_argument("--panel", action="store_true", help="also write <out>_panel.mp4: reference, skeleton, RCM, cache, result")
    return ap


def check_options(args) -> tuple[Config, Path | None, Path, Path, tuple[int, int], str]:
    """Params, base, adapters (checked against the model), size and design: (cfg, Wan2.1 folder or
    None, base folder, adapter folder, (h, w), design)."""
    try:
        cfg = load_config(args.params)
    except (ConfigError, FileNotFoundError) as e:
        raise GenerateError(f"{args.params}: {e}") from None
    cfg, checkpoint, base, adapters = resolve_model(args, cfg)
    size = parse_size(args.size, cfg.curriculum.size)
    check_size_fits(size, cfg, base)
    for name in ("cache_views", "steps", "upscale"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise GenerateError(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    if not str(args.out).lower().endswith(".mp4"):
        raise GenerateError(f"--out {args.out}: must end in .mp4")
    design = adapter_design(adapters, args.design)
    check_adapters(adapters, cfg, base)
    return cfg, checkpoint, base, adapters, size, design


def write_outputs(args, inputs: Inputs, video: np.ndarray, fps: float) -> list[Path]:
    """The MP4, and on request the GIF and the side-by-side panel MP4."""
    out = write_mp4(Path(args.out), upscale(video, args.upscale), fps)
    paths = [out]
    if args.gif:
        paths.append(write_gif(out.with_suffix(".gif"), upscale(video, args.upscale), fps))
    if args.panel:
        paths.append(write_mp4(out.with_name(out.stem + "_panel.mp4"), upscale(panel(inputs, video), args.upscale), fps))
    return paths


def generate(argv=None) -> dict:
    """Run the command: {"video": (T, H, W, 3) uint8, "out", "panel" (path or None), "inputs", "seconds"}."""
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    cfg, checkpoint, base, adapters, size, design = check_options(args)
    inputs = prepare(args, cfg, size, design)
    for n in inputs.notes:
        print(n)
    t1 = time.perf_counter()
    model, codec = load_model(cfg, checkpoint, base, adapters)
    t2 = time.perf_counter()
    video = sample_video(model, codec, inputs, cfg, args.steps or cfg.sampler.steps, args.seed)
    t3 = time.perf_counter()
    paths = write_outputs(args, inputs, video, cfg.data.fps)
    seconds = {"inputs": t1 - t0, "model": t2 - t1, "sampling": t3 - t2, "total": time.perf_counter() - t0}
    print(f"wrote {', '.join(map(str, paths))} ({len(video)} frames, {video.shape[2]}x{video.shape[1]}, design "
          f"{design}); {seconds['total']:.1f} s (sampling {seconds['sampling']:.1f} s)")
    return {"video": video, "out": paths[0], "panel": paths[-1] if args.panel else None, "inputs": inputs,
            "seconds": seconds}


def main(argv=None) -> None:
    import sys

    try:
        generate(argv)
    except GenerateError as e:
        print(f"byteloom-generate: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
