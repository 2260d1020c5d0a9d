"""Mani4D-mini clips and the clip format: geometric consistency, determinism, readers, clear errors."""
import json
import shutil

import numpy as np
import pytest
import trimesh

from byteloom import data, mani4d, rcm
from byteloom.config import config_from_dict
from byteloom.data import ClipError, load_clip, read_bop_scene
from byteloom.geometry import backproject, transform
from tests.test_config import params

MICRO = {"size": [48, 48], "frames": 4, "cache_views": 2, "clips": {"stage1": 2, "stage2": 2, "stage3": 2, "test": 2, "objmv": 1}}


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    p = params()
    p["data"].update(MICRO)
    p["evaluation"].update(clips=2)  # at most the test split's clips (checked when params load)
    p["validation"].update(clips=1)
    cfg = config_from_dict(p)
    root = tmp_path_factory.mktemp("mani4d")
    return {s: mani4d.generate_split(cfg.data, s, cfg.seed, out_root=root, progress=False) for s in mani4d.SPLITS}, cfg


def test_splits_have_the_planned_contents(splits):
    paths, cfg = splits
    assert {s: len(v) for s, v in paths.items()} == MICRO["clips"]
    test_clip = load_clip(paths["test"][0])
    assert test_clip.meta["object"] in cfg.data.test_objects and test_clip.meta["identity"] >= 1000
    for p in paths["stage1"] + paths["stage3"]:
        c = load_clip(p)
        assert c.meta["object"] in (None, *cfg.data.train_objects) and c.meta["identity"] < 1000
    assert load_clip(paths["stage1"][0]).poses is None and not load_clip(paths["stage1"][0]).rcm.any()
    assert load_clip(paths["stage2"][0]).body[..., 2].sum() == 0  # close-ups: hands only


@pytest.mark.parametrize("split", ["stage2", "stage3"])
def test_object_mask_is_the_rcm_silhouette_except_where_the_person_covers_it(splits, split):
    for path in splits[0][split]:
        c = load_clip(path)
        rcm_mask = c.rcm.any(-1)
        obj, person = c.extra["mask_object"], c.extra["mask_human"]
        assert not np.any(obj & ~rcm_mask), "object pixels outside its RCM silhouette"
        assert not np.any(rcm_mask & ~obj & ~person), "RCM pixels neither object nor an occluding person"
        assert obj.sum() > 0


def test_rcm_pixels_decode_onto_the_object_surface_at_that_frames_pose(splits):
    c = load_clip(splits[0]["stage2"][0])
    for t in (0, c.num_frames - 1):
        visible = c.extra["mask_object"][t]
        pts = rcm.decode_rcm(c.rcm[t][visible], c.cache.bounds)  # object space, from the colours
        cam = backproject(c.extra["depth"][t], c.K[t])[visible]  # camera space, from depth
        from_depth = transform(cam, np.linalg.inv(c.poses[t]))
        assert np.abs(pts - from_depth).max() < np.linalg.norm(c.mesh.extents) / 255 + 2e-3
        _, dist, _ = trimesh.proximity.closest_point(c.mesh, pts)
        # 8-bit step: |extent| / 510; at 48 px llvmpipe's attribute interpolation on tiny triangles
        # adds up to about as much again (measured 0.95 mm against a 0.60 mm step)
        assert dist.max() < 2 * np.linalg.norm(c.mesh.extents) / 510


def test_visible_keypoints_project_inside_the_frame(splits):
    for path in splits[0]["stage1"] + splits[0]["stage3"]:
        c = load_clip(path)
        vis = c.body[..., 2] > 0
        h, w = c.rgb.shape[1:3]
        xy = c.body[vis][:, :2]
        assert vis.mean() > 0.5 and xy.min() >= -0.5 and xy[:, 0].max() <= w - 0.5 and xy[:, 1].max() <= h - 0.5
        assert c.skeleton.any()


def test_generation_is_deterministic(splits, tmp_path):
    paths, cfg = splits
    again = mani4d.generate_split(cfg.data, "stage3", cfg.seed, out_root=tmp_path, progress=False)
    for a, b in zip(paths["stage3"], again):
        files = sorted(f.relative_to(a) for f in a.rglob("*") if f.is_file())
        assert files == sorted(f.relative_to(b) for f in b.rglob("*") if f.is_file())
        assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    with pytest.raises(FileExistsError, match="already has clips"):
        mani4d.generate_split(cfg.data, "stage3", cfg.seed, out_root=tmp_path, progress=False)


