"""Mani4D-mini generator: geometric consistency and determinism of generated clips."""
import numpy as np
import pytest
import torch
import trimesh

from byteloom import assets, mani4d, rcm
from byteloom.model import PatchCodec
from byteloom.train import encode_clips, frames_to_tensor, tensor_to_frames


def test_object_clip_is_deterministic_and_geometrically_consistent():
    duck = assets.load_object("duck")
    cache = rcm.build_cache(duck, 3, (48, 48))
    a = mani4d.object_multiview_clip(duck, 5, (48, 48), seed=7, cache=cache)
    b = mani4d.object_multiview_clip(duck, 5, (48, 48), seed=7, cache=cache)
    c = mani4d.object_multiview_clip(duck, 5, (48, 48), seed=8, cache=cache)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.rcm, b.rcm)
    assert not np.array_equal(a.rgb, c.rgb)
    # the object mask is the RCM's non-zero area, and the RGB shows the object exactly there
    assert np.array_equal(a.mask, a.rcm.any(-1))
    assert np.array_equal(a.mask, a.rgb.any(-1))
    assert a.mask.sum(axis=(1, 2)).min() > 50  # the object stays in view
    # the RCM at a pixel decodes onto the surface at that frame's pose (checked against depth)
    for t in (0, 4):
        view = rcm.render_rcm(duck, a.poses[t], a.K, (48, 48))
        assert np.array_equal(view.image, a.rcm[t])


def test_clips_encode_once_into_latents_with_the_packing_shapes():
    rng = np.random.default_rng(0)
    n, t, v, s = 3, 4, 2, 16
    u8 = lambda *shape: rng.integers(0, 256, shape, dtype=np.uint8)  # noqa: E731
    clips = encode_clips(PatchCodec(4), rgb=u8(n, t, s, s, 3), pose=u8(n, t, s, s, 3), reference=u8(n, s, s, 3),
                         rcm=u8(n, t, s, s, 3), cache_rgb=u8(n, v, s, s, 3), cache_rcm=u8(n, v, s, s, 3))
    assert clips.video.shape == (n, 48, t, 4, 4)
    assert clips.cond.ref.shape == (n, 48, 1, 4, 4) and clips.cond.cache_rgb.shape == (n, 48, v, 4, 4)
    frames = u8(2, t, s, s, 3)
    assert np.array_equal(tensor_to_frames(frames_to_tensor(frames)), frames)
    codec = PatchCodec(4)
    back = tensor_to_frames(codec.decode(clips.cond.cache_rgb[:, :, 1:2]))
    assert back.shape == (n, 1, s, s, 3)
    try:
        frames_to_tensor(frames.astype(np.float32))
        raise AssertionError("float frames must be rejected")
    except ValueError as e:
        assert "uint8" in str(e)
    assert torch.isfinite(clips.video).all()


# ---------------------------------------------------------------------------------- interaction phases

from byteloom import motion as mo, scene  # noqa: E402
from byteloom.geometry import project, transform  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

SIZE = (48, 48)


def _runs(phases):
    """[(name, length)] of consecutive equal phases."""
    runs = []
    for p in phases:
        if runs and runs[-1][0] == p:
            runs[-1][1] += 1
        else:
            runs.append([p, 1])
    return [tuple(r) for r in runs]


