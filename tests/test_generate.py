"""`python -m byteloom.generate` on a micro model: MP4s from your own person, object and motion, and
a clear error, before the model loads, for every bad input."""
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import trimesh
import yaml
from PIL import Image

from byteloom import curriculum as C
from byteloom import generate as G
from byteloom import assets, mani4d, openpose, scene
from byteloom.config import config_from_dict
from byteloom.data import bop_entry
from byteloom.geometry import intrinsics_from_fov, pose_from_rotvec
from tests.test_curriculum import micro

FRAMES = 3  # micro data.frames
SIZE = (16, 16)  # micro curriculum.size


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A micro ByteLoom I+II+III run (params file, tiny base, adapters) and user inputs on disk."""
    tmp = tmp_path_factory.mktemp("generate")
    params = micro(tmp, as_dict=True)
    params["data"]["clips"]["test"] = 3  # lesson 7 (tests/test_adapt.py) exports three benchmark clips
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    cfg = config_from_dict(params, "micro")
    for split in ("stage1", "stage2", "stage3", "test"):
        mani4d.generate_split(cfg.data, split, seed=cfg.seed, progress=False)
    dirs = dict(train_dir=tmp / "train", ckpt_dir=tmp / "ckpt")
    C.pretrain_base(cfg, progress=False, **dirs)
    for run in ("I", "rcm_cache-I-II", "rcm_cache-I-II-III"):
        C.train_stage(cfg, run, 0, progress=False, **dirs)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp / "me.png")
    mesh = trimesh.creation.annulus(r_min=0.3, r_max=0.5, height=0.4)  # a shape Mani4D-mini never uses
    mesh.export(tmp / "ring.ply")
    return tmp


def args(tmp: Path, **kw) -> list[str]:
    """Command line for the micro model; keyword `x_y=v` becomes `--x-y v` (None drops the option)."""
    base = dict(reference=tmp / "me.png", pose="walk", object=tmp / "ring.ply", params=tmp / "params.yaml",
                checkpoint=tmp / "train" / "base", adapters=tmp / "train" / "rcm_cache-I-II-III" / "seed0",
                steps=2, out=tmp / "out" / "video.mp4")
    base.update(kw)
    out = []
    for k, v in base.items():
        if v is True:
            out.append(f"--{k.replace('_', '-')}")
        elif v is not None:
            out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def read_mp4(path: Path) -> np.ndarray:
    return iio.imread(path, index=None, plugin="FFMPEG")


def test_builtin_motion_new_mesh_and_photo_make_an_mp4(world, capsys):
    r = G.generate(args(world, hold="right", panel=True, gif=True))
    video = read_mp4(r["out"])
    assert video.shape == (FRAMES, *SIZE, 3)
    assert r["video"].shape == (FRAMES, *SIZE, 3)
    # H.264 4:2:0 at 16x16 blurs the micro model's pixel noise; each frame's mean colour survives
    assert np.abs(video.mean(axis=(1, 2)) - r["video"].mean(axis=(1, 2))).max() < 12
    assert read_mp4(r["panel"]).shape == (FRAMES, SIZE[0], 6 * SIZE[1], 3)
    assert len(iio.imread(r["out"].with_suffix(".gif"), index=None)) == FRAMES
    inputs = r["inputs"]
    assert inputs.skeleton.any(axis=(1, 2, 3)).all(), "a skeleton in every frame"
    assert inputs.rcm.any(axis=(1, 2, 3)).all(), "the held object is seen in every frame"
    assert inputs.cache_rgb.shape == (2, *SIZE, 3)  # micro data.cache_views
    printed = capsys.readouterr().out
    assert "30x40 resized and padded to the model's 16x16" in printed
    assert "object held (right): r r r" in printed


def test_the_mp4_writer_keeps_smooth_frames(tmp_path):
    y, x = np.mgrid[0:32, 0:48]
    frames = np.stack([np.stack([x * 5, y * 7, np.full_like(x, 40 * t)], -1) for t in range(5)]).astype(np.uint8)
    back = read_mp4(G.write_mp4(tmp_path / "v.mp4", frames, fps=15))
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 4


def test_hold_both_is_the_generators_own_clip():
    """--hold both plans the hands, the object and the camera exactly as a Mani4D-mini Stage III clip."""
    mesh, size = assets.load_object("mug", extent=0.2), (32, 32)
    truth = mani4d.human_clip(scene.make_identity(0), "walk", 9, size, seed=5, obj=mesh)
    ours = G.perform_motion("walk", 9, size, intrinsics_from_fov(size, 40.0), 5, 15.0, 40.0, mesh, "both")
    np.testing.assert_allclose(ours.world_to_cam, truth.world_to_cam, atol=1e-9)
    np.testing.assert_allclose(ours.world_to_cam @ ours.objects, truth.poses, atol=1e-9)
    assert ours.holder == truth.holder
    assert np.array_equal(ours.skeleton, truth.skeleton)


def test_multi_segment_when_frames_exceed_the_window(world):
    r = G.generate(args(world, frames=11, hold="left", out=world / "out" / "long.mp4"))  # window 9: two segments
    assert read_mp4(r["out"]).shape == (11, *SIZE, 3)


def write_user_clip(tmp: Path, frames: int = FRAMES, size=(24, 20)):
    """An OpenPose folder and a BOP scene (mm mesh beside it), as a user's tools would write them."""
    pose_dir, scene_dir = tmp / "openpose", tmp / "bop"
    pose_dir.mkdir(exist_ok=True)
    scene_dir.mkdir(exist_ok=True)
    h, w = size
    rng = np.random.default_rng(1)
    K = intrinsics_from_fov(size, 40.0)
    gt, cam = {}, {}
    for t in range(frames):
        body = np.column_stack([rng.uniform(2, w - 2, 18), rng.uniform(2, h - 2, 18), np.ones(18)])
        openpose.write_openpose_json(pose_dir / f"{t:06d}_keypoints.json", body)
        pose = pose_from_rotvec([0.0, 0.4 * t, 0.1], [0.0, 0.0, 0.6])
        gt[str(t)] = [bop_entry(pose, 1)]
        cam[str(t)] = {"cam_K": K.ravel().tolist(), "depth_scale": 1.0}
    (scene_dir / "scene_gt.json").write_text(json.dumps(gt))
    (scene_dir / "scene_camera.json").write_text(json.dumps(cam))
    mm = trimesh.creation.annulus(r_min=60, r_max=100, height=80)
    mm.export(scene_dir / "obj_000001.ply")
    return pose_dir, scene_dir


