"""RCM (paper section 3.2): colours from known geometry, decoding, the cache and its coverage."""
import numpy as np
import pytest
import trimesh
from scipy.ndimage import binary_erosion

from byteloom import assets, rcm
from byteloom.geometry import interpolate_poses, intrinsics_from_fov, look_at, pose_from_rotvec

SIZE = (96, 128)  # (height, width): non-square catches swapped axes


def ray_box(K, pose, half, size):
    """Analytic per-pixel hit of camera rays (through OpenCV pixel centres) with a centred box.

    Returns the object-space hit point (H, W, 3), camera depth (H, W) and hit mask (slab method).
    """
    h, w = size
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    R, t = pose[:3, :3], pose[:3, 3]
    o = -R.T @ t  # camera centre in object space
    d = rays @ R  # ray directions in object space (R^T applied to each row)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-half - o) / d, (half - o) / d
    tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (tmax >= tmin) & (tmax > 0)
    p = o + tmin[..., None] * d
    depth = np.where(hit, tmin, 0.0)  # rays have z = 1 in the camera, so t is the depth
    return p, depth, hit


@pytest.mark.parametrize("rotvec", [(0.0, 0.0, 0.0), (0.4, -0.7, 0.2), (2.5, 0.3, -1.0)])
def test_box_at_known_pose_has_known_colours_at_known_pixels(rotvec):
    half = np.array([0.1, 0.05, 0.15])
    box = trimesh.creation.box(extents=2 * half)
    pose = pose_from_rotvec(rotvec, [0.0213, -0.0137, 0.55])
    K = np.array([[110.0, 0, 61.0], [0, 105.0, 45.5], [0, 0, 1]])
    view = rcm.render_rcm(box, pose, K, SIZE)
    p, depth, hit = ray_box(K, pose, half, SIZE)

    ring = np.ones((3, 3), bool)  # 8-connected one-pixel band
    interior = binary_erosion(hit, ring)
    expected = np.round(255 * (p + half) / (2 * half))[interior]
    assert interior.sum() > 500
    assert np.abs(view.image[interior].astype(int) - expected).max() <= 1
    assert np.allclose(view.depth[interior], depth[interior], rtol=1e-3)
    # the silhouette matches the analytic one except on its one-pixel band
    band = hit & ~interior | binary_erosion(~hit, ring) ^ ~hit
    assert not np.any((view.mask != hit) & ~band)
    assert not view.mask[~hit & ~band].any() and view.image[~view.mask].max() == 0


def test_box_centre_pixel_hand_computed():
    """Box 0.2 x 0.1 x 0.3 m at (0.02, 0.01, 1) m, unrotated: the principal point sees its face z = -0.15.

    Pixel (row 40, col 50) is the principal point: x_cam = y_cam = 0, so the object point is
    (-0.02, -0.01, -0.15) -> RCM ((0.08/0.2), (0.04/0.1), 0) = (0.4, 0.4, 0) -> (102, 102, 0).
    """
    box = trimesh.creation.box(extents=[0.2, 0.1, 0.3])
    K = np.array([[100.0, 0, 50.0], [0, 100.0, 40.0], [0, 0, 1]])
    view = rcm.render_rcm(box, pose_from_rotvec([0, 0, 0], [0.02, 0.01, 1.0]), K, (81, 101))
    assert view.image[40, 50].tolist() == [102, 102, 0]
    assert view.depth[40, 50] == pytest.approx(0.85, rel=1e-4)
    # 10 px right: x_cam = 10/100 * 0.85 = 0.085, x_obj = 0.065 -> 0.825 * 255 = 210.4 -> 210
    assert view.image[40, 60].tolist() == [210, 102, 0]
    # 4 px down: y_cam = 0.034, y_obj = 0.024 -> 0.74 * 255 = 188.7 -> 189 (rounded, not truncated)
    assert view.image[44, 50].tolist() == [102, 189, 0]


def test_rcm_colors_and_decode_are_exact_inverses():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 3)) * [1.0, 2.0, 0.5]
    b = np.stack([v.min(0), v.max(0)])
    c = rcm.rcm_colors(v)
    assert c.min() == 0 and c.max() == 1
    assert np.allclose(rcm.decode_rcm(c, b), v, atol=1e-12)
    q = rcm.quantize(c)
    assert q.dtype == np.uint8
    assert np.all(np.abs(rcm.decode_rcm(q, b) - v) <= (b[1] - b[0]) / 510 + 1e-12)