def test_clips_rendered_by_worker_processes_are_the_same_bytes(splits, tmp_path, monkeypatch):
    """A split of PARALLEL_FROM clips or more renders in worker processes: same files, same bytes."""
    paths, cfg = splits
    monkeypatch.setattr(mani4d, "PARALLEL_FROM", 2)
    again = mani4d.generate_split(cfg.data, "test", cfg.seed, out_root=tmp_path, progress=False, workers=2)
    assert [p.name for p in again] == [p.name for p in paths["test"]]
    for a, b in zip(paths["test"], again):
        files = sorted(f.relative_to(a) for f in a.rglob("*") if f.is_file())
        assert files and files == sorted(f.relative_to(b) for f in b.rglob("*") if f.is_file())
        assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files), a


# ---------------------------------------------------------------------------------- malformed clips


@pytest.fixture
def clip_copy(splits, tmp_path):
    dst = tmp_path / "clip"
    shutil.copytree(splits[0]["stage3"][0], dst)
    return dst


def _rewrite_frames(folder, **changes):
    with np.load(folder / "frames.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    (folder / "frames.npz").unlink()
    np.savez(folder / "frames.npz", **arrays)


def test_missing_file(clip_copy):
    (clip_copy / "reference.png").unlink()
    with pytest.raises(ClipError, match="reference.png: file missing"):
        load_clip(clip_copy)
    with pytest.raises(ClipError, match="clip folder not found"):
        load_clip(clip_copy / "nope")


def test_wrong_frame_count_between_streams(clip_copy):
    with np.load(clip_copy / "frames.npz") as z:
        rcm_frames = z["rcm"]
    _rewrite_frames(clip_copy, rcm=rcm_frames[:-1])
    with pytest.raises(ClipError, match=r"frames.npz: 'rcm' has 3 frames, meta.json says 4"):
        load_clip(clip_copy)


def test_missing_keypoint_frame(clip_copy):
    sorted((clip_copy / "openpose").glob("*.json"))[-1].unlink()
    with pytest.raises(ClipError, match=r"has 3 keypoint files, expected 4 \(one per frame\)"):
        load_clip(clip_copy)


def test_pose_not_rigid(clip_copy):
    gt = json.loads((clip_copy / "scene_gt.json").read_text())
    gt["2"][0]["cam_R_m2c"] = [2, 0, 0, 0, 2, 0, 0, 0, 2]
    (clip_copy / "scene_gt.json").write_text(json.dumps(gt))
    with pytest.raises(ClipError, match=r"scene_gt.json\[2\].*not a rigid transform"):
        load_clip(clip_copy)


def test_keypoints_of_the_wrong_shape(clip_copy):
    f = sorted((clip_copy / "openpose").glob("*.json"))[1]
    doc = json.loads(f.read_text())
    doc["people"][0]["pose_keypoints_2d"] = doc["people"][0]["pose_keypoints_2d"][:-3]
    f.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f.name):
        load_clip(clip_copy)


def test_wrong_dtype(clip_copy):
    with np.load(clip_copy / "frames.npz") as z:
        rgb = z["rgb"]
    _rewrite_frames(clip_copy, rgb=rgb.astype(np.float32))
    with pytest.raises(ClipError, match="'rgb' is float32"):
        load_clip(clip_copy)


# ---------------------------------------------------------------------------------- real-data readers