def test_phase_schedules_scale_with_the_clip_and_keep_their_order():
    hoi, close = mani4d.HOI_PHASES, mani4d.CLOSEUP_PHASES
    assert mani4d.phase_schedule(9, hoi) == ["rest", "reach", "reach", "grasp", "lift", "turn", "turn", "handover", "handover"]
    assert mani4d.phase_schedule(9, close) == ["approach"] * 3 + ["grasp"] * 2 + ["turn"] * 4
    for frames in (6, 7, 9, 13, 24, 97):
        runs = _runs(mani4d.phase_schedule(frames, hoi))
        assert [n for n, _ in runs] == list(hoi), "every phase once, in order"
        assert sum(c for _, c in runs) == frames and min(c for _, c in runs) >= 1
    runs = dict(_runs(mani4d.phase_schedule(97, hoi)))  # the paper's 97 frames: lengths follow the weights
    assert all(abs(runs[n] - 97 * w / sum(hoi.values())) < 1 for n, w in hoi.items())
    # too short for every phase: the grasp and what surrounds it survive, still in order
    assert mani4d.phase_schedule(4, hoi) == ["reach", "grasp", "turn", "handover"]
    assert mani4d.phase_schedule(1, hoi) == ["grasp"] and mani4d.phase_schedule(2, close) == ["approach", "grasp"]
    assert np.allclose(mani4d.phase_progress(["a", "a", "b", "c", "c", "c"]), [0.5, 1, 1, 1 / 3, 2 / 3, 1])


def test_palm_grasp_puts_the_object_against_the_palm():
    duck = assets.load_object("duck")
    rng = np.random.default_rng(0)
    for _ in range(3):
        hand_rot, obj_rot = (Rotation.random(random_state=rng.integers(2**31)).as_matrix() for _ in range(2))
        G = scene.palm_grasp(duck, hand_rot, obj_rot)
        assert np.allclose(G[:3, :3], hand_rot.T @ obj_rot)  # keeps the relative rotation at the grasp
        pts = transform(duck.vertices, G)  # the object in the hand frame
        assert np.isclose(pts[:, 2].max(), scene.PALM_FACE_Z)  # touches the palm's inner face, from the palm side
        assert np.allclose(transform(duck.bounds.mean(0), G)[:2], scene.grasp_point()[:2])
    hand = np.eye(4)
    assert np.isclose(scene.roll_to_face(hand, [0, 0, -1]), 0)  # the palm (-z) already faces -z
    rolled = hand @ scene.roll(scene.roll_to_face(hand, [0, 1, 0]))
    assert np.allclose(-rolled[:3, 2], [0, 1, 0]) and np.allclose(rolled[:3, 0], [1, 0, 0])


@pytest.fixture(scope="module")
def hoi_clips():
    """Full-body clips with an object: two at the default 9 frames, one longer (the left hand holds a while)."""
    cases = [("walk", "duck", 9, 3), ("dance_b", "box", 9, 11), ("kick", "mug", 16, 5)]
    out = []
    for motion_name, obj_name, frames, seed in cases:
        obj = assets.load_object(obj_name)
        f = mani4d.human_clip(scene.make_identity(seed), motion_name, frames, SIZE, seed=seed, obj=obj)
        out.append((f, obj))
    return out


def _in_world(f):
    """(T, 4, 4) obj_to_world of a clip from its obj_to_cam poses and cameras."""
    return np.linalg.inv(f.world_to_cam) @ f.poses


