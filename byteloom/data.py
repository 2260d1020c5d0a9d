"""One clip format for every curriculum stage (paper §3.3, Table 1), and its loader.

A clip is a folder (see docs/clip_format.md):

    meta.json            format, source, split, stage, seed, identity and object ids, fps, size
    frames.npz           rgb (T,H,W,3) uint8 · rcm (T,H,W,3) uint8 · skeleton (T,H,W,3) uint8
                         optional: depth (T,H,W) float32 metres · mask_human / mask_object /
                         mask_hands (T,H,W) bool
    reference.png        the human reference image (H,W,3)
    openpose/NNNNNN_keypoints.json   OpenPose output layout, one person per frame
    scene_gt.json        BOP layout: per frame [{"cam_R_m2c", "cam_t_m2c" (mm), "obj_id"}]
    scene_camera.json    BOP layout: per frame {"cam_K", "depth_scale"}
    object.ply           the object mesh in millimetres, as BOP models are
    rcm_cache.npz        the object's RCM-cache (byteloom.rcm.RcmCache)

Units inside byteloom are metres; BOP files are millimetres and are converted on read/write.
Clips without an object (Stage I) have no scene_gt.json, object.ply, rcm_cache.npz, and their rcm
frames are zero.
"""
from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import trimesh
from PIL import Image

from . import openpose
from .geometry import check_intrinsics, check_pose
from .io import save_npz
from .rcm import RcmCache

if TYPE_CHECKING:  # annotations only: torch and the model load lazily (section latents)
    from .config import Config
    from .train import LatentClips

FORMAT = "byteloom-clip/1"
FRAME_ARRAYS = {"rgb": np.uint8, "rcm": np.uint8, "skeleton": np.uint8}
OPTIONAL_ARRAYS = {"depth": np.float32, "mask_human": bool, "mask_object": bool, "mask_hands": bool}
META_KEYS = ("format", "source", "split", "stage", "seed", "identity", "object", "fps", "num_frames", "height", "width")


@dataclass
class Clip:
    """A loaded clip; arrays are per frame (T first). `poses`/`mesh`/`cache` are None without an object."""

    meta: dict
    rgb: np.ndarray
    rcm: np.ndarray
    skeleton: np.ndarray
    reference: np.ndarray
    body: np.ndarray  # (T, 18, 3) OpenPose body keypoints [x, y, confidence]
    hands: np.ndarray  # (T, 2, 21, 3) left, right hand keypoints; confidence 0 where absent
    K: np.ndarray  # (T, 3, 3) intrinsics per frame
    poses: np.ndarray | None = None  # (T, 4, 4) obj_to_cam, metres
    mesh: trimesh.Trimesh | None = None  # metres
    cache: RcmCache | None = None
    extra: dict = field(default_factory=dict)  # optional arrays (depth, masks)

    @property
    def num_frames(self) -> int:
        return len(self.rgb)


class ClipError(ValueError):
    """A malformed clip: the message names the file and the problem."""


# ---------------------------------------------------------------------------------- BOP


def bop_pose(entry: dict, where: str) -> np.ndarray:
    """obj_to_cam (metres) from one BOP scene_gt entry (cam_R_m2c row-major, cam_t_m2c in mm)."""
    try:
        R = np.asarray(entry["cam_R_m2c"], dtype=np.float64).reshape(3, 3)
        t = np.asarray(entry["cam_t_m2c"], dtype=np.float64).reshape(3) / 1000.0
    except (KeyError, ValueError) as e:
        raise ClipError(f"{where}: needs cam_R_m2c (9 numbers) and cam_t_m2c (3 numbers): {e}") from None
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    try:
        return check_pose(T, where, tol=1e-4)
    except ValueError as e:
        raise ClipError(str(e)) from None


def bop_entry(pose: np.ndarray, obj_id: int) -> dict:
    return {"cam_R_m2c": pose[:3, :3].ravel().tolist(), "cam_t_m2c": (pose[:3, 3] * 1000).tolist(), "obj_id": obj_id}


