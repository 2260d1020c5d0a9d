"""DeepMimic clips: file layout, forward kinematics, resampling and OpenPose keypoints."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pybullet
import pytest
from scipy.spatial.transform import Rotation

from byteloom import motion as M
from byteloom.openpose import BODY_KEYPOINTS, project_keypoints
from byteloom.geometry import intrinsics_from_fov, look_at

SHIPPED = ("walk", "run", "jump", "dance_a", "backflip", "kick")
REST_QUAT = [0.0, 0.0, 0.0, 1.0]


def rest_motion(height: float = 0.0) -> M.Motion:
    """One frame with every rotation identity, root at (0, height, 0)."""
    return M.Motion(
        name="rest", frame_durations=np.zeros(1), root_pos=np.array([[0.0, height, 0.0]]),
        root_rot=np.array([REST_QUAT]),
        joint_rots={j: np.array([REST_QUAT]) for j in M.SPHERICAL_JOINTS},
        joint_angles={j: np.zeros(1) for j in M.REVOLUTE_JOINTS},
    )


def rotation_angle(q1, q2) -> np.ndarray:
    """Angle (radians) between xyzw quaternions, insensitive to their sign."""
    return (Rotation.from_quat(q1).inv() * Rotation.from_quat(q2)).magnitude()


def bone_lengths(pos: np.ndarray, sk: M.Skeleton) -> np.ndarray:
    """(T, J-1) distance from each non-root link to its parent."""
    return np.stack([np.linalg.norm(pos[:, j] - pos[:, p], axis=-1)
                     for j, p in enumerate(sk.parents) if p >= 0], axis=1)


# ----------------------------------------------------------------------------- clips and layout

def test_shipped_clips_are_listed_and_load():
    names = M.list_motions()
    assert set(SHIPPED) <= set(names) and len(names) == 15
    for name in names:
        m = M.load_motion(name)
        T = m.num_frames
        assert T >= 2 and m.loop in M.LOOP_MODES and m.root_pos.shape == (T, 3)
        for q in [m.root_rot, *m.joint_rots.values()]:
            assert q.shape == (T, 4) and np.allclose(np.linalg.norm(q, axis=1), 1)
        assert all(a.shape == (T,) for a in m.joint_angles.values())
        assert np.all(np.diff(m.times) > 0) and m.duration > 0.5
    assert M.load_motion("humanoid3d_walk").num_frames == M.load_motion(M.motion_path("walk")).num_frames


def _pybullet_interpolator():
    """pybullet's own DeepMimic pose interpolator (imported by file: its package needs gym)."""
    spec = importlib.util.find_spec("pybullet_envs")
    path = Path(spec.submodule_search_locations[0]) / "deep_mimic" / "env" / "humanoid_pose_interpolator.py"
    spec = importlib.util.spec_from_file_location("humanoid_pose_interpolator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HumanoidPoseInterpolator()


def _split_pose(pose):
    """pybullet's 43-value pose (xyzw quaternions) into root pos, root rot, joint values."""
    pose, out, col = np.asarray(pose), {}, 0
    for field, n in M.FRAME_LAYOUT[1:]:
        out[field] = pose[col:col + n]
        col += n
    return out


@pytest.mark.parametrize("fraction", [0.0, 0.37])
def test_layout_and_interpolation_match_pybullets_deepmimic_reader(fraction):
    """Our parse + SLERP equals HumanoidPoseInterpolator.Slerp on the same file rows."""
    from pybullet_utils import bullet_client

    client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
    interp = _pybullet_interpolator()
    m = M.load_motion("walk")
    rows = json.loads(M.motion_path("walk").read_text())["Frames"]
    for i in (0, 7, 20):
        ref = _split_pose(interp.Slerp(fraction, rows[i], rows[i + 1], client))
        ours = M.sample(m, [m.times[i] + fraction * m.frame_durations[i]])
        assert np.allclose(ours.root_pos[0], ref["root_pos"], atol=1e-9)
        assert rotation_angle(ours.root_rot[0], ref["root_rot"]) < 1e-5
        for j in M.SPHERICAL_JOINTS:
            assert rotation_angle(ours.joint_rots[j][0], ref[j]) < 1e-5, j
        for j in M.REVOLUTE_JOINTS:
            assert ours.joint_angles[j][0] == pytest.approx(ref[j][0], abs=1e-9), j
    client.disconnect()


# ----------------------------------------------------------------------------- forward kinematics

def test_forward_kinematics_matches_pybullet():
    sk = M.load_skeleton()
    client = pybullet.connect(pybullet.DIRECT)
    body = pybullet.loadURDF(str(M.URDF_PATH), globalScaling=M.URDF_SCALE,
                             flags=pybullet.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client)
    assert [pybullet.getJointInfo(body, j, physicsClientId=client)[12].decode()
            for j in range(len(sk.names))] == list(sk.names)
    for name in ("walk", "backflip"):
        m = M.load_motion(name)
        pos, rot = M.forward_kinematics(m)
        for t in range(0, m.num_frames, 7):
            pybullet.resetBasePositionAndOrientation(body, m.root_pos[t], m.root_rot[t], physicsClientId=client)
            joints = [j for j, k in enumerate(sk.types) if k != "fixed"]
            values = [list(m.joint_rots[sk.names[j]][t]) if sk.types[j] == "spherical"
                      else [m.joint_angles[sk.names[j]][t]] for j in joints]
            pybullet.resetJointStatesMultiDof(body, joints, values, physicsClientId=client)
            states = pybullet.getLinkStates(body, list(range(len(sk.names))), computeForwardKinematics=True,
                                            physicsClientId=client)
            assert np.allclose([s[4] for s in states], pos[t], atol=1e-6)
            assert np.allclose(Rotation.from_quat([s[5] for s in states]).as_matrix(), rot[t], atol=1e-6)
    pybullet.disconnect(client)


def test_rest_pose_is_symmetric_with_human_proportions():
    sk = M.load_skeleton()
    pos, _ = M.forward_kinematics(rest_motion())
    pos = pos[0]
    for right in [n for n in sk.names if n.startswith("right_")]:
        r, l = pos[sk.index(right)], pos[sk.index(right.replace("right_", "left_"))]
        assert np.allclose(r * [1, 1, -1], l) and r[2] > 0.05  # mirror images; right side is +z
    # metric sizes with URDF_SCALE = 0.25
    length = lambda a, b: np.linalg.norm(pos[sk.index(a)] - pos[sk.index(b)])  # noqa: E731
    assert length("right_hip", "right_knee") == pytest.approx(0.4215, abs=1e-3)
    assert length("right_knee", "right_ankle") == pytest.approx(0.4099, abs=1e-3)
    assert length("right_shoulder", "right_elbow") == pytest.approx(0.2748, abs=1e-3)
    assert length("right_elbow", "right_wrist") == pytest.approx(0.2589, abs=1e-3)
    sole = pos[sk.index("right_ankle"), 1] - 0.25 * (0.09 + 0.22 / 2)  # foot box below the ankle
    head_top = pos[sk.index("neck"), 1] + sk.head_centre[1] + sk.head_radius
    assert head_top - sole == pytest.approx(1.62, abs=0.01)  # standing height
    assert 0.85 < -sole < 0.9  # pelvis height when standing; the clips' root heights are 0.75-0.89


@pytest.mark.parametrize("name", SHIPPED)
def test_bone_lengths_are_constant_over_a_clip(name):
    sk = M.load_skeleton()
    pos, _ = M.forward_kinematics(M.load_motion(name))
    lengths = bone_lengths(pos, sk)
    assert np.ptp(lengths, axis=0).max() < 1e-9
    assert np.allclose(lengths[0], np.linalg.norm(np.delete(sk.offsets, 0, axis=0), axis=1))


def test_walk_moves_forward_and_stays_on_the_ground():
    m = M.load_motion("walk")
    pos, rot = M.forward_kinematics(m)
    step = m.root_pos[-1] - m.root_pos[0]
    assert step[0] > 1.0 and abs(step[2]) < 0.05 and abs(step[1]) < 1e-6  # walks along +x
    facing = rot[:, 0] @ np.array([1.0, 0.0, 0.0])  # root link's forward axis in the world
    assert facing[:, 0].min() > 0.95
    ankles = pos[:, [M.load_skeleton().index("right_ankle"), M.load_skeleton().index("left_ankle")], 1]
    assert 0.0 < ankles.min() < 0.12 and ankles.max() < 0.35  # feet near the floor (y up)


# ----------------------------------------------------------------------------- resampling

def test_sampling_at_the_frame_times_reproduces_the_clip():
    for name in ("walk", "kick"):
        m = M.load_motion(name)
        s = M.sample(m, m.times)
        assert np.allclose(s.root_pos, m.root_pos, atol=1e-12)
        assert rotation_angle(s.root_rot, m.root_rot).max() < 1e-7
        for j in M.SPHERICAL_JOINTS:
            assert rotation_angle(s.joint_rots[j], m.joint_rots[j]).max() < 1e-7
        for j in M.REVOLUTE_JOINTS:
            assert np.allclose(s.joint_angles[j], m.joint_angles[j], atol=1e-12)
        assert np.allclose(M.forward_kinematics(s)[0], M.forward_kinematics(m)[0], atol=1e-7)
        assert np.allclose(s.frame_durations, m.frame_durations)


def test_wrap_repeats_the_clip_and_none_holds_the_ends():
    walk = M.load_motion("walk")
    t = np.array([0.1, 0.5, 0.9])
    first, later = M.sample(walk, t), M.sample(walk, t + 2 * walk.duration)
    step = walk.root_pos[-1] - walk.root_pos[0]
    assert np.allclose(later.root_pos, first.root_pos + 2 * step * [1, 0, 1])
    assert rotation_angle(later.joint_rots["chest"], first.joint_rots["chest"]).max() < 1e-9
    kick = M.load_motion("kick")
    held = M.sample(kick, [-1.0, kick.duration + 1.0])
    assert np.allclose(held.root_pos, kick.root_pos[[0, -1]])


def test_resample_to_a_frame_rate_and_length():
    walk = M.load_motion("walk")
    clip = M.resample(walk, fps=15, num_frames=97)  # the paper's evaluation clips: 97 frames at 15 fps
    assert clip.num_frames == 97 and np.allclose(clip.frame_durations[:-1], 1 / 15)
    assert clip.loop == "none" and clip.root_pos[-1, 0] > 4 * walk.root_pos[-1, 0]
    one_pass = M.resample(walk, fps=30)
    assert one_pass.num_frames == int(walk.duration * 30) + 1
    # continuous motion inside a cycle: no joint moves more than a few centimetres per frame
    pos, _ = M.forward_kinematics(one_pass)
    assert np.linalg.norm(np.diff(pos, axis=0), axis=-1).max() < 0.15  # < 4.5 m/s (a swinging foot)
    with pytest.raises(ValueError, match="strictly increasing"):
        M.sample(walk, [0.2, 0.1])
    with pytest.raises(ValueError, match="fps"):
        M.resample(walk, fps=0)


# ----------------------------------------------------------------------------- errors on bad files

def _write_clip(path, frames, loop="wrap"):
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path


def _rest_row(duration=0.1):
    """A file row in the documented layout: identity quaternions (w first), zero angles."""
    values = {"duration": [duration], "root_pos": [0.0, 0.85, 0.0]}
    return [v for field, n in M.FRAME_LAYOUT for v in values.get(field, [1.0, 0.0, 0.0, 0.0] if n == 4 else [0.0])]


def test_a_tiny_valid_clip_loads(tmp_path):
    row = _rest_row()
    assert len(row) == M.ROW_LENGTH
    m = M.load_motion(_write_clip(tmp_path / "ok.txt", [row, _rest_row(0.0)]))
    assert m.num_frames == 2 and m.duration == pytest.approx(0.1) and m.name == "ok"
    assert np.allclose(m.root_rot, REST_QUAT)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"Loop": "wrap"}), "'Frames' list"),
    (json.dumps({"Loop": "wrap", "Frames": [_rest_row()[:-1], _rest_row()]}), "frame 0 has 43 values, expected 44"),
    (json.dumps({"Loop": "wrap", "Frames": [_rest_row(), _rest_row()[:10]]}), "frame 1 has 10 values"),
    (json.dumps({"Loop": "wrap", "Frames": [_rest_row(), _rest_row(float("nan"))]}), "frame 1 has non-finite"),
    (json.dumps({"Loop": "bounce", "Frames": [_rest_row(), _rest_row()]}), "'Loop' must be"),
    (json.dumps({"Loop": "none", "Frames": [_rest_row()]}), "at least 2 frames"),
    (json.dumps({"Loop": "none", "Frames": [_rest_row(0.0), _rest_row()]}), "frame 0 has duration 0.0"),
    (json.dumps({"Loop": "none", "Frames": [_rest_row(), [0.0] * 44]}), "zero quaternion at frame 1"),
    (json.dumps({"Loop": "none", "Frames": [_rest_row(), ["a"] * 44]}), "only numbers"),
])
def test_bad_clip_files_raise_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad_clip.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        M.load_motion(path)
    assert "bad_clip.txt" in str(err.value)


