"""Controlled corruptions of a clip, to check that each metric reacts to the failure it targets.

Every function is pure (inputs are not modified), takes a `strength` in [0, 1] where 0 returns an
unchanged copy, and is deterministic given `seed`. The random structure (directions, noise
fields, swap decisions) is drawn from `seed` independently of `strength`, and `strength` only
scales it, so one seed gives nested corruptions of growing size: metrics should respond
monotonically. Videos are (T, H, W, 3) uint8, masks (T, H, W) bool.

* `texture_drift`      object appearance drifts over time (T-SSIM, Obj-CLIP, Subj-Cons)
* `wrong_rotation`     the object is drawn with a rotation error (T-SSIM, Obj-IoU)
* `shape_distortion`   the object's shape warps non-rigidly over time (T-SSIM, Obj-IoU)
* `mask_shift`         predicted masks are off by a few pixels (Obj-IoU)
* `identity_swap`      a region (e.g. the face) is blended with another identity (Face-Cos)
* `background_flicker` background brightness/contrast flickers (Back-Cons; T-SSIM must ignore it)
* `frame_jitter`       frames shake spatially and/or swap order (Mot-Smth, consistency)
"""
from __future__ import annotations

import numbers

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from .metrics._checks import as_mask_stack, as_video

__all__ = ["texture_drift", "wrong_rotation", "shape_distortion", "mask_shift", "identity_swap",
           "background_flicker", "frame_jitter"]


def _strength(s) -> float:
    if isinstance(s, bool) or not isinstance(s, numbers.Real) or not np.isfinite(s) or not 0 <= s <= 1:
        raise ValueError(f"strength must be a number in [0, 1], got {s!r}")
    return float(s)


def _video_mask(rgb, mask):
    v, m = as_video(rgb, "rgb"), as_mask_stack(mask, "mask")
    if m.shape != v.shape[:3]:
        raise ValueError(f"rgb {v.shape} and mask {m.shape} must agree in length and size")
    return v, m


def _smooth_noise(rng, shape, sigma) -> np.ndarray:
    """Gaussian-blurred white noise of `shape` (H, W[, C]), rescaled to max |value| = 1."""
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return n / max(float(np.abs(n).max()), 1e-12)


def _ramp(T: int) -> np.ndarray:
    return np.arange(T) / max(T - 1, 1)


def texture_drift(rgb, mask, strength: float, seed: int = 0, max_hue_deg: float = 120.0,
                  max_noise: float = 40.0) -> np.ndarray:
    """The object's appearance drifts over time, inside `mask` only.

    Frame t (ramp r = t / (T - 1), so frame 0 is untouched) gets its object colours rotated about
    the grey axis of RGB by strength * max_hue_deg * r degrees (a hue shift; seeded direction),
    plus smooth per-frame colour noise of amplitude strength * max_noise * r (0..255 units).
    """
    s = _strength(strength)
    v, m = _video_mask(rgb, mask)
    out = v.copy()
    if s == 0:
        return out
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0])
    T, H, W = m.shape
    grey = np.ones(3) / np.sqrt(3)
    for t, r in enumerate(_ramp(T)):
        noise = _smooth_noise(rng, (H, W, 3), max(H, W) / 32)  # drawn for every frame: nested in s
        if r == 0 or not m[t].any():
            continue
        R = Rotation.from_rotvec(grey * np.radians(sign * s * max_hue_deg * r)).as_matrix()
        px = v[t][m[t]].astype(np.float64)
        px = (px - 127.5) @ R.T + 127.5 + s * max_noise * r * noise[m[t]]
        out[t][m[t]] = np.clip(np.round(px), 0, 255).astype(np.uint8)
    return out