def read_bop_scene(folder: str | Path, obj_id: int | None = None) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Read a BOP scene folder's scene_gt.json and scene_camera.json.

    Returns ({frame_id: obj_to_cam (metres)}, {frame_id: K}) for `obj_id` (default: the only object
    of the scene; an error if there are several and none is chosen).
    """
    folder = Path(folder)
    gt = _read_json(folder / "scene_gt.json", 'BOP poses {"<frame>": [{"cam_R_m2c", "cam_t_m2c", "obj_id"}]}')
    cam = _read_json(folder / "scene_camera.json", 'BOP cameras {"<frame>": {"cam_K": [9 numbers]}}')
    for name, doc, inner in (("scene_gt.json", gt, list), ("scene_camera.json", cam, dict)):
        if not isinstance(doc, dict) or not all(isinstance(v, inner) for v in doc.values()) \
                or not all(str(k).isdigit() for k in doc):
            raise ClipError(f"{folder / name}: expected an object of frame ids to {inner.__name__}s (BOP layout)")
    poses, Ks = {}, {}
    for key, entries in gt.items():
        where = f"{folder / 'scene_gt.json'}[{key}]"
        if not all(isinstance(e, dict) for e in entries):
            raise ClipError(f"{where}: expected a list of objects with cam_R_m2c, cam_t_m2c, obj_id")
        if obj_id is None:
            ids = sorted({e.get("obj_id") for e in entries})
            if len(ids) > 1:
                raise ClipError(f"{where}: several objects {ids}; choose one with obj_id")
        chosen = [e for e in entries if obj_id is None or e.get("obj_id") == obj_id]
        if chosen:
            poses[int(key)] = bop_pose(chosen[0], where)
    for key, c in cam.items():
        try:
            Ks[int(key)] = check_intrinsics(np.asarray(c["cam_K"], dtype=np.float64).reshape(3, 3))
        except (KeyError, ValueError) as e:
            raise ClipError(f"{folder / 'scene_camera.json'}[{key}]: bad cam_K: {e}") from None
    missing = sorted(set(poses) - set(Ks))
    if missing:
        raise ClipError(f"{folder / 'scene_camera.json'}: no camera for frames {missing[:5]}")
    return poses, Ks


def read_bop_model(path: str | Path) -> trimesh.Trimesh:
    """A BOP model (`models/obj_XXXXXX.ply`, millimetres) as a trimesh in metres; a texture named in
    the header (`comment TextureFile obj_XXXXXX.png`, BOP's convention) is loaded with it."""
    from .assets import load_mesh

    mesh = load_mesh(path)
    mesh.apply_scale(0.001)
    return mesh


def write_bop_model(path: str | Path, mesh: trimesh.Trimesh) -> None:
    """Write `mesh` (metres) as a BOP model: PLY in millimetres with per-vertex UVs and, for a
    textured mesh, the texture as a PNG beside it, named in the header as BOP models do."""
    path = Path(path)
    mm = mesh.copy()
    mm.apply_scale(1000.0)
    data = mm.export(file_type="ply")
    image = getattr(getattr(mesh.visual, "material", None), "image", None)
    uv = getattr(mesh.visual, "uv", None)
    if image is not None and uv is not None and len(uv) == len(mesh.vertices):
        texture = path.with_suffix(".png")
        image.convert("RGB").save(texture)
        head, sep, body = data.partition(b"end_header\n")
        lines = head.split(b"\n")
        lines.insert(2, b"comment TextureFile " + texture.name.encode())  # after `ply` and `format ...`
        data = b"\n".join(lines) + sep + body
    path.write_bytes(data)


def _read_json(path: Path, expected: str = "a JSON document"):
    if not path.is_file():
        raise ClipError(f"{path}: file missing (expected {expected})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ClipError(f"{path}: not valid JSON ({e}); expected {expected}") from None


def _damaged(path: Path, expected: str, e: Exception) -> ClipError:
    """The error for a file that exists but cannot be read: names the file, the cause, what was
    expected and how to get a good copy back."""
    return ClipError(f"{path}: damaged or truncated ({type(e).__name__}: {e}); expected {expected}. "
                     "Regenerate the clip (`dvc repro data@<split>`; `dvc status` lists changed data) "
                     "or import it again (byteloom.data.import_clip)")


# ---------------------------------------------------------------------------------- write / read


def save_clip(folder: str | Path, clip: Clip) -> Path:
    """Write `clip` to a new folder (refuses to overwrite an existing one)."""
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder}: already exists; remove it first")
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True)
    meta = {**clip.meta, "format": FORMAT, "num_frames": clip.num_frames,
            "height": int(clip.rgb.shape[1]), "width": int(clip.rgb.shape[2])}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    save_npz(tmp / "frames.npz", rgb=clip.rgb, rcm=clip.rcm, skeleton=clip.skeleton, **clip.extra)
    Image.fromarray(clip.reference).save(tmp / "reference.png")
    (tmp / "openpose").mkdir()
    for t in range(clip.num_frames):
        openpose.write_openpose_json(tmp / "openpose" / f"{t:06d}_keypoints.json", clip.body[t],
                                     left_hand=clip.hands[t, 0], right_hand=clip.hands[t, 1])
    (tmp / "scene_camera.json").write_text(json.dumps(
        {str(t): {"cam_K": clip.K[t].ravel().tolist(), "depth_scale": 1.0} for t in range(clip.num_frames)}))
    if clip.poses is not None:
        (tmp / "scene_gt.json").write_text(json.dumps({str(t): [bop_entry(p, 1)] for t, p in enumerate(clip.poses)}))
        write_bop_model(tmp / "object.ply", clip.mesh)
        if clip.cache is not None:
            clip.cache.save(tmp / "rcm_cache.npz")
    tmp.rename(folder)
    return folder