def test_missing_clip_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_clip"):
        M.load_motion(tmp_path / "no_such_clip.txt")
    with pytest.raises(FileNotFoundError, match="moonwalk"):
        M.load_motion("moonwalk")


# ----------------------------------------------------------------------------- OpenPose keypoints

def test_rest_pose_body_keypoints():
    kp = M.keypoints_3d(rest_motion(0.88))
    body = kp["body"][0]
    idx = {k: i for i, k in enumerate(BODY_KEYPOINTS)}
    for r in [k for k in BODY_KEYPOINTS if k.startswith("R")]:
        assert np.allclose(body[idx[r]] * [1, 1, -1], body[idx["L" + r[1:]]]), r  # mirror images
    assert np.allclose(body[idx["Neck"]], (body[idx["RShoulder"]] + body[idx["LShoulder"]]) / 2)
    assert body[idx["Nose"], 0] > body[idx["Neck"], 0] + 0.08  # the face is at the front (+x)
    assert body[idx["Neck"], 1] < body[idx["Nose"], 1] < body[idx["REye"], 1]
    assert body[:, 1].max() < 1.62 and body[idx["RAnkle"], 1] > 0  # below the head top, above the floor
    assert np.linalg.norm(body[idx["REye"]] - body[idx["LEye"]]) == pytest.approx(0.07, abs=0.01)