def test_bop_reader_on_a_schema_fixture(tmp_path):
    """A scene written exactly as the BOP toolkit's schema: mm, row-major R, string frame ids."""
    R = [0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    (tmp_path / "scene_gt.json").write_text(json.dumps({
        "0": [{"cam_R_m2c": R, "cam_t_m2c": [10.0, -20.0, 700.0], "obj_id": 5},
              {"cam_R_m2c": [1, 0, 0, 0, 1, 0, 0, 0, 1], "cam_t_m2c": [0, 0, 900], "obj_id": 7}],
        "1": [{"cam_R_m2c": R, "cam_t_m2c": [12.0, -20.0, 705.0], "obj_id": 5}]}))
    (tmp_path / "scene_camera.json").write_text(json.dumps({
        "0": {"cam_K": [600.0, 0, 320.0, 0, 600.0, 240.0, 0, 0, 1], "depth_scale": 0.1},
        "1": {"cam_K": [600.0, 0, 320.0, 0, 600.0, 240.0, 0, 0, 1], "depth_scale": 0.1}}))
    poses, Ks = read_bop_scene(tmp_path, obj_id=5)
    assert sorted(poses) == [0, 1] and np.allclose(poses[0][:3, 3], [0.01, -0.02, 0.7])
    assert np.allclose(poses[1][:3, :3], np.reshape(R, (3, 3))) and Ks[1][0, 2] == 320
    with pytest.raises(ClipError, match=r"several objects \[5, 7\]"):
        read_bop_scene(tmp_path)
    model = tmp_path / "obj_000005.ply"
    trimesh.creation.box(extents=[100.0, 50.0, 20.0]).export(model)  # BOP models are in mm
    assert np.allclose(data.read_bop_model(model).extents, [0.1, 0.05, 0.02])
    (tmp_path / "scene_camera.json").write_text("{not json")
    with pytest.raises(ClipError, match="scene_camera.json: not valid JSON"):
        read_bop_scene(tmp_path, obj_id=5)


def test_import_real_data_from_frames_openpose_and_bop(tmp_path):
    """A researcher's frames + OpenPose JSONs + a BOP scene and model become a loadable clip."""
    from PIL import Image

    from byteloom import openpose

    n, h, w = 3, 48, 64
    (tmp_path / "frames").mkdir()
    (tmp_path / "pose").mkdir()
    (tmp_path / "scene").mkdir()
    body = np.zeros((18, 3))
    body[1], body[2], body[3] = [30, 10, 1], [25, 15, 1], [22, 25, 1]
    for t in range(n):
        Image.fromarray(np.full((h, w, 3), 40 * t, np.uint8)).save(tmp_path / "frames" / f"{t:05d}.png")
        openpose.write_openpose_json(tmp_path / "pose" / f"{t:06d}_keypoints.json", body)
    R = np.eye(3).ravel().tolist()
    (tmp_path / "scene" / "scene_gt.json").write_text(json.dumps(
        {str(t): [{"cam_R_m2c": R, "cam_t_m2c": [5.0 * t, 0.0, 400.0], "obj_id": 3}] for t in range(n)}))
    (tmp_path / "scene" / "scene_camera.json").write_text(json.dumps(
        {str(t): {"cam_K": [80.0, 0, 31.5, 0, 80.0, 23.5, 0, 0, 1], "depth_scale": 1.0} for t in range(n)}))
    trimesh.creation.box(extents=[80.0, 60.0, 40.0]).export(tmp_path / "obj_000003.ply")
    out = data.import_clip(tmp_path / "clip", tmp_path / "frames", tmp_path / "pose", tmp_path / "scene",
                           tmp_path / "obj_000003.ply", obj_id=3, cache_views=2)
    c = load_clip(out)
    assert c.num_frames == n and c.rgb[2].max() == 80 and np.allclose(c.body[0], body)
    assert c.rcm.any(-1).sum(axis=(1, 2)).min() > 100 and c.cache.num_views == 2
    assert np.allclose(c.poses[1][:3, 3], [0.005, 0, 0.4]) and np.allclose(c.mesh.extents, [0.08, 0.06, 0.04])
    assert c.skeleton.any()
    (tmp_path / "pose" / "000002_keypoints.json").unlink()
    with pytest.raises(ClipError, match=r"has 2 keypoint files, expected 3 \(one per frame\)"):
        data.import_clip(tmp_path / "clip2", tmp_path / "frames", tmp_path / "pose")


def test_a_textured_object_keeps_its_texture_through_the_clip_format(tmp_path):
    """BOP convention: UVs in the PLY, the texture PNG beside it, named in the header."""
    from byteloom.assets import load_object
    from byteloom.data import read_bop_model, write_bop_model

    mesh = load_object("duck", extent=0.2)
    write_bop_model(tmp_path / "obj_000001.ply", mesh)
    assert b"comment TextureFile obj_000001.png" in (tmp_path / "obj_000001.ply").read_bytes()[:300]
    back = read_bop_model(tmp_path / "obj_000001.ply")
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-6) and np.allclose(back.visual.uv, mesh.visual.uv)
    a = np.asarray(back.visual.material.image.convert("RGB"))
    b = np.asarray(mesh.visual.material.image.convert("RGB"))
    assert a.shape == b.shape and np.array_equal(a, b)


def _truncate(path, keep=0.5):
    b = path.read_bytes()
    path.write_bytes(b[: int(len(b) * keep)])


def _first_openpose(folder):
    return sorted((folder / "openpose").glob("*.json"))[0]