def load_clip(path: str | Path) -> Clip:
    """Load and validate a clip folder; every error names the file and the problem."""
    folder = Path(path)
    if not folder.is_dir():
        raise ClipError(f"{folder}: clip folder not found")
    meta = _read_json(folder / "meta.json", f"the clip's metadata with keys {list(META_KEYS)}")
    if not isinstance(meta, dict):
        raise ClipError(f"{folder / 'meta.json'}: expected a JSON object with keys {list(META_KEYS)}")
    missing = [k for k in META_KEYS if k not in meta]
    if missing or meta.get("format") != FORMAT:
        raise ClipError(f"{folder / 'meta.json'}: not a {FORMAT} clip (missing keys {missing}, format {meta.get('format')!r})")
    for key in ("num_frames", "height", "width"):
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 1:
            raise ClipError(f"{folder / 'meta.json'}: '{key}' must be a positive integer, got {meta[key]!r}")
    n = meta["num_frames"]
    frames = _load_frames(folder / "frames.npz", n, (meta["height"], meta["width"]))
    reference = _load_image(folder / "reference.png", (meta["height"], meta["width"]))
    body, hands = _load_keypoints(folder / "openpose", n)
    poses_by_frame, K_by_frame = ({}, {})
    has_object = (folder / "scene_gt.json").exists()
    if has_object:
        poses_by_frame, K_by_frame = read_bop_scene(folder)
    else:
        cam_path = folder / "scene_camera.json"
        cams = _read_json(cam_path, 'BOP cameras {"<frame>": {"cam_K": [9 numbers], "depth_scale": 1.0}}')
        try:
            K_by_frame = {int(k): check_intrinsics(np.reshape(np.asarray(v["cam_K"], float), (3, 3)))
                          for k, v in cams.items()}
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise ClipError(f"{cam_path}: expected {{\"<frame>\": {{\"cam_K\": [9 numbers]}}}} per frame ({e})") from None
    if sorted(K_by_frame) != list(range(n)):
        raise ClipError(f"{folder / 'scene_camera.json'}: has {len(K_by_frame)} frames, meta.json says {n}")
    clip = Clip(meta=meta, rgb=frames.pop("rgb"), rcm=frames.pop("rcm"), skeleton=frames.pop("skeleton"),
                reference=reference, body=body, hands=hands, K=np.stack([K_by_frame[t] for t in range(n)]), extra=frames)
    if has_object:
        if sorted(poses_by_frame) != list(range(n)):
            raise ClipError(f"{folder / 'scene_gt.json'}: has poses for {len(poses_by_frame)} frames, meta.json says {n}")
        clip.poses = np.stack([poses_by_frame[t] for t in range(n)])
        ply = folder / "object.ply"
        if not ply.is_file():
            raise ClipError(f"{ply}: file missing (expected the object's BOP model, PLY in mm; scene_gt.json names an object)")
        try:
            clip.mesh = read_bop_model(ply)
        except ValueError as e:
            raise _damaged(ply, "a BOP model: a triangle mesh in millimetres", e) from None
        cache_path = folder / "rcm_cache.npz"
        if cache_path.exists():
            try:
                clip.cache = RcmCache.load(cache_path)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, TypeError) as e:
                raise _damaged(cache_path, "an RCM-cache archive (byteloom.rcm.RcmCache.save)", e) from None
    return clip