def test_hands_are_rigid_on_the_forearm_and_mirror_images():
    m = M.load_motion("dance_a")
    sk = M.load_skeleton()
    pos, rot = M.forward_kinematics(m)
    for side in ("left", "right"):
        hand = M.hand_keypoints_3d(pos, rot, side)
        assert hand.shape == (m.num_frames, 21, 3)
        assert np.allclose(hand[:, 0], pos[:, sk.index(f"{side}_wrist")])
        d = np.linalg.norm(hand[:, :, None] - hand[:, None], axis=-1)
        assert np.ptp(d, axis=0).max() < 1e-9  # a rigid template
        tip = np.linalg.norm(hand[:, 12] - hand[:, 0], axis=-1)  # middle fingertip
        assert np.allclose(tip, 0.19, atol=0.005)
    rest = M.keypoints_3d(rest_motion())
    assert np.allclose(rest["left_hand"] * [1, 1, -1], rest["right_hand"])
    # at rest the hands hang down, fingers below the wrist
    assert (rest["right_hand"][0, 1:, 1] < rest["right_hand"][0, 0, 1]).all()
    with pytest.raises(ValueError, match="side"):
        M.hand_keypoints_3d(pos, rot, "middle")


def test_a_camera_in_front_sees_the_right_side_on_the_image_left():
    body = M.keypoints_3d(M.load_motion("walk"))["body"][0]
    size = (256, 256)
    K = intrinsics_from_fov(size, 45)
    w2c = look_at((4.0, 1.0, 0.0), (0.0, 0.85, 0.0))  # 4 m in front of the humanoid (it faces +x)
    uv = project_keypoints(body, K, w2c, size)
    idx = {k: i for i, k in enumerate(BODY_KEYPOINTS)}
    assert uv[:, 2].all()  # the whole person is in view
    assert uv[idx["RShoulder"], 0] < uv[idx["LShoulder"], 0]
    assert uv[idx["Nose"], 1] < uv[idx["Neck"], 1] < uv[idx["RHip"], 1] < uv[idx["RAnkle"], 1]
    assert 80 < np.ptp(uv[:, 1]) < 130  # ~1.55 m tall at 4 m with a 45-degree vertical field of view