def test_full_body_clip_goes_through_the_phases_with_the_object(hoi_clips):
    for f, obj in hoi_clips:
        T = len(f.rgb)
        assert f.phases == mani4d.phase_schedule(T, mani4d.HOI_PHASES)
        ph, holder = np.array(f.phases), np.array(f.holder)
        g = int(np.flatnonzero(ph == "grasp")[-1])
        world = _in_world(f)
        # rest, reach, grasp: the object waits on the table, static in the world and, from the
        # still camera (product-demo framing, the reference image's view), static in the image
        assert np.allclose(world[:g + 1], world[0], atol=1e-9)
        assert np.allclose(f.world_to_cam, f.world_to_cam[0], atol=1e-12)
        assert np.allclose(f.poses[:g + 1], f.poses[0], atol=1e-9)
        assert list(holder[:g]) == ["none"] * g and holder[g] == "right"
        # from the grasp on, the object is the right hand's frame times one fixed offset
        held_r = np.flatnonzero(np.isin(holder, ["right", "both"]))
        rel = np.linalg.inv(f.hands_to_cam["right"][held_r]) @ f.poses[held_r]
        assert np.allclose(rel, rel[0], atol=1e-6)
        assert np.linalg.norm(world[-1, :3, 3] - world[0, :3, 3]) > 0.1  # lifted, turned and carried away
        turn = np.flatnonzero(ph == "turn")
        angle = np.degrees(np.arccos(np.clip((np.trace(world[turn[-1], :3, :3].T @ world[turn[0] - 1, :3, :3]) - 1) / 2, -1, 1)))
        assert angle > 30, "the wrist turns the object"
        # the hand-over: both hands at one frame, then the left hand holds it with its own fixed offset
        assert list(holder[ph == "handover"]).count("both") == 1
        held_l = np.flatnonzero(np.isin(holder, ["both", "left"]))
        rel_l = np.linalg.inv(f.hands_to_cam["left"][held_l]) @ f.poses[held_l]
        assert np.allclose(rel_l, rel_l[0], atol=1e-6)
        # the skeleton condition follows the bent arm: its right wrist is the rendered hand's wrist
        for t in range(T):
            uv, _ = project(np.zeros(3), f.hands_to_cam["right"][t], mani4d.intrinsics_from_fov(SIZE, 40.0))
            if f.body[t, 4, 2] > 0:
                assert np.allclose(f.body[t, 4, :2], uv, atol=1e-6)
    f = hoi_clips[2][0]  # 16 frames: the left hand keeps holding after the transfer
    assert "left" in f.holder and f.holder[-1] == "left"


def test_hands_close_only_while_holding():
    obj = assets.load_object("duck")
    m = mo.resample(mo.load_motion("walk"), 15.0, 13)
    phases = mani4d.phase_schedule(13, mani4d.HOI_PHASES)
    hoi = mani4d.plan_interaction(m, obj, phases, np.random.default_rng(0), closure=0.7)
    ph, holder = np.array(phases), np.array(hoi.holder)
    for side, holding in (("right", ["right", "both"]), ("left", ["left", "both"])):
        closed = np.isclose(hoi.closure[side], 0.7)
        closing = (ph == "grasp") & (side == "right")  # the right hand closes over the grasp phase
        assert np.array_equal(closed & ~closing, np.isin(holder, holding) & ~closing), side
        assert np.allclose(hoi.closure[side][~closed & ~closing], mani4d.OPEN_HAND)
    assert np.all(np.diff(hoi.closure["right"][ph == "grasp"]) > 0) and np.isclose(hoi.closure["right"][ph == "grasp"][-1], 0.7)
    # the object rests on the table top until grasped, and stays above it afterwards
    g = int(np.flatnonzero(ph == "grasp")[-1])
    low = mani4d._lowest(obj, hoi.objects)
    assert np.allclose(low[:g + 1] - hoi.support[1, 3], mani4d.REST_GAP)
    assert np.all(low[g + 1:] > hoi.support[1, 3])
    # the reaching hand comes to the object: its palm ends at the object's surface at the grasp
    palm = np.array([transform(scene.PALM_CENTRE, hoi.hands["right"][t]) for t in range(13)])
    gap = np.array([trimesh.proximity.closest_point(obj, transform(palm[t:t + 1], np.linalg.inv(hoi.objects[t])))[1][0]
                    for t in range(13)])
    assert gap[g] < 0.02 < gap[0] and np.isclose(gap[g], gap.min())  # held frames keep the grasp's gap (rigid in hand)


def test_hand_and_object_occlude_each_other_and_masks_agree(hoi_clips):
    hidden_by_hand = 0
    for f, _ in hoi_clips:
        sil = f.rcm.any(-1)
        held = np.isin(f.holder, ["right", "both", "left"])
        hidden_by_hand += (sil & f.mask_hands)[held].sum()
        assert not np.any(f.mask_object & ~sil)
        assert not np.any(sil & ~f.mask_object & ~f.mask_human), "the table never hides the object"
        assert f.mask_object.any(axis=(1, 2)).sum() >= len(f.rgb) // 2  # the object is seen in most frames
    assert hidden_by_hand > 0, "fingers in front of the held object"