def test_flat_object_gets_mid_grey_on_its_flat_axis_and_still_round_trips():
    plane = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], [[0, 1, 2], [1, 3, 2]])
    c = rcm.rcm_colors(plane.vertices)
    assert np.all(c[:, 2] == 0.5)
    assert np.allclose(rcm.decode_rcm(c, plane.bounds), plane.vertices)
    K = intrinsics_from_fov((64, 64), 40)
    view = rcm.render_rcm(plane, pose_from_rotvec([0, 0, 0], [-0.5, -0.5, 2.0]), K, (64, 64))
    assert view.mask.sum() > 100 and set(np.unique(view.image[view.mask][:, 2])) == {128}


def test_rendered_rcm_decodes_onto_the_surface():
    duck = assets.load_object("duck")
    K = intrinsics_from_fov(SIZE, 40)
    view = rcm.render_rcm(duck, look_at([0.3, 0.2, 0.5], [0, 0, 0]), K, SIZE)
    pts = rcm.decode_rcm(view.image[view.mask], duck.bounds)
    _, dist, _ = trimesh.proximity.closest_point(duck, pts)
    assert dist.max() <= np.linalg.norm(duck.extents) / 510  # the 8-bit quantisation bound


def test_trajectory_video_follows_keyframes():
    k0 = pose_from_rotvec([0, 0, 0], [0, 0, 0.6])
    k1 = pose_from_rotvec([0, np.pi / 2, 0], [0.1, 0, 0.7])
    poses = interpolate_poses([0, 1], [k0, k1], np.linspace(0, 1, 5))
    assert np.allclose(poses[0], k0) and np.allclose(poses[-1], k1)
    assert np.allclose(poses[2][:3, :3], pose_from_rotvec([0, np.pi / 4, 0], [0, 0, 0])[:3, :3])
    box = assets.load_object("box")
    video = rcm.render_rcm_video(box, poses, intrinsics_from_fov(SIZE, 40), SIZE)
    assert video.image.shape == (5, *SIZE, 3) and video.mask.shape == (5, *SIZE)
    assert not np.array_equal(video.image[0], video.image[-1])


def test_rgb_render_shows_texture_where_the_rcm_mask_is():
    duck = assets.load_object("duck")
    pose, K = look_at([0, 0.1, 0.6], [0, 0, 0]), intrinsics_from_fov(SIZE, 40)
    rgb, view = rcm.render_rgb(duck, pose, K, SIZE), rcm.render_rcm(duck, pose, K, SIZE)
    assert np.array_equal(rgb.mask, view.mask)
    assert rgb.image[rgb.mask].mean() > 40 and rgb.image[~rgb.mask].max() == 0


# ---------------------------------------------------------------------------------- cache


def test_sphere_cache_reaches_near_full_coverage():
    cache = rcm.build_cache(assets.load_object("sphere"), 9, (128, 128))
    assert cache.coverage > 0.99
    one = rcm.build_cache(assets.load_object("sphere"), 1, (128, 128)).coverage
    assert 0.3 < one < 0.5  # a perspective camera sees less than a hemisphere


def test_more_well_spread_views_never_lower_coverage():
    duck = assets.load_object("duck")
    covs = [rcm.build_cache(duck, n, (96, 96), layout="fps").coverage for n in (1, 2, 4, 8, 16)]
    assert all(b >= a for a, b in zip(covs, covs[1:])) and covs[-1] > covs[0] + 0.3
    fib = [rcm.build_cache(duck, n, (96, 96), layout="fibonacci").coverage for n in (2, 6, 18)]
    assert fib[0] < fib[1] < fib[2]
    curve = rcm.build_cache(duck, 9, (96, 96)).coverage_curve()
    assert np.all(np.diff(curve) >= 0)


def test_ring_layout_misses_the_underside_of_a_box():
    box = assets.load_object("box")
    ring = rcm.build_cache(box, 12, (96, 96), layout="ring").coverage
    ico = rcm.build_cache(box, 12, (96, 96), layout="icosahedron").coverage
    assert ring < 0.9 < ico


