"""Metrics (paper section 4.1): known answers on hand-made inputs and monotone responses to damage."""
import cv2
import numpy as np
import pytest

from byteloom import metrics as M

# ----------------------------------------------------------------------------------- helpers


def box(size, top, left, h, w):
    m = np.zeros(size, dtype=bool)
    m[top:top + h, left:left + w] = True
    return m


def texture(h, w, sigma=3.0, seed=0):
    """Smooth random RGB texture, uint8, full 0..255 range."""
    t = cv2.GaussianBlur(np.random.default_rng(seed).random((h, w, 3)).astype(np.float32), (0, 0), sigma)
    t = (t - t.min()) / (t.max() - t.min())
    return (t * 255).astype(np.uint8)


def translate(tex, dx, dy, size):
    """The (H, W) window of `tex` whose origin is at (dx, dy), sub-pixel, bilinear."""
    m = np.float32([[1, 0, -dx], [0, 1, -dy]])
    return cv2.warpAffine(tex, m, (size[1], size[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def strictly_decreasing(values):
    return all(a > b for a, b in zip(values, values[1:]))


# ---------------------------------------------------------------------------------- Obj-IoU


def test_mask_iou_known_squares():
    a, b = box((30, 30), 0, 0, 10, 10), box((30, 30), 5, 0, 10, 10)  # overlap 5x10 = 50 px
    assert M.mask_iou(a, b) == pytest.approx(50 / 150)
    assert M.mask_iou(a, a) == 1.0
    assert M.mask_iou(a, box((30, 30), 20, 20, 5, 5)) == 0.0
    empty = np.zeros((30, 30), bool)
    assert M.mask_iou(empty, empty) == 1.0
    assert M.mask_iou(a, empty) == 0.0


def test_obj_iou_video_and_frame_modes_differ():
    size = (40, 40)
    gt = np.stack([box(size, 0, 0, 20, 20), box(size, 30, 30, 2, 2), np.zeros(size, bool)])
    pred = np.stack([box(size, 0, 0, 20, 20), box(size, 30, 34, 2, 2), np.zeros(size, bool)])
    # video: (400 + 0 + 0) / (400 + 8 + 0); frame: (1 + 0 + 1) / 3, the empty frame counting 1.0
    assert M.obj_iou(pred, gt) == pytest.approx(400 / 408)
    assert M.obj_iou(pred, gt, mode="frame") == pytest.approx(2 / 3)


def test_obj_iou_sums_over_frames():
    size = (30, 30)
    gt = np.stack([box(size, 0, 0, 10, 10), box(size, 0, 0, 10, 10)])
    pred = np.stack([box(size, 5, 0, 10, 10), box(size, 0, 0, 10, 10)])
    assert M.obj_iou(pred, gt) == pytest.approx((50 + 100) / (150 + 100))
    assert M.obj_iou(list(pred), list(gt)) == pytest.approx((50 + 100) / (150 + 100))


def test_obj_iou_all_empty_video():
    empty = np.zeros((3, 8, 8), bool)
    assert np.isnan(M.obj_iou(empty, empty))
    assert M.obj_iou(empty, empty, mode="frame") == 1.0


def test_obj_iou_resizes_generated_masks_nearest():
    gt = box((20, 20), 4, 6, 8, 8)[None]
    small = box((10, 10), 2, 3, 4, 4)[None]  # exactly gt at half resolution
    assert M.obj_iou(small, gt) == 1.0
    big = np.kron(gt, np.ones((1, 3, 3), bool))  # 60x60, triple resolution
    assert M.obj_iou(big, gt) == 1.0
    shifted = box((10, 10), 2, 4, 4, 4)[None]  # one low-res pixel right = 2 px at gt size
    assert M.obj_iou(shifted, gt) == pytest.approx(48 / 80)
    resized = M.resize_masks(small, (20, 20))
    assert resized.dtype == bool and np.array_equal(resized, gt)
    # non-integer factor: exactly nearest neighbour, src index floor(dst * src_size / dst_size)
    m = np.random.default_rng(0).random((1, 7, 5)) > 0.5
    rows, cols = np.floor(np.arange(16) * 7 / 16).astype(int), np.floor(np.arange(11) * 5 / 11).astype(int)
    assert np.array_equal(M.resize_masks(m, (16, 11))[0], m[0][np.ix_(rows, cols)])


def test_obj_iou_errors():
    gt = np.zeros((3, 8, 8), bool)
    with pytest.raises(ValueError, match="differ in length"):
        M.obj_iou(gt[:2], gt)
    with pytest.raises(ValueError, match="bool"):
        M.obj_iou(gt.astype(np.uint8), gt)
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        M.obj_iou(gt[0], gt[0])
    with pytest.raises(ValueError, match="mode"):
        M.obj_iou(gt, gt, mode="pixel")
    with pytest.raises(ValueError, match="differ in size"):
        M.mask_iou(gt[0], np.zeros((9, 8), bool))
    with pytest.raises(ValueError, match="no frames"):
        M.obj_iou([], [])


# -------------------------------------------------------------------------------------- LMD


def hands(n_frames=4, n_hands=2, seed=0, lo=200, hi=400):
    """Keypoints well away from the image origin (so zero-filled hands fall beyond 100 px)."""
    return np.random.default_rng(seed).uniform(lo, hi, size=(n_frames, n_hands, 21, 2))


def test_lmd_identical_is_zero():
    k = hands()
    assert M.hand_lmd(k, k) == 0.0
    assert M.hand_lmd(k, k, image_size=(576, 1024)) == 0.0


def test_lmd_shift_gives_distance_and_normalises():
    k = hands()
    shifted = k + np.array([3.0, 4.0])
    assert M.hand_lmd(shifted, k) == pytest.approx(5.0)
    assert M.hand_lmd(shifted, k, image_size=(60, 80)) == pytest.approx(5.0 / 100.0)  # diagonal 100
    assert M.hand_lmd(shifted, k, image_size=(60, 80), normalize="max_side") == pytest.approx(5.0 / 80)
    assert M.hand_lmd(shifted, k, image_size=(60, 80), normalize="per_axis") == pytest.approx(
        np.hypot(3 / 80, 4 / 60))


def test_lmd_drops_outliers_at_max_px():
    k = np.round(hands())  # integer coordinates: exact distances
    pred = k + np.array([0.0, 5.0])
    pred[0, 0, 3] += np.array([0.0, 100.0])  # 105 px: dropped
    pred[2, 1, 4] = k[2, 1, 4] + np.array([60.0, 80.0])  # exactly 100 px: dropped (>= max_px)
    pred[1, 1, 7] += np.array([95.0, 0.0])  # sqrt(95^2 + 5^2) ~ 95.1 px: kept
    per_frame = M.hand_lmd_per_frame(pred, k)
    assert per_frame[0] == pytest.approx(5.0)  # the outlier left the mean, 41 keypoints remain
    assert per_frame[1] == pytest.approx((41 * 5.0 + np.hypot(95, 5)) / 42)
    assert per_frame[2] == pytest.approx(5.0)
    no_cut = M.hand_lmd_per_frame(pred, k, max_px=None)
    assert no_cut[0] == pytest.approx((41 * 5.0 + 105.0) / 42)


def test_lmd_missing_hands_follow_anchorcrafter():
    far = hands(n_frames=1, n_hands=1)[0]  # one hand at 200..400 px
    near = hands(n_frames=1, n_hands=1, seed=1, lo=10, hi=50)[0]  # one hand near the origin
    empty = np.zeros((0, 21, 2))
    pred = [far, empty, empty, far, np.concatenate([far, far + 1.0]), near]
    gt = [far + 2.0, far, near, empty, far, empty]
    per_frame = M.hand_lmd_per_frame(pred, gt)
    assert per_frame[0] == pytest.approx(np.hypot(2, 2))
    assert np.isnan(per_frame[1])  # pred hand missing -> zeros; |far| >= 100 px, all dropped
    assert per_frame[2] == pytest.approx(np.linalg.norm(near, axis=-1).mean())  # zeros vs near: kept
    assert np.isnan(per_frame[3])  # gt hand missing, same rule the other way
    assert per_frame[4] == pytest.approx(np.sqrt(2) / 2)  # one gt hand against both generated
    assert per_frame[5] == pytest.approx(np.linalg.norm(near, axis=-1).mean())  # near vs zeros: kept
    both_empty = M.hand_lmd_per_frame([empty], [empty])
    assert np.isnan(both_empty[0])
    assert M.hand_lmd(pred, gt) == pytest.approx(np.nanmean(per_frame))
    assert np.isnan(M.hand_lmd([empty, far], [empty, empty]))


def test_lmd_nan_keypoints_are_dropped():
    k = hands(n_frames=1)
    pred = k + np.array([0.0, 1.0])
    pred[0, 0, :5] = np.nan
    assert M.hand_lmd(pred, k) == pytest.approx(1.0)
    assert M.hand_lmd(pred, k, max_px=None) == pytest.approx(1.0)


def test_lmd_errors():
    k = hands()
    with pytest.raises(ValueError, match="differ in length"):
        M.hand_lmd(k[:2], k)
    with pytest.raises(ValueError, match=r"\(n_hands, 21, 2\)"):
        M.hand_lmd([np.zeros((1, 20, 2))], [np.zeros((1, 20, 2))])
    with pytest.raises(ValueError, match="image_size"):
        M.hand_lmd(k, k, normalize="diagonal")
    with pytest.raises(ValueError, match="normalize"):
        M.hand_lmd(k, k, image_size=(10, 10), normalize="area")
    with pytest.raises(ValueError, match="max_px"):
        M.hand_lmd(k, k, max_px=0)


# ----------------------------------------------------------------------- Subj-/Back-Cons


def test_temporal_consistency_known_values():
    f = np.random.default_rng(0).normal(size=(1, 32))
    assert M.temporal_consistency(np.repeat(f, 8, axis=0)) == pytest.approx(1.0)
    assert M.temporal_consistency(f) == 1.0  # a single frame
    # f, -f, f: s_1 = (0 + 0) / 2, s_2 = (0 + 1) / 2 (negative cosines clip to 0)
    assert M.temporal_consistency(np.concatenate([f, -f, f])) == pytest.approx(0.25)
    # scale does not matter (features are L2-normalised)
    assert M.temporal_consistency(np.concatenate([f, 5 * f])) == pytest.approx(1.0)


def test_temporal_consistency_drops_with_noise():
    rng = np.random.default_rng(0)
    base, noise = rng.normal(size=(1, 64)), rng.normal(size=(16, 64))
    scores = [M.temporal_consistency(base + s * noise) for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
    assert scores[0] == pytest.approx(1.0)
    assert strictly_decreasing(scores)


def test_temporal_consistency_errors():
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        M.temporal_consistency(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        M.temporal_consistency(np.array([[1.0, np.nan]]))


def background_video(flicker, human=True, n=16):
    """Static textured background with sensor noise, alternating brightness +-flicker, and a
    red blob ("human") moving left to right; returns frames and the blob's masks."""
    bg = texture(64, 96, sigma=2.0, seed=5).astype(np.float64)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    frames, masks = [], []
    for t in range(n):
        f = np.clip(bg + flicker * (1 if t % 2 else -1) + rng.normal(0, 2, bg.shape), 0, 255).astype(np.uint8)
        m = (yy - 32) ** 2 / 200 + (xx - (15 + 4 * t)) ** 2 / 60 < 1
        if human:
            f[m] = (200, 80, 60)
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def test_background_consistency_masks_human_and_drops_with_flicker():
    frames, masks = background_video(0)
    masked = M.background_consistency(frames, masks)
    assert masked > 0.99
    no_human = M.background_consistency(background_video(0, human=False)[0], masks)
    assert abs(masked - no_human) < 0.005  # the moving, masked-out person costs (almost) nothing
    assert M.background_consistency(frames) < masked  # unmasked (VBench's way) it does lower it
    scores = [M.background_consistency(*background_video(s)) for s in (0, 5, 10, 20, 40)]
    assert strictly_decreasing(scores)


def test_mask_out_humans_paints_the_union():
    frames, masks = background_video(0, n=4)
    out = M.mask_out_humans(frames, masks, dilate_px=1)
    grown = cv2.dilate(masks.any(0).view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.all(out[:, masks.any(0)] == out[0, masks.any(0)][0])  # one colour over the union
    assert np.array_equal(out[:, ~grown], frames[:, ~grown])  # untouched beyond the dilated union


def test_subject_consistency_and_custom_embed():
    scores = [M.subject_consistency(background_video(s)[0]) for s in (0, 10, 40)]
    assert strictly_decreasing(scores)
    frames = background_video(40)[0]
    assert M.subject_consistency(frames, embed=lambda v: np.ones((len(v), 3))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="embed must return"):
        M.subject_consistency(frames, embed=lambda v: np.ones((3, 3)))
    with pytest.raises(ValueError, match="uint8"):
        M.subject_consistency(frames.astype(np.float32))
    with pytest.raises(ValueError, match="does not match"):
        M.background_consistency(frames, np.zeros((len(frames), 8, 8), bool))


def test_pixel_embed_shapes():
    frames = background_video(0, n=2)[0]  # 64 x 96
    assert M.pixel_embed(frames, size=16).shape == (2, 16 * 16 * 3)  # centre crop
    assert M.dino_pixel_embed(frames, size=16).shape == (2, 16 * 24 * 3)  # shorter side 16, no crop


# ---------------------------------------------------------------------------------- Mot-Smth

TEX = texture(128, 128)


def moving_video(jitter, n=17, speed=1.5, seed=1):
    """A textured plane translating at constant speed, plus per-frame random jitter (px)."""
    j = np.random.default_rng(seed).normal(size=(n, 2))
    return np.stack([translate(TEX, 10 + speed * t + jitter * j[t, 0], 10 + 0.5 * speed * t + jitter * j[t, 1],
                               (64, 64)) for t in range(n)])


def test_motion_smoothness_prefers_smooth_motion():
    smooth = moving_video(0)
    s = M.motion_smoothness(smooth)
    assert s > 0.99
    shuffled = smooth[np.random.default_rng(3).permutation(len(smooth))]
    assert M.motion_smoothness(shuffled) < s - 0.02
    scores = [M.motion_smoothness(moving_video(j)) for j in (0, 0.5, 1, 2, 4)]
    assert strictly_decreasing(scores)
    assert M.motion_smoothness(np.repeat(smooth[:1], 5, axis=0)) == 1.0  # still video


def test_motion_smoothness_follows_vbench_frame_split():
    # frames 0..3: evens 0, 2 are interpolated to stand for frame 1; frame 3 has no partner
    v = np.zeros((4, 8, 8, 3), np.uint8)
    v[1], v[3] = 51, 255
    zeros = lambda a, b: np.zeros_like(a)  # noqa: E731
    assert M.motion_smoothness(v, interpolate=zeros) == pytest.approx((255 - 51) / 255)
    v5 = np.concatenate([v, np.zeros((1, 8, 8, 3), np.uint8)])  # frame 3 is now scored too
    assert M.motion_smoothness(v5, interpolate=zeros) == pytest.approx((255 - (51 + 255) / 2) / 255)


def test_flow_interpolate_recovers_midpoint():
    a, mid, b = (translate(TEX, 10 + 2 * t, 12 + t, (64, 64)) for t in range(3))
    out = M.flow_interpolate(a, b)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(out[inner].astype(int) - mid[inner]).mean() < 2.0
    assert np.abs(a[inner].astype(int) - mid[inner]).mean() > 5.0  # the task is not trivial


def test_motion_smoothness_errors():
    v = moving_video(0, n=5)
    with pytest.raises(ValueError, match="at least 3"):
        M.motion_smoothness(v[:2])
    with pytest.raises(ValueError, match="uint8"):
        M.motion_smoothness(v.astype(np.float32))
    with pytest.raises(ValueError, match="interpolate must return"):
        M.motion_smoothness(v, interpolate=lambda a, b: a[..., 0])


# ---------------------------------------------------------------------------------- T-SSIM

IMG = texture(48, 64, sigma=1.5, seed=7)
MASK = np.zeros((48, 64), bool)
MASK[10:38, 12:50] = True
MASK[10:20, 12:25] = False  # not a rectangle


def noisy(img, sigma, seed=0):
    return np.clip(img + np.random.default_rng(seed).normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def blurred(img, sigma):
    return img if sigma == 0 else cv2.GaussianBlur(img, (0, 0), sigma)


@pytest.mark.parametrize("region", ["bbox", "mask"])
def test_masked_ssim_identical_and_monotone(region):
    assert M.masked_ssim(IMG, IMG, MASK, region=region) == pytest.approx(1.0)
    by_noise = [M.masked_ssim(IMG, noisy(IMG, s), MASK, region=region) for s in (0, 5, 10, 20, 40)]
    assert strictly_decreasing(by_noise)
    by_blur = [M.masked_ssim(IMG, blurred(IMG, s), MASK, region=region) for s in (0, 0.7, 1.5, 3)]
    assert strictly_decreasing(by_blur)


def test_masked_ssim_matches_skimage_on_the_crop():
    from skimage.metrics import structural_similarity
    other = noisy(IMG, 15)
    crop = (slice(10, 38), slice(12, 50))
    ref, smap = structural_similarity(IMG[crop], other[crop], data_range=255, channel_axis=-1, full=True)
    assert M.masked_ssim(IMG, other, MASK) == pytest.approx(ref)
    assert M.masked_ssim(IMG, other, MASK, region="mask") == pytest.approx(smap.mean(-1)[MASK[crop]].mean())


def test_masked_ssim_crop_and_fill():
    other = IMG.copy()
    other[~MASK] = 0  # differs from IMG only outside the object
    assert M.masked_ssim(IMG, other, MASK, fill_outside=0) == pytest.approx(1.0)
    assert M.masked_ssim(IMG, other, MASK) < 0.9  # bbox crop includes the differing corner
    far = IMG.copy()
    far[:, 55:] = 0  # outside the bounding box: never seen
    assert M.masked_ssim(IMG, far, MASK) == pytest.approx(1.0)
    dot = np.zeros_like(MASK)
    dot[0, 0] = True  # one pixel in a corner: the box grows to the 7x7 window
    assert M.mask_bbox(dot, min_size=7) == (0, 7, 0, 7)
    assert M.mask_bbox(MASK) == (10, 38, 12, 50)
    assert np.isfinite(M.masked_ssim(IMG, noisy(IMG, 10), dot))


def test_masked_ssim_errors():
    with pytest.raises(ValueError, match="empty"):
        M.masked_ssim(IMG, IMG, np.zeros_like(MASK))
    with pytest.raises(ValueError, match="data_range"):
        M.masked_ssim(IMG.astype(np.float32), IMG.astype(np.float32), MASK)
    assert M.masked_ssim(IMG / 255.0, IMG / 255.0, MASK, data_range=1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="match"):
        M.masked_ssim(IMG, IMG[:, :-1], MASK)
    with pytest.raises(ValueError, match="bool"):
        M.masked_ssim(IMG, IMG, MASK.astype(np.uint8))
    with pytest.raises(ValueError, match="region"):
        M.masked_ssim(IMG, IMG, MASK, region="box")


def test_temporal_ssim_mean_and_skips():
    frames = np.stack([IMG] * 5)
    masks = np.stack([MASK] * 5)
    masks[2] = False
    same = M.temporal_ssim(frames, frames, masks)
    assert same.value == pytest.approx(1.0) and same.n_skipped == 1 and np.isnan(same.per_frame[2])
    reproj = np.stack([noisy(IMG, s, seed=i) for i, s in enumerate((0, 10, 99, 20, 30))])
    res = M.temporal_ssim(frames, reproj, masks)
    expected = [M.masked_ssim(IMG, reproj[t], MASK, fill_outside=0) for t in (0, 1, 3, 4)]
    assert res.value == pytest.approx(np.mean(expected))
    assert strictly_decreasing(res.per_frame[[0, 1, 3, 4]])
    noise_levels = [M.temporal_ssim(frames, np.stack([noisy(IMG, s)] * 5), masks).value for s in (0, 10, 30)]
    assert strictly_decreasing(noise_levels)
    none = M.temporal_ssim(frames, frames, np.zeros_like(masks))
    assert np.isnan(none.value) and none.n_skipped == 5


def test_temporal_ssim_errors():
    frames = np.stack([IMG] * 3)
    masks = np.stack([MASK] * 3)
    with pytest.raises(ValueError, match="differ in length"):
        M.temporal_ssim(frames, frames[:2], masks)
    with pytest.raises(ValueError, match="differ in length"):
        M.temporal_ssim(frames, frames, masks[:2])
    with pytest.raises(ValueError, match="must agree in size"):
        M.temporal_ssim(frames, frames, masks[:, :-1])
    with pytest.raises(ValueError, match="bool"):
        M.temporal_ssim(frames, frames, masks.astype(np.uint8))