@pytest.mark.parametrize("obj_name, extent", [("duck", 0.2), ("box", 0.2), ("domino", 0.2), ("box", 0.45)])
def test_closeup_keeps_the_object_in_frame_and_grasps_it(obj_name, extent):
    obj = assets.load_object(obj_name, extent=extent)
    f = mani4d.hand_object_clip(scene.make_identity(2), obj, 9, SIZE, seed=4)
    ph = np.array(f.phases)
    assert f.phases == mani4d.phase_schedule(9, mani4d.CLOSEUP_PHASES)
    sil = f.rcm.any(-1)
    assert sil.sum(axis=(1, 2)).min() > 0.02 * sil[0].size, "the object is in every frame"
    border = np.concatenate([sil[:, 0], sil[:, -1], sil[:, :, 0], sil[:, :, -1]], axis=1)
    assert not border.any(), "... and does not touch the image border"
    assert sil.mean() < 0.5  # a close-up, not the object filling the frame
    assert f.mask_hands[ph != "approach"].any(axis=(1, 2)).all(), "the hand is in view while grasping"
    assert (f.mask_hands & sil).any(), "fingers in front of the object"
    g = int(np.flatnonzero(ph == "grasp")[-1])
    world = np.linalg.inv(f.world_to_cam) @ f.poses
    assert np.allclose(world[:g + 1], world[0], atol=1e-9)  # it waits on the table
    rel = np.linalg.inv(f.hands_to_cam["right"][g:]) @ f.poses[g:]
    assert np.allclose(rel, rel[0], atol=1e-6)  # then moves with the hand
    assert np.linalg.norm(world[-1, :3, 3] - world[0, :3, 3]) > 0.02
    assert not np.allclose(f.world_to_cam[0], f.world_to_cam[-1], atol=1e-3), "the camera moves"
    assert f.holder == ["none"] * g + ["right"] * (9 - g)


def test_interaction_clips_are_deterministic():
    obj = assets.load_object("jenga")
    a = mani4d.hand_object_clip(scene.make_identity(1), obj, 5, SIZE, seed=3)
    b = mani4d.hand_object_clip(scene.make_identity(1), obj, 5, SIZE, seed=3)
    c = mani4d.human_clip(scene.make_identity(1), "run", 5, SIZE, seed=3, obj=obj)
    d = mani4d.human_clip(scene.make_identity(1), "run", 5, SIZE, seed=3, obj=obj)
    for x, y in ((a, b), (c, d)):
        assert x.phases == y.phases and x.holder == y.holder
        for k in ("rgb", "rcm", "depth", "mask_object", "mask_hands", "body", "hands", "poses", "world_to_cam"):
            assert np.array_equal(getattr(x, k), getattr(y, k)), k


# ---------------------------------------------------------------------------------- framing and in-hand turns


@pytest.fixture(scope="module")
def framed_clips():
    """Stage III / test clips at the configured object size (params.yaml data.object_extent): varied
    motions, training and held-out objects (the thin domino is the hardest case)."""
    from pathlib import Path

    from byteloom.config import load_config

    extent = load_config(Path(__file__).resolve().parents[1] / "params.yaml").data.object_extent
    cases = [("walk", "duck", 3), ("dance_a", "torus", 8), ("jump", "domino", 6), ("kick", "mug", 5), ("run", "cylinder", 2)]
    return [mani4d.human_clip(scene.make_identity(seed), motion_name, 9, SIZE, seed=seed,
                              obj=assets.load_object(obj_name, extent=extent)) for motion_name, obj_name, seed in cases]