def wrong_rotation(rgb, mask, mesh, poses, K, strength: float, seed: int = 0, max_angle_deg: float = 30.0,
                   shading: str = "lit", background=None, return_mask: bool = False, varying: bool = False,
                   occluders=None, rerender: bool = False):
    """The object is drawn as if its rotation were off by strength * max_angle_deg degrees.

    The object is re-rendered at `poses[t] @ R` (R: a rotation about the mesh's box centre, axis
    from `seed`, the same in every frame: a wrong but self-consistent pose; with `varying`, a new
    axis in every frame, same angle: a geometry that is inconsistent over time) and composited over the frame: the old object region
    (`mask`) is first filled with `background` (T, H, W, 3) when given, else inpainted (OpenCV
    Telea, the mask grown by one pixel to take edge fringes along); the re-rendered object is drawn on
    top of everything except `occluders` (T, H, W) bool: pixels of the input kept in front, e.g. the
    hand where it covers the object (without them no occluder is kept). `shading` "lit"
    (`rcm.render_rgb`, head light) or "flat" (unlit texture). Strength 0 returns the input
    unchanged, without re-rendering, unless `rerender`: then the object is re-rendered at its true
    pose, the baseline a rotation curve is measured from (re-rendering alone changes the look:
    light, anti-aliasing, the old edge fringes). With `return_mask`, also the new mask of the
    visible object (re-rendered pixels not behind an occluder).
    """
    from . import rcm, render  # GL only when used

    s = _strength(strength)
    v, m = _video_mask(rgb, mask)
    if shading not in ("lit", "flat"):
        raise ValueError(f"shading must be 'lit' or 'flat', got {shading!r}")
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape != (len(v), 4, 4):
        raise ValueError(f"poses must be ({len(v)}, 4, 4) obj_to_cam, got {poses.shape}")
    if background is not None:
        background = as_video(background, "background")
        if background.shape != v.shape:
            raise ValueError(f"background {background.shape} must match rgb {v.shape}")
    if occluders is not None:
        occluders = as_mask_stack(occluders, "occluders")
        if occluders.shape != m.shape:
            raise ValueError(f"occluders {occluders.shape} must match the masks {m.shape}")
    axes = np.random.default_rng(seed).standard_normal((len(v) if varying else 1, 3))
    if s == 0 and not rerender:
        return (v.copy(), m.copy()) if return_mask else v.copy()
    c = mesh.bounds.mean(axis=0)
    offsets = []
    for axis in axes:
        R = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(s * max_angle_deg)).as_matrix()
        offsets.append(np.eye(4))
        offsets[-1][:3, :3], offsets[-1][:3, 3] = R, c - R @ c
    size = v.shape[1:3]
    r = render.get_renderer(tuple(int(x) for x in size))
    out, new_masks = v.copy(), np.zeros_like(m)
    for t in range(len(v)):
        pose = poses[t] @ offsets[t % len(offsets)]
        if shading == "lit":
            img, depth = rcm.render_rgb(mesh, pose, K, size, renderer=r)[:2]
        else:
            node = r.node(mesh, "rgb", lambda: render.textured_mesh(mesh))
            img, depth = r.render([(node, pose)], K, render.FLAT)
        if background is not None:
            out[t][m[t]] = background[t][m[t]]
        elif m[t].any():
            hole = cv2.dilate(m[t].astype(np.uint8), np.ones((3, 3), np.uint8))
            out[t] = cv2.inpaint(v[t], hole, 3, cv2.INPAINT_TELEA)
        new_masks[t] = depth > 0
        out[t][new_masks[t]] = img[new_masks[t]]
        if occluders is not None:
            out[t][occluders[t]] = v[t][occluders[t]]
            new_masks[t] &= ~occluders[t]
    return (out, new_masks) if return_mask else out


def shape_distortion(rgb, mask, strength: float, seed: int = 0, max_frac: float = 0.15, cycles: float = 1.0,
                     return_mask: bool = False):
    """The object's shape warps non-rigidly, differently in every frame (`cv2.remap`).

    A smooth random displacement field d_t = A (cos(phi_t) F1 + sin(phi_t) F2), with two fixed
    seeded fields F1, F2 (max |F| = 1, smoothness ~ a quarter of the object size) and phase
    phi_t = phi_0 + 2 pi cycles t / T, so the warp keeps changing over the clip. Its amplitude
    A = strength * max_frac * object size (object size = sqrt of the mean mask area, in px).
    The field fades linearly to zero within max(3, 3 A) px outside the object (distance
    transform of the mask), so the silhouette and its immediate surroundings bend and the rest
    of the frame is untouched.
    With `return_mask`, also the warped mask.
    """
    s = _strength(strength)
    v, m = _video_mask(rgb, mask)
    T, H, W = m.shape
    rng = np.random.default_rng(seed)
    obj = float(np.sqrt(m.sum(axis=(1, 2)).mean())) if m.any() else 0.0
    sigma = max(obj / 4, 2.0)
    f1, f2 = _smooth_noise(rng, (H, W, 2), sigma), _smooth_noise(rng, (H, W, 2), sigma)
    phi0 = rng.uniform(0, 2 * np.pi)
    amp = s * max_frac * obj
    if amp == 0:
        return (v.copy(), m.copy()) if return_mask else v.copy()
    reach = max(3.0, 3 * amp)  # fade width: the fade adds a displacement slope of at most 1/3
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out, new_masks = v.copy(), m.copy()
    for t in range(T):
        if not m[t].any():
            continue
        dist = cv2.distanceTransform((~m[t]).astype(np.uint8), cv2.DIST_L2, 5)
        fade = np.clip(1 - dist / reach, 0, 1)[..., None]
        phi = phi0 + 2 * np.pi * cycles * t / T
        d = (amp * fade * (np.cos(phi) * f1 + np.sin(phi) * f2)).astype(np.float32)
        mx, my = xx + d[..., 0], yy + d[..., 1]
        warped = cv2.remap(v[t], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        touched = fade[..., 0] > 0
        out[t][touched] = warped[touched]
        wm = cv2.remap(m[t].astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) > 0.5
        new_masks[t] = np.where(touched, wm, m[t])
    return (out, new_masks) if return_mask else out


def _shift(frame, dy: int, dx: int, fill):
    """Translate an (H, W, ...) array by (dy, dx) px; vacated pixels get `fill` ('edge' or a value)."""
    H, W = frame.shape[:2]
    pad = [(abs(dy), abs(dy)), (abs(dx), abs(dx))] + [(0, 0)] * (frame.ndim - 2)
    p = np.pad(frame, pad, mode="edge") if fill == "edge" else np.pad(frame, pad, constant_values=fill)
    return p[abs(dy) - dy:abs(dy) - dy + H, abs(dx) - dx:abs(dx) - dx + W]


def mask_shift(masks, strength: float, seed: int = 0, max_px: float = 8.0) -> np.ndarray:
    """Predicted masks that are off: frame t is translated by round(strength * max_px) px in a
    seeded random direction per frame (vacated pixels are False)."""
    s = _strength(strength)
    m = as_mask_stack(masks, "masks")
    theta = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(m))
    mag = s * max_px
    return np.stack([_shift(m[t], int(round(mag * np.sin(a))), int(round(mag * np.cos(a))), False)
                     for t, a in enumerate(theta)])


