"""Identity similarity (Face-Cos): dlib's face network where a face is found, head-crop substitute otherwise."""
import numpy as np
import pytest
from skimage import data

from byteloom import render, scene
from byteloom.geometry import intrinsics_from_fov
from byteloom.metrics import identity as idm

SIZE = (96, 96)
BODY = np.zeros((18, 3))
BODY[0], BODY[1] = [47.5, 47.5, 1], [47.5, 70.0, 1]  # nose at the head's centre, neck below


@pytest.fixture(scope="module")
def heads():
    r, K = render.Renderer(SIZE), intrinsics_from_fov(SIZE, 30)

    def head(identity, yaw):
        mesh = scene.head_mesh(0.12, scene.make_identity(identity))
        pose = scene.head_pose(np.array([0, -0.1, 0.9]), np.array([0, 0.1, 0.9]), np.array([np.sin(yaw), 0, -np.cos(yaw)]))
        return r.render([(r.node(mesh, "rgb", lambda: render.textured_mesh(mesh)), pose)], K, render.LIT)[0]
    return head


def test_dlib_face_similarity_on_a_real_face():
    img = data.astronaut()
    brighter = np.clip(img.astype(int) + 30, 0, 255).astype(np.uint8)
    s = idm.face_similarity(img, [img, brighter, np.zeros_like(img)], method="dlib_face")
    assert s.method == "dlib_face" and s.no_face_frames == 1
    assert s.per_frame[0] == pytest.approx(1.0) and s.per_frame[1] > 0.99
    assert s.per_frame[2] < s.per_frame[1] - 0.1  # no face: embedded as black, as AnchorCrafter does


def test_head_crop_substitute_prefers_the_same_identity(heads):
    sims = np.array([[idm.face_similarity(heads(i, 0.2), [heads(j, y) for y in (-0.5, 0.0, 0.5)], method="auto",
                                          ref_body=BODY, bodies=[BODY] * 3).value for j in range(4)] for i in range(4)])
    assert np.all(np.argmax(sims, axis=1) == np.arange(4))  # every identity is closest to itself
    assert np.diag(sims).mean() > sims[~np.eye(4, dtype=bool)].mean() + 0.03
    s = idm.face_similarity(heads(0, 0), [heads(0, 0)], ref_body=BODY, bodies=[BODY])
    assert s.method == "head_crop_mobilenet"  # no face detector fires at this size: labelled substitute


def test_head_box_and_errors():
    assert idm.head_box(BODY) == (20, 20, 75, 75)
    assert idm.head_box(np.zeros((18, 3))) is None
    with pytest.raises(ValueError, match=r"\(18, 3\)"):
        idm.head_box(np.zeros((17, 3)))
    with pytest.raises(ValueError, match="uint8"):
        idm.face_descriptor(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="no face found in the reference"):
        idm.face_similarity(np.zeros((64, 64, 3), np.uint8), [np.zeros((64, 64, 3), np.uint8)], method="dlib_face")
    with pytest.raises(ValueError, match="needs ref_body"):
        idm.face_similarity(np.zeros((64, 64, 3), np.uint8), [np.zeros((64, 64, 3), np.uint8)])
    with pytest.raises(ValueError, match="2 frames but 1 keypoint sets"):
        idm.face_similarity(np.zeros((64, 64, 3), np.uint8), [np.zeros((64, 64, 3), np.uint8)] * 2,
                            method="head_crop_mobilenet", ref_body=BODY, bodies=[BODY])