def test_interaction_clips_frame_the_object_large_with_the_upper_body(framed_clips):
    fractions = []
    for f in framed_clips:
        area = f.mask_object.mean(axis=(1, 2))
        held = np.isin(f.holder, ["right", "both", "left"])
        assert (area[held] > 0).all(), "the held object is in view in every frame"
        assert (area > 0).mean() >= 0.8, "and on the table, at the bottom edge, in most frames"
        fractions.append(area.mean())
        assert area.mean() > 0.04  # even the thin domino, often seen edge-on
    # the bar: at least 8 % of the frame on average (about 4x4 px at 32x32 before: 1.4-1.6 %)
    assert np.mean(fractions) >= 0.08, fractions
    # upper-body framing: the head and the shoulders are in the image in most frames, the hips low in it
    nose = np.concatenate([f.body[:, 0] for f in framed_clips])
    shoulders = np.concatenate([f.body[:, [2, 5]] for f in framed_clips])
    assert (nose[:, 2] > 0).mean() > 0.8 and (shoulders[..., 2] > 0).mean() > 0.8
    hips = np.concatenate([f.body[:, [8, 11]] for f in framed_clips])
    assert np.median(hips[..., 1][hips[..., 2] > 0]) > SIZE[0] / 2, "the hips are in the lower half or below the frame"


def test_settle_calms_the_motion_to_a_person_standing_at_the_table(framed_clips):
    """Interaction clips keep a quarter of the motion's pose around an upright standing pose (the
    humanoid's zero pose): with none kept the person stands still, with all of it the pose is the clip's."""
    m = mo.resample(mo.load_motion("kick"), 15.0, 9)
    still = mani4d.settle(m, 4, pose_keep=0.0)
    for q in still.joint_rots.values():
        assert np.allclose(Rotation.from_quat(q).magnitude(), 0.0, atol=1e-9)
    assert all(np.allclose(a, 0.0) for a in still.joint_angles.values())
    assert np.allclose(Rotation.from_quat(still.root_rot).apply(mani4d.UP), mani4d.UP, atol=1e-9), "upright"
    assert np.allclose(still.root_pos[:, 1], still.root_pos[0, 1])
    full = mani4d.settle(m, 4, pose_keep=1.0)
    for k, q in full.joint_rots.items():
        assert np.allclose((Rotation.from_quat(q).inv() * Rotation.from_quat(m.joint_rots[k])).magnitude(), 0.0, atol=1e-6), k
    assert np.allclose(full.root_pos[:, 1], m.root_pos[:, 1])
    lean = lambda x: Rotation.from_quat(x.root_rot).apply(mani4d.UP) @ mani4d.UP  # noqa: E731
    assert (lean(full) <= lean(mani4d.settle(m, 4)) + 1e-9).all(), "less lean than the clip's"
    # in the rendered clips (48 px) the neck moves less than 4 px between two frames (measured: at
    # most 2.6 px; up to 11 px with the whole dance, jump or kick kept): the arms and the object move
    for f in framed_clips:
        neck = f.body[:, 1]
        seen = (neck[1:, 2] > 0) & (neck[:-1, 2] > 0)
        assert np.linalg.norm(np.diff(neck[:, :2], axis=0), axis=1)[seen].max() < 4.0


def _angle_deg(a, b):
    """Degrees between two rotation matrices."""
    return np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))


def test_the_object_turns_in_hand_about_the_vertical_by_at_least_90_degrees(hoi_clips, framed_clips):
    for f in [f for f, _ in hoi_clips] + framed_clips:
        ph = np.array(f.phases)
        turn = np.flatnonzero(ph == "turn")
        a, b = turn[0] - 1, turn[-1]  # the frame before the turn and its last frame
        world = _in_world(f)
        rel = Rotation.from_matrix(world[b, :3, :3] @ world[a, :3, :3].T).as_rotvec()
        assert np.degrees(np.linalg.norm(rel)) >= 90 - 1e-6
        assert abs(rel[1]) / np.linalg.norm(rel) > 0.999, "about the vertical (world up)"
        # the still camera: the view of the object turns as much
        assert _angle_deg(f.poses[a, :3, :3], f.poses[b, :3, :3]) >= 90 - 1e-6
