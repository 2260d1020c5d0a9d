"""RCM rendering throughput: `byteloom.rcm.render_rcm` against a bare pyrender loop, same run.

    python benchmarks/bench_rcm_render.py                     # 256x256 and 512x512, 5 reps x 200 frames
    python benchmarks/bench_rcm_render.py --frames 100 --reps 3 --sizes 256

Both loops draw the same ~10k-face mesh with the same per-vertex RCM colours
(`rcm_colors` + `vertex_color_mesh`, so the GPU work is identical), through the same intrinsics,
with `RenderFlags.FLAT`, along the same trajectory of poses, and read back colour + depth.
The bare loop only does `scene.set_pose(node, pose)` and `OffscreenRenderer.render(scene, FLAT)`
per frame; the wrapper also validates its inputs, looks up its cached renderer and mesh node, hides
the other cached nodes, and computes the mask (`depth > 0`).

Importing byteloom.render makes pyrender allocate single-sampled framebuffers process-wide, so
*both* loops run without MSAA: the comparison is wrapper overhead, not MSAA on/off.

Method: warm-up frames for each loop (the first render compiles shaders), then `reps` repetitions
of `frames` frames. Within a repetition the two loops are interleaved frame by frame (wrapper, bare,
bare, wrapper, ...), each frame timed with time.perf_counter, so drift and noisy neighbours hit both
loops alike; alternating whole blocks instead gave +-20% scatter on a shared 2-vCPU VM.
fps = frames / the loop's summed time in one repetition, median over repetitions;
overhead = median over repetitions of (wrapper time / bare time) - 1 (target: < 10%).
Results: benchmarks/results/rcm_render.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from tqdm import tqdm  # noqa: E402

from byteloom import render  # noqa: E402  (patches pyrender to single-sample framebuffers)
from byteloom.geometry import intrinsics_from_fov, pose_from_rotvec  # noqa: E402
from byteloom.rcm import rcm_colors, render_rcm  # noqa: E402

import pyrender  # noqa: E402  (after byteloom.render: numpy-2 alias and MSAA patch are in place)

RESULTS = Path(__file__).parent / "results" / "rcm_render.json"
TARGET_OVERHEAD = 0.10
FOV_DEG = 40.0
DISTANCE = 0.5  # metres from the camera to the object's centre


def make_mesh() -> trimesh.Trimesh:
    """An ellipsoid (a UV sphere scaled 0.1 x 0.07 x 0.05 m): 10,400 faces, 5,202 vertices.

    Not a sphere, so the silhouette changes as it turns; it covers 10-21% of the image.
    """
    mesh = trimesh.creation.uv_sphere(radius=1.0, count=[51, 51])
    mesh.apply_scale([0.1, 0.07, 0.05])
    return mesh


def trajectory(n: int) -> np.ndarray:
    """n obj_to_cam poses (OpenCV camera): a tumbling object ~0.5 m ahead, drifting a little."""
    t = np.arange(n) / n
    axis = np.stack([np.sin(2 * np.pi * t), np.ones(n), np.cos(2 * np.pi * t)], axis=1)
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = 4 * np.pi * t  # two turns per repetition
    trans = np.stack([0.03 * np.sin(6 * np.pi * t), 0.02 * np.cos(4 * np.pi * t), DISTANCE + 0.05 * np.sin(2 * np.pi * t)], axis=1)
    return np.stack([pose_from_rotvec(a * ax, tr) for a, ax, tr in zip(angle, axis, trans)])


class Bare:
    """The honest equivalent in plain pyrender: one renderer, one scene, one mesh node, one camera."""

    def __init__(self, mesh, K, size):
        h, w = size
        self.gl = pyrender.OffscreenRenderer(viewport_width=w, viewport_height=h)
        self.scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0])
        # pyrender puts pixel centres at +0.5, OpenCV at integers (as byteloom.render does)
        cam = pyrender.IntrinsicsCamera(K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5, znear=0.01, zfar=100.0)
        self.scene.add(cam, pose=render.CV_TO_GL)
        colors = rcm_colors(mesh.vertices, mesh.bounds)
        self.node = self.scene.add(render.vertex_color_mesh(mesh.vertices, colors, mesh.faces))

    def frame(self, pose):
        self.scene.set_pose(self.node, pose)
        return self.gl.render(self.scene, pyrender.RenderFlags.FLAT)

    def close(self):
        self.gl.delete()


def gl_renderer_string(gl: pyrender.OffscreenRenderer) -> str | None:
    """GL_RENDERER of a pyrender context (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'); None if unavailable."""
    try:
        from OpenGL import GL

        gl._platform.make_current()
        try:
            return GL.glGetString(GL.GL_RENDERER).decode()
        finally:
            gl._platform.make_uncurrent()
    except Exception:  # private pyrender API: skip rather than fail the benchmark
        return None


def bench_size(mesh, side: int, frames: int, reps: int, warmup: int, bar) -> dict:
    size = (side, side)
    K = intrinsics_from_fov(size, FOV_DEG)
    poses = list(trajectory(frames))  # precomputed: building poses is not timed
    bare = Bare(mesh, K, size)

    loops = {"wrapper": lambda p: render_rcm(mesh, p, K, size), "bare": bare.frame}

    # correctness: both loops must draw the same pixels, else the comparison means nothing
    view = render_rcm(mesh, poses[0], K, size)
    color, depth = bare.frame(poses[0])
    identical = bool(np.array_equal(view.image, color[..., :3]) and np.array_equal(view.depth, depth))
    coverage = [float(render_rcm(mesh, p, K, size).mask.mean()) for p in poses[:: max(1, frames // 20)]]

    for _ in range(warmup):  # shader compilation, buffer allocation, caches
        render_rcm(mesh, poses[0], K, size)
        bare.frame(poses[0])

    # frame-level interleaving: w b b w w b ... so both loops see the same machine state (on a
    # shared 2-vCPU VM, alternating whole blocks gave +-20% scatter between blocks)
    clock = time.perf_counter
    frame_s = {"wrapper": np.zeros((reps, frames)), "bare": np.zeros((reps, frames))}
    for rep in range(reps):
        for i, p in enumerate(poses):
            for name in (("wrapper", "bare") if (i + rep) % 2 == 0 else ("bare", "wrapper")):
                t0 = clock()
                loops[name](p)
                frame_s[name][rep, i] = clock() - t0
        bar.update(1)
    gl_name = gl_renderer_string(bare.gl)
    bare.close()

    rep_s = {k: v.sum(axis=1) for k, v in frame_s.items()}  # wall time of each repetition, per loop
    med = {k: float(np.median(v)) for k, v in rep_s.items()}
    paired = rep_s["wrapper"] / rep_s["bare"] - 1  # same repetition, same machine state
    overhead = float(np.median(paired))
    frame_med = {k: float(np.median(v)) for k, v in frame_s.items()}
    return {
        "size": [side, side],
        "frames_per_rep": frames,
        "reps": reps,
        "identical_output": identical,
        "mask_coverage_min_max": [min(coverage), max(coverage)],
        "fps_wrapper": frames / med["wrapper"],
        "fps_bare": frames / med["bare"],
        "overhead_pct": 100 * overhead,
        "target_met": bool(overhead < TARGET_OVERHEAD),
        "overhead_pct_per_rep": (100 * paired).tolist(),
        "overhead_pct_of_median_rep_times": 100 * (med["wrapper"] / med["bare"] - 1),
        "ms_per_frame_median_wrapper": 1e3 * frame_med["wrapper"],
        "ms_per_frame_median_bare": 1e3 * frame_med["bare"],
        "overhead_us_per_frame_median": 1e6 * (frame_med["wrapper"] - frame_med["bare"]),
        "rep_s": {k: v.tolist() for k, v in rep_s.items()},
        "gl_renderer": gl_name,
    }


def code_version() -> dict:
    """Which byteloom was measured: its path, the repo's commit, and whether the measured modules had local edits."""
    import subprocess

    import byteloom

    root = Path(__file__).resolve().parents[1]
    out = {"byteloom_path": str(Path(byteloom.__file__).parent)}
    try:
        git = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()  # noqa: E731
        out["git_commit"] = git("rev-parse", "HEAD") or None
        measured = [f"byteloom/{m}.py" for m in ("rcm", "render", "geometry", "assets")]
        out["measured_modules_modified"] = bool(git("status", "--porcelain", "--", *measured))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square image sides")
    ap.add_argument("--frames", type=int, default=200, help="frames per repetition")
    ap.add_argument("--reps", type=int, default=5, help="repetitions (each: `frames` frames of both loops, interleaved)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up frames per loop")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--check", action="store_true", help="exit with status 1 if the <10%% target is missed")
    args = ap.parse_args(argv)

    mesh = make_mesh()
    t0 = time.perf_counter()
    rows = []
    with tqdm(total=len(args.sizes) * args.reps, desc="reps", unit="rep") as bar:
        for side in args.sizes:
            rows.append(bench_size(mesh, side, args.frames, args.reps, args.warmup, bar))
    gl_name = next((r.pop("gl_renderer") for r in rows if r.get("gl_renderer")), None)
    for r in rows:
        r.pop("gl_renderer", None)

    out = {
        "benchmark": "rcm_render",
        "what": "byteloom.rcm.render_rcm vs a bare pyrender loop (same mesh, colours, K, FLAT flags, poses)",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM"),
            "gl_renderer": gl_name,
            "pyrender": pyrender.__version__,
            "LP_NUM_THREADS": os.environ.get("LP_NUM_THREADS"),  # llvmpipe's thread count (default: cores)
        },
        "code": code_version(),
        "msaa": "off in both loops (byteloom.render patches pyrender to single-sample framebuffers process-wide)",
        "mesh": {"kind": "ellipsoid: uv_sphere count=[51,51] scaled (0.1, 0.07, 0.05) m",
                 "faces": int(len(mesh.faces)), "vertices": int(len(mesh.vertices)), "distance_m": DISTANCE},
        "fov_deg": FOV_DEG,
        "target_overhead_pct": 100 * TARGET_OVERHEAD,
        "target_met": all(r["target_met"] for r in rows),
        "rows": rows,
        "total_s": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"mesh: {out['mesh']['faces']} faces; GL: {gl_name}; MSAA off in both loops")
    print(f"{'size':>9} {'wrapper fps':>12} {'bare fps':>9} {'overhead':>9} {'us/frame':>9}  target<10%")
    for r in rows:
        print(f"{r['size'][0]:>4}x{r['size'][1]:<4} {r['fps_wrapper']:12.1f} {r['fps_bare']:9.1f} "
              f"{r['overhead_pct']:8.1f}% {r['overhead_us_per_frame_median']:9.0f}  {'met' if r['target_met'] else 'MISSED'}"
              + ("" if r["identical_output"] else "  (outputs differ!)"))
    print(f"wrote {args.out} in {out['total_s']:.0f} s")
    return 1 if args.check and not out["target_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