def test_cache_contents_and_save_load(tmp_path):
    duck = assets.load_object("duck")
    cache = rcm.build_cache(duck, 4, (64, 80), layout="fps")
    assert cache.rcm.shape == (4, 64, 80, 3) and cache.rgb.shape == (4, 64, 80, 3)
    assert np.array_equal(cache.mask, cache.rcm.any(-1))
    for v in range(4):  # every view is centred on the object and fully inside the image
        ys, xs = np.nonzero(cache.mask[v])
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < 63 and xs.max() < 79
    cache.save(tmp_path / "c.npz")
    back = rcm.RcmCache.load(tmp_path / "c.npz")
    assert np.array_equal(back.rcm, cache.rcm) and back.layout == "fps" and back.coverage == cache.coverage
    with pytest.raises(FileExistsError, match="already exists"):
        cache.save(tmp_path / "c.npz")


# ---------------------------------------------------------------------------------- bad input


def test_bad_meshes_are_rejected_with_clear_errors(tmp_path):
    K, pose = intrinsics_from_fov((32, 32), 40), pose_from_rotvec([0, 0, 0], [0, 0, 1])
    with pytest.raises(ValueError, match="empty mesh"):
        rcm.render_rcm(trimesh.Trimesh(), pose, K, (32, 32))
    bad = trimesh.creation.box()
    bad.vertices[0, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        rcm.build_cache(bad, 2, (32, 32))
    line = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], process=False)
    with pytest.raises(ValueError, match="zero surface area"):
        rcm.render_rcm(line, pose, K, (32, 32))
    with pytest.raises(FileNotFoundError, match="nope.obj"):
        assets.load_mesh(tmp_path / "nope.obj")
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"ply\nformat nonsense\n\x00\x01")
    with pytest.raises(ValueError, match="garbage.ply"):
        assets.load_mesh(garbage)
    with pytest.raises(ValueError, match="unknown object"):
        assets.load_object("not-an-asset")


def test_bad_poses_sizes_bounds_and_layouts_are_rejected():
    box, K = trimesh.creation.box(), intrinsics_from_fov((32, 32), 40)
    ok = pose_from_rotvec([0, 0, 0], [0, 0, 3])
    for pose, msg in [(np.diag([2.0, 2, 2, 1]), "not a rigid transform"),
                      (np.diag([1.0, 1, -1, 1]), "det"),
                      (ok + np.r_[np.zeros((3, 4)), [[0, 0, 1, 0]]], "last row"),
                      (np.eye(3), "4x4")]:
        with pytest.raises(ValueError, match=msg):
            rcm.render_rcm(box, pose, K, (32, 32))
    for size in [(0, 32), (32, -1), (32.0, 32), (32,)]:
        with pytest.raises(ValueError, match="size"):
            rcm.render_rcm(box, ok, K, size)
    with pytest.raises(ValueError, match="min <= max"):
        rcm.rcm_colors(box.vertices, [[1, 1, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match="outside the given bounds"):
        rcm.rcm_colors(box.vertices, [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        rcm.decode_rcm(np.full((2, 3), 1.5), box.bounds)
    with pytest.raises(ValueError, match="unknown view layout"):
        rcm.build_cache(box, 4, (32, 32), layout="spiral")
    with pytest.raises(ValueError, match="12, 42, 162"):
        rcm.build_cache(box, 9, (32, 32), layout="icosahedron")
    with pytest.raises(ValueError, match="positive integer"):
        rcm.build_cache(box, 0, (32, 32))


def test_closing_one_renderer_leaves_the_others_working():
    """pyrender's EGL platform used to eglTerminate the shared display when any renderer died."""
    from byteloom.render import Renderer

    box, K = trimesh.creation.box(extents=[0.2, 0.2, 0.2]), intrinsics_from_fov((32, 32), 40)
    pose = pose_from_rotvec([0, 0, 0], [0, 0, 1.0])
    before = rcm.render_rcm(box, pose, K, (32, 32)).image
    other = Renderer((16, 16))
    rcm.render_rcm(box, pose, intrinsics_from_fov((16, 16), 40), (16, 16), renderer=other)
    other.close()
    del other
    assert np.array_equal(rcm.render_rcm(box, pose, K, (32, 32)).image, before)