def test_openpose_folder_and_bop_trajectory(world):
    pose_dir, scene_dir = write_user_clip(world)
    r = G.generate(args(world, pose=pose_dir, trajectory=scene_dir / "scene_gt.json", object=scene_dir / "obj_000001.ply",
                        mesh_scale=0.001, out=world / "out" / "bop.mp4"))
    assert read_mp4(r["out"]).shape == (FRAMES, *SIZE, 3)
    assert r["inputs"].rcm.any(axis=(1, 2, 3)).all()
    assert r["inputs"].skeleton.any(axis=(1, 2, 3)).all()


def test_openpose_folder_with_keyframes_and_frame_size(world):
    pose_dir, _ = write_user_clip(world)
    doc = {"keyframes": [{"time": 0.0, "rotvec_deg": [0, 0, 0], "translation": [0.0, 0.0, 0.6]},
                         {"time": 2.0, "rotvec_deg": [30, 60, 0], "translation": [0.02, 0.0, 0.6]}]}
    (world / "keys_user.json").write_text(json.dumps(doc))
    r = G.generate(args(world, pose=pose_dir, trajectory=world / "keys_user.json", object="box", frame_size="24x20",
                        out=world / "out" / "user_keys.mp4"))
    assert read_mp4(r["out"]).shape == (FRAMES, *SIZE, 3)
    assert r["inputs"].rcm.any(axis=(1, 2, 3)).all()
    assert not r["inputs"].rcm[:, :, :1].any() and not r["inputs"].skeleton[:, :, :1].any()  # 24x20 in 16x16: side bars


def test_keyframe_trajectory_with_a_builtin_motion(world):
    doc = {"camera": {"fov_deg": 40.0},
           "keyframes": [{"time": 0.0, "rotvec_deg": [0, 0, 0], "translation": [0.0, 0.0, 0.8]},
                         {"time": 1.0, "rotvec_deg": [0, 90, 0], "translation": [0.05, 0.0, 0.9]}]}
    (world / "keys.json").write_text(json.dumps(doc))
    r = G.generate(args(world, trajectory=world / "keys.json", object="duck", out=world / "out" / "keys.mp4"))
    assert read_mp4(r["out"]).shape == (FRAMES, *SIZE, 3)
    assert r["inputs"].rcm.any(axis=(1, 2, 3)).all()