@pytest.mark.parametrize("damage, file, message", [
    (lambda f: _truncate(f / "frames.npz"), "frames.npz", r"damaged or truncated .*expected an \.npz archive with uint8 "
                                                          r"arrays rgb, rcm, skeleton of shape \(4, 48, 48, 3\)"),
    (lambda f: (f / "frames.npz").write_text("not a zip"), "frames.npz", r"damaged or truncated"),
    (lambda f: (f / "reference.png").unlink(), "reference.png", r"file missing \(expected the human reference image"),
    (lambda f: _truncate(f / "reference.png", 0.3), "reference.png", r"damaged or truncated .*expected a PNG image"),
    (lambda f: (f / "reference.png").write_bytes(b"GIF89a not really"), "reference.png", r"damaged or truncated"),
    (lambda f: _first_openpose(f).write_text('{"people": [{"pose_keypoints_2d": [1, 2'), "000000_keypoints.json",
     r"not valid JSON .*expected OpenPose's --write_json layout"),
    (lambda f: _first_openpose(f).write_text('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}'), "000000_keypoints.json",
     r"pose_keypoints_2d.*expected OpenPose's --write_json layout"),
    (lambda f: _first_openpose(f).write_text('[1, 2, 3]'), "000000_keypoints.json", r"'people' list"),
    (lambda f: _truncate(f / "rcm_cache.npz"), "rcm_cache.npz", r"damaged or truncated .*expected an RCM-cache archive"),
    (lambda f: _truncate(f / "object.ply", 0.4), "object.ply", r"damaged or truncated .*expected a BOP model"),
    (lambda f: (f / "object.ply").unlink(), "object.ply", r"file missing \(expected the object's BOP model"),
    (lambda f: (f / "scene_gt.json").write_text('{"0": {"cam_R_m2c": 1}}'), "scene_gt.json", r"expected an object of frame ids"),
    (lambda f: (f / "meta.json").write_text('["a list"]'), "meta.json", r"expected a JSON object"),
])
def test_every_damaged_file_raises_a_clip_error_naming_it(clip_copy, damage, file, message):
    """Missing, truncated or malformed files of a clip: a ClipError naming the file and what was expected."""
    damage(clip_copy)
    with pytest.raises(ClipError, match=message) as e:
        load_clip(clip_copy)
    assert file in str(e.value) and str(clip_copy) in str(e.value)


def test_object_multiview_clips_show_only_the_turning_object(splits):
    """The optional Object-Multiview stage (paper main table, rows "Obj"): no person, the textured
    object turning in front of the camera, with its RCM video and RCM-cache."""
    paths, cfg = splits
    c = load_clip(paths["objmv"][0])
    assert c.meta["stage"] == "Obj" and c.meta["identity"] is None and c.meta["object"] in cfg.data.train_objects
    assert not c.skeleton.any() and not c.reference.any() and not c.extra["mask_human"].any()
    assert c.extra["mask_object"].all(0).any() and np.array_equal(c.rcm.any(-1), c.extra["mask_object"])
    assert c.cache is not None and c.cache.num_views == cfg.data.cache_views
    turn = np.degrees(np.arccos(np.clip((np.trace(c.poses[0, :3, :3].T @ c.poses[-1, :3, :3]) - 1) / 2, -1, 1)))
    assert turn > 10, f"the object barely turns ({turn:.1f} degrees)"


def test_a_split_loads_as_stacked_arrays_at_the_training_size(splits):
    paths, cfg = splits
    a = data.load_split(paths["stage3"][0].parent.parent, "stage3", (24, 24), cache_views=2)
    n, t = len(paths["stage3"]), MICRO["frames"]
    assert a["rgb"].shape == a["rcm"].shape == a["pose"].shape == (n, t, 24, 24, 3)
    assert a["reference"].shape == (n, 24, 24, 3) and a["cache_rgb"].shape == a["cache_rcm"].shape == (n, 2, 24, 24, 3)
    codes = {tuple(c) for c in load_clip(paths["stage3"][0]).rcm.reshape(-1, 3)}
    assert {tuple(c) for c in a["rcm"][0].reshape(-1, 3)} <= codes  # nearest: RCM codes are never blended
    blank = data.load_split(paths["stage1"][0].parent.parent, "stage1", (24, 24), cache_views=2)
    assert not blank["rcm"].any() and not blank["cache_rgb"].any()  # Stage I: no object, black RCM and cache


def test_a_missing_split_or_too_few_cache_views_is_an_error_naming_the_folder(splits, tmp_path):
    paths, cfg = splits
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/test: no clips"):
        data.split_folders(tmp_path, "test")
    with pytest.raises(ValueError, match=f"{paths['stage3'][0]}: RCM-cache has 2 views, 3 needed"):
        data.load_split(paths["stage3"][0].parent.parent, "stage3", (24, 24), cache_views=3)
