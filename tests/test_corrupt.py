"""Corruptions: identity at strength 0, deterministic per seed, confined to their region."""
import numpy as np
import pytest

from byteloom import assets, corrupt, mani4d

T, H, W = 6, 48, 56


@pytest.fixture(scope="module")
def video():
    """A textured disc (the "object") on a textured background, with its mask."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    mask = np.stack([(yy - 24) ** 2 + (xx - 26 - t) ** 2 < 12**2 for t in range(T)])
    return rgb, mask


def run_all(rgb, mask, s, seed=0):
    """Every video corruption on (rgb, mask) that needs no renderer."""
    other = np.full_like(rgb, 77)
    return {
        "texture_drift": corrupt.texture_drift(rgb, mask, s, seed),
        "shape_distortion": corrupt.shape_distortion(rgb, mask, s, seed),
        "background_flicker": corrupt.background_flicker(rgb, mask, s, seed),
        "frame_jitter": corrupt.frame_jitter(rgb, s, seed, reorder=True),
        "identity_swap": corrupt.identity_swap(rgb, mask, other, s),
        "mask_shift": corrupt.mask_shift(mask, s, seed),
    }


def test_strength_zero_is_identity_and_inputs_are_not_modified(video):
    rgb, mask = video
    before = rgb.copy(), mask.copy()
    for name, out in run_all(rgb, mask, 0.0).items():
        assert np.array_equal(out, mask if name == "mask_shift" else rgb), name
    for name, out in run_all(rgb, mask, 0.7).items():
        assert not np.array_equal(out, mask if name == "mask_shift" else rgb), name
    assert np.array_equal(rgb, before[0]) and np.array_equal(mask, before[1])


def test_deterministic_per_seed(video):
    rgb, mask = video
    a, b, c = run_all(rgb, mask, 0.6, seed=1), run_all(rgb, mask, 0.6, seed=1), run_all(rgb, mask, 0.6, seed=2)
    for name in a:
        assert np.array_equal(a[name], b[name]), name
        if name != "identity_swap":  # not random
            assert not np.array_equal(a[name], c[name]), name


def test_corruptions_touch_only_their_region(video):
    rgb, mask = video
    out = run_all(rgb, mask, 1.0)
    drift, flick, swap = out["texture_drift"], out["background_flicker"], out["identity_swap"]
    assert np.array_equal(drift[~mask], rgb[~mask]) and np.array_equal(drift[0], rgb[0])  # frame 0: no drift yet
    change = [np.abs(drift[t].astype(int) - rgb[t])[mask[t]].mean() for t in range(T)]
    assert 0 < change[1] < change[T // 2] < change[-1]  # grows with time
    assert np.array_equal(flick[mask], rgb[mask]) and not np.array_equal(flick[~mask], rgb[~mask])
    assert np.array_equal(swap[~mask], rgb[~mask]) and (swap[mask] == 77).all()
    half = corrupt.identity_swap(rgb, mask, np.full((H, W, 3), 77, np.uint8), 0.5)  # one image for all frames
    assert np.abs(half[mask].astype(int) - (rgb[mask].astype(int) + 77) / 2).max() <= 0.5
    warped, wmask = corrupt.shape_distortion(rgb, mask, 1.0, seed=0, return_mask=True)
    far = np.stack([np.hypot(*np.mgrid[0:H, 0:W] - np.array([24, 26 + t])[:, None, None]) > 12 + 3 * 0.15 * np.sqrt(mask.sum() / T) + 1 for t in range(T)])
    assert np.array_equal(warped[far], rgb[far]) and not np.array_equal(warped[~far], rgb[~far])
    assert not np.array_equal(wmask, mask) and abs(int(wmask.sum()) - int(mask.sum())) < 0.3 * mask.sum()


def test_mask_shift_moves_each_frame_by_the_set_distance(video):
    _, mask = video
    shifted = corrupt.mask_shift(mask, 0.5, seed=4, max_px=10)
    for t in range(T):
        c0, c1 = np.argwhere(mask[t]).mean(0), np.argwhere(shifted[t]).mean(0)
        assert np.linalg.norm(c1 - c0) == pytest.approx(5, abs=0.75)  # 5 px, rounded per axis
        assert shifted[t].sum() == mask[t].sum()  # the disc stays inside the image


def test_frame_jitter_aligns_any_array_and_reorders_pairs(video):
    rgb, mask = video
    a = corrupt.frame_jitter(rgb, 1.0, seed=5, max_px=3)
    bright = rgb[..., 0] > 128  # a bool map tied to the video's pixels
    m = corrupt.frame_jitter(bright, 1.0, seed=5, max_px=3)
    assert m.dtype == bool and np.array_equal(m, a[..., 0] > 128)  # same seed: same shift, still aligned
    assert not np.array_equal(a, rgb)
    swapped = corrupt.frame_jitter(rgb, 1.0, seed=5, max_px=0, reorder=True)  # strength 1: every pair swapped
    assert [np.array_equal(swapped[t], rgb[t ^ 1]) for t in range(T)] == [True] * T


def test_wrong_rotation_rerenders_the_object_with_an_offset():
    mesh = assets.load_object("box")
    c = mani4d.object_multiview_clip(mesh, 3, (48, 48), seed=1, cache_views=1)
    same = corrupt.wrong_rotation(c.rgb, c.mask, mesh, c.poses, c.K, 0.0)
    assert np.array_equal(same, c.rgb)
    tiny = corrupt.wrong_rotation(c.rgb, c.mask, mesh, c.poses, c.K, 1e-9)  # re-render, no rotation: same frames
    assert np.abs(tiny.astype(int) - c.rgb).mean() < 0.5
    out, new = corrupt.wrong_rotation(c.rgb, c.mask, mesh, c.poses, c.K, 1.0, seed=3, return_mask=True)
    assert np.array_equal(out, corrupt.wrong_rotation(c.rgb, c.mask, mesh, c.poses, c.K, 1.0, seed=3))
    assert not np.array_equal(new, c.mask) and new.any(axis=(1, 2)).all()
    untouched = ~(c.mask | new)
    assert np.abs(out[untouched].astype(int) - c.rgb[untouched]).max() <= 2  # black background, inpainted hole
    assert np.abs(out[c.mask].astype(int) - c.rgb[c.mask]).mean() > 5


def test_wrong_rotation_keeps_occluders_in_front_and_rerenders_at_zero():
    """The hand stays in front of the re-rendered object; `rerender` gives the strength-0 baseline."""
    mesh = assets.load_object("box")
    c = mani4d.object_multiview_clip(mesh, 3, (48, 48), seed=1, cache_views=1)
    hand = np.zeros_like(c.mask)
    hand[:, 20:28, 20:28] = True  # a square "hand" over the middle of the object
    rgb = c.rgb.copy()
    rgb[hand] = (200, 30, 30)
    out, new = corrupt.wrong_rotation(rgb, c.mask & ~hand, mesh, c.poses, c.K, 1.0, seed=3, occluders=hand,
                                      return_mask=True)
    assert np.array_equal(out[hand], rgb[hand]) and not (new & hand).any()
    base = corrupt.wrong_rotation(rgb, c.mask & ~hand, mesh, c.poses, c.K, 0.0, occluders=hand, rerender=True)
    assert not np.array_equal(base, rgb) and np.array_equal(base[hand], rgb[hand])
    assert np.abs(base[c.mask & ~hand].astype(int) - c.rgb[c.mask & ~hand]).mean() < 0.5  # true pose re-rendered
    with pytest.raises(ValueError, match="occluders"):
        corrupt.wrong_rotation(rgb, c.mask, mesh, c.poses, c.K, 1.0, occluders=hand[:, :-1])


def test_a_varying_rotation_error_changes_from_frame_to_frame():
    """A constant error is a wrong but consistent pose; `varying` draws a new axis per frame."""
    mesh = assets.load_object("box")
    c = mani4d.object_multiview_clip(mesh, 3, (48, 48), seed=1, cache_views=1)
    rgb, mask, poses = (np.repeat(x[:1], 3, axis=0) for x in (c.rgb, c.mask, c.poses))  # an object standing still
    const = corrupt.wrong_rotation(rgb, mask, mesh, poses, c.K, 1.0, seed=3)
    assert all(np.array_equal(const[0], f) for f in const[1:])
    vary, new = corrupt.wrong_rotation(rgb, mask, mesh, poses, c.K, 1.0, seed=3, varying=True, return_mask=True)
    assert not np.array_equal(vary[0], vary[1]) and not np.array_equal(vary[1], vary[2])
    assert new.any(axis=(1, 2)).all()
    assert np.array_equal(vary, corrupt.wrong_rotation(rgb, mask, mesh, poses, c.K, 1.0, seed=3, varying=True))
    assert np.array_equal(corrupt.wrong_rotation(rgb, mask, mesh, poses, c.K, 0.0, varying=True), rgb)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_strength_outside_unit_interval_is_rejected(video, bad):
    rgb, mask = video
    with pytest.raises(ValueError, match="strength"):
        corrupt.texture_drift(rgb, mask, bad)
    with pytest.raises(ValueError, match="strength"):
        corrupt.mask_shift(mask, bad)


def test_shape_errors(video):
    rgb, mask = video
    with pytest.raises(ValueError, match="agree"):
        corrupt.background_flicker(rgb, mask[:-1], 0.5)
    with pytest.raises(ValueError, match="bool"):
        corrupt.texture_drift(rgb, mask.astype(np.uint8), 0.5)
    with pytest.raises(ValueError, match="other"):
        corrupt.identity_swap(rgb, mask, np.zeros((H, W + 1, 3), np.uint8), 0.5)