def _load_image(path: Path, size) -> np.ndarray:
    """The reference image: an RGB image of the clip's size."""
    if not path.is_file():
        raise ClipError(f"{path}: file missing (expected the human reference image, PNG {size[0]}x{size[1]})")
    try:
        with Image.open(path) as im:
            image = np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as e:  # PIL: UnidentifiedImageError is an OSError; truncated data
        raise _damaged(path, f"a PNG image of {size[0]}x{size[1]} px", e) from None
    if image.shape[:2] != tuple(size):
        raise ClipError(f"{path}: image is {image.shape[0]}x{image.shape[1]} px, meta.json says {size[0]}x{size[1]}")
    return image


def _load_frames(path: Path, n: int, size) -> dict:
    expected = f"an .npz archive with uint8 arrays rgb, rcm, skeleton of shape ({n}, {size[0]}, {size[1]}, 3)"
    if not path.is_file():
        raise ClipError(f"{path}: file missing (expected {expected})")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise _damaged(path, expected, e) from None
    for name, dtype in {**FRAME_ARRAYS, **OPTIONAL_ARRAYS}.items():
        if name not in arrays:
            if name in FRAME_ARRAYS:
                raise ClipError(f"{path}: missing array '{name}'")
            continue
        a = arrays[name]
        want = (n, *size, 3) if name in FRAME_ARRAYS else (n, *size)
        if a.shape[0] != n:
            raise ClipError(f"{path}: '{name}' has {a.shape[0]} frames, meta.json says {n}")
        if a.shape != want or a.dtype != dtype:
            raise ClipError(f"{path}: '{name}' is {a.dtype}{list(a.shape)}, expected {np.dtype(dtype)}{list(want)}")
    unknown = sorted(set(arrays) - set(FRAME_ARRAYS) - set(OPTIONAL_ARRAYS))
    if unknown:
        raise ClipError(f"{path}: unknown arrays {unknown}")
    return arrays


