"""OpenPose skeletons: layouts, ControlNet-style drawing, projection and JSON I/O."""
import json
import math

import cv2
import numpy as np
import pytest

from byteloom import openpose as O
from byteloom.geometry import pose_from_rotvec

IDX = {k: i for i, k in enumerate(O.BODY_KEYPOINTS)}


def body_with(**points) -> np.ndarray:
    """An (18, 3) body with only the named keypoints present (confidence 1)."""
    body = np.zeros((18, 3))
    for name, (x, y) in points.items():
        body[IDX[name]] = (x, y, 1.0)
    return body


def reference_draw_body(body, size) -> np.ndarray:
    """Straightforward re-statement of ControlNet's draw_bodypose (full-canvas blend per limb)."""
    canvas = np.zeros((*size, 3), np.uint8)
    seen = body[:, 2] > 0
    for i in range(18):
        if seen[i]:
            cv2.circle(canvas, (int(body[i, 0]), int(body[i, 1])), 4, O.BODY_COLORS[i], thickness=-1)
    for i, (a, b) in enumerate(O.BODY_LIMBS[:17]):
        if seen[a] and seen[b]:
            (x0, y0), (x1, y1) = body[a, :2], body[b, :2]
            poly = cv2.ellipse2Poly((int((x0 + x1) / 2), int((y0 + y1) / 2)),
                                    (int(math.hypot(x0 - x1, y0 - y1) / 2), 4),
                                    int(math.degrees(math.atan2(y0 - y1, x0 - x1))), 0, 360, 1)
            limb = canvas.copy()
            cv2.fillConvexPoly(limb, poly, O.BODY_COLORS[i])
            canvas = cv2.addWeighted(canvas, 0.4, limb, 0.6, 0)
    return canvas


def test_layouts():
    assert len(O.BODY_KEYPOINTS) == 18 and len(O.BODY_COLORS) == 18 and len(O.BODY_LIMBS) == 19
    names = [(O.BODY_KEYPOINTS[a], O.BODY_KEYPOINTS[b]) for a, b in O.BODY_LIMBS]
    assert names[0] == ("Neck", "RShoulder") and names[12] == ("Neck", "Nose") and names[-1] == ("LShoulder", "LEar")
    assert len(O.HAND_KEYPOINTS) == 21 and len(O.HAND_EDGES) == 20
    assert sorted(b for _, b in O.HAND_EDGES) == list(range(1, 21))  # a tree rooted at the wrist
    assert O.HAND_EDGE_COLORS[0] == (255, 0, 0) and O.HAND_EDGE_COLORS[10] == (0, 255, 255)


def test_limb_midpoint_has_the_limb_colour_blended_at_0_6():
    body = body_with(Neck=(100, 100), RShoulder=(60, 100), RElbow=(60, 160))
    img = O.draw_skeleton(body, size=(512, 512))
    assert img.dtype == np.uint8 and img.shape == (512, 512, 3)
    # limb 0 Neck-RShoulder is red, limb 2 RShoulder-RElbow orange; 0.6 of each on black
    assert tuple(img[100, 80]) == (153, 0, 0)
    assert tuple(img[130, 60]) == (153, 102, 0)
    assert tuple(img[100, 100]) != (0, 0, 0)  # the neck's circle


def test_missing_keypoints_and_their_limbs_are_not_drawn():
    body = body_with(Neck=(100, 100), RShoulder=(60, 100))
    body[IDX["Neck"], 2] = 0.0  # the neck is missing: no neck circle, no limb
    img = O.draw_skeleton(body, size=(256, 256))
    assert not img[100, 80].any() and not img[100, 100].any()
    assert img[100, 60].any()  # the right shoulder's circle is still there
    assert not O.draw_skeleton(np.zeros((18, 3)), size=(64, 64)).any()


def test_drawing_matches_controlnet_and_scales_with_the_image():
    rng = np.random.default_rng(0)
    body = np.column_stack([rng.uniform(20, 490, (18, 2)), rng.integers(0, 2, 18)])
    body[[0, 1], 2] = 1.0
    body[0, :2] = (600, 300)  # a keypoint outside the image: its limbs are clipped, not dropped
    assert np.array_equal(O.draw_skeleton(body, size=(512, 512)), reference_draw_body(body, (512, 512)))
    wide = O.draw_skeleton(body_with(Neck=(400, 200), RShoulder=(200, 200)), size=(1024, 1024))
    assert wide[192:209, 300].any(axis=1).sum() == 17  # limb half-width 8 = 4 * 1024 / 512
    small = O.draw_skeleton(body_with(Neck=(100, 50), RShoulder=(50, 50)), size=(128, 128))
    assert small[46:55, 75].any(axis=1).sum() == 3  # half-width 1 at a 128-pixel short side