def identity_swap(rgb, region, other, strength: float) -> np.ndarray:
    """Another identity shows through `region` (e.g. the head/face mask): alpha blend.

    Inside `region` the output is (1 - strength) * rgb + strength * other; outside it is rgb.
    other: (H, W, 3) (same image every frame) or (T, H, W, 3) uint8, e.g. another person's head
    rendered at the same place.
    """
    s = _strength(strength)
    v, m = _video_mask(rgb, region)
    o = np.asarray(other)
    if o.shape not in (v.shape, v.shape[1:]):
        raise ValueError(f"other must be (H, W, 3) or (T, H, W, 3) matching rgb {v.shape}, got {o.shape}")
    o = as_video(np.broadcast_to(o, v.shape), "other")
    out = v.copy()
    out[m] = np.clip(np.round((1 - s) * v[m] + s * o[m].astype(np.float64)), 0, 255).astype(np.uint8)
    return out


def background_flicker(rgb, mask, strength: float, seed: int = 0, max_gain: float = 0.5,
                       max_bias: float = 40.0) -> np.ndarray:
    """Per-frame brightness and contrast changes of the background only (pixels outside `mask`,
    the human and/or object mask): x -> g_t (x - mean_t) + mean_t + b_t with seeded
    g_t = 1 + strength * max_gain * u_t and b_t = strength * max_bias * w_t, u_t, w_t in [-1, 1],
    mean_t the frame's background mean colour."""
    s = _strength(strength)
    v, m = _video_mask(rgb, mask)
    rng = np.random.default_rng(seed)
    u, w = rng.uniform(-1, 1, (2, len(v)))
    out = v.copy()
    if s == 0:
        return out
    for t in range(len(v)):
        bg = ~m[t]
        if not bg.any():
            continue
        x = v[t][bg].astype(np.float64)
        mean = x.mean(axis=0)
        x = (1 + s * max_gain * u[t]) * (x - mean) + mean + s * max_bias * w[t]
        out[t][bg] = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return out


def frame_jitter(video, strength: float, seed: int = 0, max_px: float = 6.0, reorder: bool = False) -> np.ndarray:
    """Camera shake: frame t is translated by round(strength * max_px * u_t) px, u_t in [-1, 1]^2
    seeded (edges replicated). With `reorder`, consecutive frame pairs (0,1), (2,3), ... are also
    swapped each with probability `strength` (a local order perturbation).

    Works on any (T, H, W, ...) array of any dtype, so the same seed jitters masks or keypoint
    maps identically to the video.
    """
    s = _strength(strength)
    v = np.asarray(video)
    if v.ndim < 3 or 0 in v.shape:
        raise ValueError(f"video must be a non-empty (T, H, W, ...) array, got shape {v.shape}")
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-1, 1, (len(v), 2))
    swap = rng.uniform(0, 1, len(v) // 2) < s
    out = np.stack([_shift(v[t], *(int(round(s * max_px * x)) for x in shifts[t]), "edge") for t in range(len(v))])
    if reorder:
        order = np.arange(len(v))
        for i in np.flatnonzero(swap):
            order[2 * i], order[2 * i + 1] = 2 * i + 1, 2 * i
        out = out[order]
    return out