def _load_keypoints(folder: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(folder.glob("*_keypoints.json")) if folder.is_dir() else []
    if len(files) != n:
        raise ClipError(f"{folder}: has {len(files)} keypoint files, expected {n} (one per frame)")
    body, hands = np.zeros((n, 18, 3)), np.zeros((n, 2, 21, 3))
    for t, f in enumerate(files):
        try:
            people = openpose.read_openpose_json(f)
        except ValueError as e:  # the reader's message names the file and the problem
            raise ClipError(f"{e} (expected OpenPose's --write_json layout: 'people' with "
                            "pose_keypoints_2d of 18 x [x, y, c], optional hand_*_keypoints_2d of 21 x [x, y, c])") from None
        if people:
            p = people[0]
            body[t] = p.body
            if p.left_hand is not None:
                hands[t, 0] = p.left_hand
            if p.right_hand is not None:
                hands[t, 1] = p.right_hand
    return body, hands


# ---------------------------------------------------------------------------------- importing real data


def import_clip(out: str | Path, frames_dir: str | Path, openpose_dir: str | Path, bop_scene: str | Path | None = None,
                model: str | Path | None = None, obj_id: int | None = None, reference: str | Path | None = None,
                cache_views: int = 9, split: str = "real", fps: float = 15.0, source: str = "import") -> Path:
    """Turn real data into a clip: frames (images, sorted by name), OpenPose JSONs (one per frame,
    e.g. from OpenPose or a pose model run on the user's video) and, for an object, a BOP scene
    folder (scene_gt.json, scene_camera.json) with its BOP model (.ply, mm).

    The per-frame RCM and the RCM-cache are rendered from the model at the BOP poses; the skeleton
    images are drawn from the keypoints. The reference image defaults to the first frame.
    """
    from .rcm import build_cache, render_rcm

    frames_dir, openpose_dir = Path(frames_dir), Path(openpose_dir)
    images = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")) if frames_dir.is_dir() else []
    if not images:
        raise ClipError(f"{frames_dir}: no .png/.jpg frames found")
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in images])
    n, h, w = rgb.shape[:3]
    body, hands = _load_keypoints(openpose_dir, n)
    skeleton = np.stack([openpose.draw_skeleton(body[t], hands=[hands[t, 0], hands[t, 1]], size=(h, w)) for t in range(n)])
    ref = rgb[0] if reference is None else np.asarray(Image.open(reference).convert("RGB"))
    poses = mesh = cache = None
    K = None
    rcm_frames = np.zeros_like(rgb)
    if bop_scene is not None:
        if model is None:
            raise ClipError(f"{bop_scene}: a BOP scene needs its object model (.ply) too")
        by_frame, K_by_frame = read_bop_scene(bop_scene, obj_id)
        if sorted(by_frame) != list(range(n)):
            raise ClipError(f"{bop_scene}: has poses for frames {sorted(by_frame)[:3]}..., expected 0..{n - 1} for {n} frames")
        poses = np.stack([by_frame[t] for t in range(n)])
        K = np.stack([K_by_frame[t] for t in range(n)])
        mesh = read_bop_model(model)
        rcm_frames = np.stack([render_rcm(mesh, poses[t], K[t], (h, w)).image for t in range(n)])
        cache = build_cache(mesh, cache_views, (h, w))
    else:
        K_by_frame = {}
        cam = Path(frames_dir) / "scene_camera.json"
        if cam.exists():
            K_by_frame = {int(k): np.reshape(v["cam_K"], (3, 3)) for k, v in _read_json(cam).items()}
        K = np.stack([K_by_frame.get(t, np.array([[max(h, w), 0, (w - 1) / 2], [0, max(h, w), (h - 1) / 2], [0, 0, 1.0]]))
                      for t in range(n)])
    meta = {"source": source, "split": split, "stage": split, "seed": None, "identity": None,
            "object": None if obj_id is None and bop_scene is None else obj_id, "fps": fps}
    clip = Clip(meta=meta, rgb=rgb, rcm=rcm_frames, skeleton=skeleton, reference=ref, body=body, hands=hands, K=K,
                poses=poses, mesh=mesh, cache=cache)
    return save_clip(out, clip)


# ---------------------------------------------------------------------------------- splits


def resize_frames(frames: np.ndarray, size, nearest: bool = False) -> np.ndarray:
    """Resize (..., H, W, 3) uint8 frames to `size` = (h, w); nearest keeps RCM colours exact."""
    h, w = size
    if frames.shape[-3:-1] == (h, w):
        return frames
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    flat = frames.reshape(-1, *frames.shape[-3:])
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in flat]).reshape(*frames.shape[:-3], h, w, 3)


def split_folders(root: str | Path, split: str) -> list[Path]:
    """The clip folders of one split, in order; a missing or empty split is an error naming it."""
    folder = Path(root) / split
    clips = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not clips:
        raise FileNotFoundError(f"{folder}: no clips (generate them with `dvc repro data@{split}`)")
    return clips