def bad_inputs(tmp: Path) -> dict:
    """name: (command-line overrides, words the error must contain)."""
    pose_dir, scene_dir = write_user_clip(tmp)
    short = tmp / "short_pose"
    short.mkdir(exist_ok=True)
    for f in sorted(pose_dir.iterdir())[:2]:
        (short / f.name).write_text(f.read_text())
    shear = tmp / "shear"
    shear.mkdir(exist_ok=True)
    gt = json.loads((scene_dir / "scene_gt.json").read_text())
    gt["1"][0]["cam_R_m2c"] = [1.5, 0, 0, 0, 1, 0, 0, 0, 1]
    (shear / "scene_gt.json").write_text(json.dumps(gt))
    (shear / "scene_camera.json").write_text((scene_dir / "scene_camera.json").read_text())
    lonely = tmp / "lonely"  # scene_gt.json without its scene_camera.json
    lonely.mkdir(exist_ok=True)
    (lonely / "scene_gt.json").write_text((scene_dir / "scene_gt.json").read_text())
    (tmp / "points.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                                    "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    (tmp / "not_an_image.png").write_text("hello")
    (tmp / "keys_bad.json").write_text(json.dumps({"keyframes": [
        {"time": 0, "pose": np.diag([2.0, 1, 1, 1]).tolist()}, {"time": 1, "rotvec_deg": [0, 0, 0], "translation": [0, 0, 1]}]}))
    (tmp / "keys_sizeless.json").write_text(json.dumps({"keyframes": [
        {"time": 0, "rotvec_deg": [0, 0, 0], "translation": [0, 0, 1]}, {"time": 1, "rotvec_deg": [0, 9, 0], "translation": [0, 0, 1]}]}))
    user = dict(pose=pose_dir, object=scene_dir / "obj_000001.ply", mesh_scale=0.001)
    runs = tmp / "train"
    return {
        "missing reference": (dict(reference=tmp / "nope.png"), ["nope.png", "not found"]),
        "missing mesh": (dict(object=tmp / "nope.ply"), ["nope.ply", "not found"]),
        "missing trajectory": (dict(user, trajectory=tmp / "nope.json"), ["nope.json", "not found"]),
        "missing scene_camera": (dict(user, trajectory=lonely / "scene_gt.json"), ["scene_camera.json", "missing"]),
        "unknown pose": (dict(pose="moonwalk"), ["moonwalk", "built-in motion"]),
        "frame counts differ": (dict(user, pose=short, trajectory=scene_dir), ["short_pose", "2 frames", "3"]),
        "frames option differs": (dict(user, trajectory=scene_dir, frames=5), ["3 frames", "--frames"]),
        "non-rigid pose": (dict(user, trajectory=shear / "scene_gt.json"), ["scene_gt.json[1]", "not a rigid"]),
        "non-rigid keyframe": (dict(trajectory=tmp / "keys_bad.json", object="duck"), ["keys_bad.json", "not a rigid"]),
        "mesh without faces": (dict(object=tmp / "points.ply"), ["points.ply", "mesh"]),
        "not an image": (dict(reference=tmp / "not_an_image.png"), ["not_an_image.png", "not an image"]),
        "adapters of another size": (dict(params=tmp / "params_wide.yaml"), ["pytorch_lora_weights", "another model size"]),
        "params of another codec": (dict(params=tmp / "params_codec.yaml"), ["base", "12 latent channels", "48"]),
        "adapters of another design": (dict(adapters=runs / "I" / "seed0"), ["pose_only"]),
        "design contradicts the run": (dict(design="single_view"), ["rcm_cache", "single_view"]),
        "not an adapter folder": (dict(adapters=tmp / "out"), ["not a ByteLoom adapter folder"]),
        "missing base": (dict(checkpoint=tmp / "nowhere"), ["nowhere", "not found"]),
        "size the model cannot patch": (dict(size="15x16"), ["--size 15x16", "multiple"]),
        "pose folder without trajectory": (dict(pose=pose_dir), ["needs --trajectory"]),
        "pose folder, camera of no size": (dict(pose=pose_dir, trajectory=tmp / "keys_sizeless.json"),
                                           ["keys_sizeless.json", "--frame-size"]),
    }


BAD = ["missing reference", "missing mesh", "missing trajectory", "missing scene_camera", "unknown pose",
       "frame counts differ", "frames option differs", "non-rigid pose", "non-rigid keyframe", "mesh without faces",
       "not an image", "adapters of another size", "params of another codec",
       "adapters of another design", "design contradicts the run",
       "not an adapter folder", "missing base", "size the model cannot patch", "pose folder without trajectory",
       "pose folder, camera of no size"]


@pytest.mark.parametrize("name", BAD)
def test_bad_inputs_fail_before_the_model_loads(world, name, monkeypatch):
    p = yaml.safe_load((world / "params.yaml").read_text())
    p["model"]["lora_rank"] = 8  # adapters were trained with rank 4
    (world / "params_wide.yaml").write_text(yaml.safe_dump(p))
    p["model"].update(lora_rank=4, codec_patch=4)  # a codec of 48 channels; the micro base takes 12
    (world / "params_codec.yaml").write_text(yaml.safe_dump(p))
    (world / "out").mkdir(exist_ok=True)
    overrides, words = bad_inputs(world)[name]

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(G, "load_model", no_model)
    with pytest.raises(G.GenerateError) as e:
        G.generate(args(world, **overrides))
    for w in words:
        assert w in str(e.value), f"{name}: {w!r} not in {e.value}"


def test_the_command_line_reports_errors_without_a_traceback(world, capsys):
    with pytest.raises(SystemExit) as e:
        G.main(args(world, reference=world / "nope.png"))
    assert e.value.code == 2
    assert "byteloom-generate: error:" in capsys.readouterr().err