def test_hands_are_drawn_with_rainbow_edges_and_blue_keypoints():
    hand = np.zeros((21, 3))
    hand[0], hand[1] = (50, 200, 1), (150, 200, 1)  # wrist and thumb base only
    img = O.draw_skeleton(None, hands=[hand], size=(256, 256))
    assert tuple(img[200, 100]) == O.HAND_EDGE_COLORS[0]
    assert tuple(img[200, 50]) == O.HAND_KEYPOINT_COLOR and tuple(img[200, 150]) == O.HAND_KEYPOINT_COLOR
    assert not img[:190].any() and not img[211:].any()  # edges to missing keypoints are skipped
    with pytest.raises(ValueError, match=r"\(21, 3\)"):
        O.draw_skeleton(None, hands=[np.zeros((20, 3))], size=(32, 32))


def test_project_keypoints_of_known_points():
    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    world_to_cam = np.eye(4)
    points = [(0.1, -0.2, 2.0), (0.0, 0.0, -1.0), (3.0, 0.0, 1.0)]
    uvc = O.project_keypoints(points, K, world_to_cam, size=(100, 100))
    assert np.allclose(uvc[0], (55.0, 40.0, 1.0))  # x right, y down, z forward
    assert np.allclose(uvc[1], (0.0, 0.0, 0.0))  # behind the camera: missing
    assert np.allclose(uvc[2], (350.0, 50.0, 0.0))  # in front but off the image
    assert O.project_keypoints(points[2:], K, world_to_cam)[0, 2] == 1.0  # no size: only depth counts
    # a camera turned 180 degrees about y sees the point behind it
    turned = pose_from_rotvec((0, np.pi, 0), (0, 0, 0))
    assert O.project_keypoints([(0.0, 0.0, -2.0)], K, turned)[0] == pytest.approx((50.0, 50.0, 1.0))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        O.project_keypoints(np.zeros((4, 2)), K, world_to_cam)


def test_json_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    body = np.column_stack([rng.uniform(0, 1024, (18, 2)), rng.uniform(0, 1, 18)])
    body[3] = 0
    right = np.column_stack([rng.uniform(0, 1024, (21, 2)), rng.uniform(0, 1, 21)])
    doc = O.to_openpose_json(body, right_hand=right)
    assert doc["version"] == 1.3 and len(doc["people"][0]["pose_keypoints_2d"]) == 54
    assert doc["people"][0]["hand_left_keypoints_2d"] == []
    path = O.write_openpose_json(tmp_path / "frame_000000_keypoints.json", body, right_hand=right)
    (person,) = O.read_openpose_json(path)
    assert np.array_equal(person.body, body) and np.array_equal(person.right_hand, right)
    assert person.left_hand is None


@pytest.mark.parametrize("doc, message", [
    ("{oops", "not valid JSON"),
    (json.dumps({"version": 1.3}), "'people' list"),
    (json.dumps({"version": 1.3, "people": [{"pose_keypoints": [0] * 54}]}), "no 'pose_keypoints_2d' key"),
    (json.dumps({"people": [{"pose_keypoints_2d": [0] * 53}]}), "has 53 values, expected 54"),
    (json.dumps({"people": [{"pose_keypoints_2d": [0] * 75}]}), "BODY_25"),
    (json.dumps({"people": [{"pose_keypoints_2d": [0] * 54, "hand_left_keypoints_2d": [0] * 60}]}),
     "hand_left_keypoints_2d has 60 values, expected 63"),
    (json.dumps({"people": [{"pose_keypoints_2d": ["x"] * 54}]}), "only numbers"),
    (json.dumps({"people": [{"pose_keypoints_2d": 7}]}), "must be a list"),
])
def test_bad_openpose_json_raises_errors_naming_the_file(tmp_path, doc, message):
    path = tmp_path / "bad_keypoints.json"
    path.write_text(doc)
    with pytest.raises(ValueError, match=message) as err:
        O.read_openpose_json(path)
    assert "bad_keypoints.json" in str(err.value)


def test_missing_json_file_and_bad_arrays(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        O.read_openpose_json(tmp_path / "nothing.json")
    with pytest.raises(ValueError, match=r"\(18, 3\)"):
        O.to_openpose_json(np.zeros((17, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        O.draw_skeleton(np.full((18, 3), np.nan), size=(8, 8))
    (person,) = O.read_openpose_json(O.write_openpose_json(tmp_path / "empty.json", np.zeros((18, 3))))
    assert person.body.shape == (18, 3) and person.left_hand is None