def load_split(root: str | Path, split: str, size, cache_views: int, limit: int | None = None) -> dict[str, np.ndarray]:
    """One split as stacked uint8 arrays at `size` (the curriculum's `curriculum.size`): rgb/pose/rcm
    (N,T,H,W,3), reference (N,H,W,3), cache_rgb/cache_rcm (N,V,H,W,3), the first `cache_views`
    views. Clips without an object (Stage I) get black RCM and cache."""
    out: dict[str, list] = {k: [] for k in ("rgb", "pose", "rcm", "reference", "cache_rgb", "cache_rcm")}
    for folder in split_folders(root, split)[:limit]:
        c = load_clip(folder)
        h, w = c.rgb.shape[1:3]
        if c.cache is not None and c.cache.num_views < cache_views:
            raise ValueError(f"{folder}: RCM-cache has {c.cache.num_views} views, {cache_views} needed")
        blank = np.zeros((cache_views, h, w, 3), np.uint8)
        cache_rgb = c.cache.rgb[:cache_views] if c.cache is not None else blank
        cache_rcm = c.cache.rcm[:cache_views] if c.cache is not None else blank
        for key, a, nearest in [("rgb", c.rgb, False), ("pose", c.skeleton, False), ("rcm", c.rcm, True),
                                ("reference", c.reference, False), ("cache_rgb", cache_rgb, False),
                                ("cache_rcm", cache_rcm, True)]:
            out[key].append(resize_frames(a, size, nearest))
    return {k: np.stack(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------- latents
# What training and sampling read: a split encoded by the model's codec, and the base's corpus.
# torch, the codec and the model load only here (lazily), so clip writers stay light.

CORPUS_DIR = Path("build/pretrain_data")  # the base's own generated corpus (not a DVC out: the stage is frozen)


def split_latents(cfg: Config, split: str, codec, design: str, cache_views: int | None = None,
                  limit: int | None = None) -> LatentClips:
    """A split encoded once (the latent cache, `train.encode_clips`) at `curriculum.size`, with the
    conditions of `design` (`model.drop_conditions`; paper §3.1)."""
    from .model import drop_conditions
    from .train import LatentClips, encode_clips

    views = cfg.data.cache_views if cache_views is None else cache_views
    a = load_split(cfg.data.root, split, cfg.curriculum.size, views, limit)
    data = encode_clips(codec, a["rgb"], a["pose"], a["reference"], rcm=a["rcm"], cache_rgb=a["cache_rgb"],
                        cache_rcm=a["cache_rcm"])
    return LatentClips(data.video, drop_conditions(data.cond, design))


def base_corpus(cfg: Config, root: Path = CORPUS_DIR, progress: bool = True) -> Config:
    """Generate the base's pretraining corpus (`base.clips` per split, Mani4D-mini with seed + 1: other
    clips than the curriculum's, the test split's identities and objects never appear) into `root`,
    once; returns `cfg` with `data.root` and `data.clips` pointing at it. A split folder with another
    number of finished clips is regenerated."""
    import shutil
    from dataclasses import replace

    from .config import BASE_SPLITS
    from .mani4d import generate_split

    clips = {**cfg.data.clips, **cfg.base.clips}
    corpus = replace(cfg, data=replace(cfg.data, root=str(root), clips=clips))
    for split in BASE_SPLITS:
        folder = Path(root) / split
        done = folder.is_dir() and len([p for p in folder.iterdir() if (p / "meta.json").is_file()]) == clips[split]
        if not done:
            shutil.rmtree(folder, ignore_errors=True)
            generate_split(corpus.data, split, cfg.seed + 1, progress=progress)
    return corpus


def reference_only(data: LatentClips) -> LatentClips:
    """Clips conditioned on their reference frame alone (pose zeroed, no object), as the base is trained."""
    import torch

    from .model import Conditions
    from .train import LatentClips

    return LatentClips(data.video, Conditions(ref=data.cond.ref, pose=torch.zeros_like(data.cond.pose)))


def base_data(corpus: Config, codec) -> LatentClips:
    """The base's training set: every clip of its corpus (`base_corpus`), reference only."""
    import torch

    from .config import BASE_SPLITS
    from .model import Conditions
    from .train import LatentClips

    parts = [split_latents(corpus, s, codec, "pose_only") for s in BASE_SPLITS]
    return reference_only(LatentClips(torch.cat([p.video for p in parts]),
                                      Conditions(ref=torch.cat([p.cond.ref for p in parts]),
                                                 pose=torch.cat([p.cond.pose for p in parts]))))
