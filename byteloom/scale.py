"""Beyond the paper: at what object size does the RCM start to matter? (lesson 6, issue 13 item 6)

The paper's videos show objects hundreds of pixels wide, many DiT tokens. At the CPU profile's
32x32 px an object spans a few 4x4-px tokens. This experiment keeps the trained models and changes
only the benchmark: for each object size (`--extents`, the longest side in metres, as
`data.object_extent`) it generates `--clips` test clips (same identities, motions, seeds; only the
object is scaled), samples them with ByteLoom (RCM + cache) and the single-view design for every
seed of `curriculum.seeds` with the same noise, and reports, per size:

* the object's size in DiT tokens (mean object pixels over the frames it is in view / pixels per token);
* the paired ByteLoom - single view differences (`byteloom.stats`) on Obj-IoU, Obj-CLIP, T-SSIM and
  SSIM to the ground truth, with their 95 % paired intervals (`stats.verdict_interval`);
* how much the ByteLoom model uses its object conditions there (`train.condition_usage`: the error
  of its one-step estimate inside the object with its own per-frame RCM / cache, against another
  clip's).

    python -m byteloom.scale --extents 0.12 0.18 0.25 0.35 --clips 8 --params params.yaml

It writes `metrics/scale.json`; lesson 6 plots it. It samples 2 designs x seeds x sizes, about
five minutes on 2 cores, so it is a frozen DVC stage (`scale`) whose result is committed, run once
with the command above (dvc.yaml); `dvc unfreeze scale && dvc repro scale` reruns it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import curriculum as C
from . import stats
from .config import Config, load_config, token_pixels
from .data import load_clip, load_split, split_folders
from .evaluate import HIGHER_IS_BETTER, evaluate_many
from .mani4d import generate_split
from .score import scale_line

OUT = Path("metrics/scale.json")
WORK = Path("build/scale")
DESIGNS = ("byteloom", "single_view")  # curriculum.variants compared: RCM + cache against one RGB view
METRICS = ("obj_iou", "obj_clip", "t_ssim", "ssim_gt")


def scaled_config(cfg: Config, extent: float, clips: int, root: Path) -> Config:
    """`cfg` whose test split is `clips` clips with the object's longest side `extent` m, under `root`."""
    if extent <= 0:
        raise ValueError(f"--extents: an object size must be > 0 m, got {extent}")
    if not 2 <= clips <= cfg.data.clips["test"]:
        raise ValueError(f"--clips must be in 2..data.clips.test ({cfg.data.clips['test']}), got {clips}")
    data = replace(cfg.data, root=str(root), object_extent=float(extent), clips={**cfg.data.clips, "test": clips})
    return replace(cfg, data=data, evaluation=replace(cfg.evaluation, clips=clips))


def object_tokens(rcm: np.ndarray, token: tuple[int, int]) -> dict:
    """Size of the object in a split's RCM frames (N, T, H, W, 3) at the training size: mean pixels
    over the frames it is visible in, that area in DiT tokens of `token` = (h, w) px, and the
    fraction of the image it covers."""
    mask = (np.asarray(rcm) > 0).any(-1)
    area = mask.sum(axis=(2, 3)).astype(float)
    seen = area[area > 0]
    pixels = float(seen.mean()) if len(seen) else 0.0
    return {"pixels": pixels, "tokens": pixels / (token[0] * token[1]),
            "fraction": float(mask.mean()), "frames_in_view": float((area > 0).mean())}


def run_size(cfg: Config, extent: float, clips: int, work: Path = WORK, progress: bool = True) -> dict:
    """Generate, sample and score one object size; returns its entry of `metrics/scale.json`."""
    root = Path(work) / f"extent_{extent:g}"
    shutil.rmtree(root, ignore_errors=True)  # this experiment's own clips: always generated afresh
    sc = scaled_config(cfg, extent, clips, root)
    generate_split(sc.data, "test", sc.seed, progress=False)
    a = load_split(sc.data.root, "test", sc.curriculum.size, sc.data.cache_views, clips)
    truth = {f.name: load_clip(f) for f in split_folders(sc.data.root, "test")[:clips]}
    scores = {}
    for variant in DESIGNS:
        design = sc.curriculum.variants[variant].design
        per_clip = {}
        for seed in sc.curriculum.seeds:
            model, codec = C.variant_model(sc, variant, seed)
            videos = C.sample_split(sc, model, codec, design, limit=clips, seed=seed)
            per_clip[f"seed{seed}"] = evaluate_many(videos, truth)["per_clip"]
        scores[variant] = {"variant": variant, "seeds": list(sc.curriculum.seeds), "per_clip": per_clip}
        if progress:
            print(f"extent {extent:g} m: {variant} scored", flush=True)
    gap = {m: stats.paired_verdict(scores["byteloom"], scores["single_view"], m, HIGHER_IS_BETTER[m])
           for m in METRICS}
    usage = C.usage_report(sc, ["byteloom"], splits=("test",))["byteloom"]["test"]
    return {"extent_m": extent, "clips": clips, "seeds": list(sc.curriculum.seeds),
            "object": object_tokens(a["rcm"], token_pixels(sc)),
            "gap": {m: {k: g[k] for k in ("effect", "low", "high", "verdict", "n_seeds", "n_clips")}
                    for m, g in gap.items()},
            "usage": {"mean": usage["mean"], "per_seed": usage["per_seed"]},
            "per_clip": {v: s["per_clip"] for v, s in scores.items()}}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extents", type=float, nargs="+", required=True, help="object sizes, longest side in metres")
    ap.add_argument("--clips", type=int, default=8, help="test clips per size")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    cfg = load_config(args.params)
    missing = [v for v in DESIGNS if v not in cfg.curriculum.variants]
    if missing:
        raise SystemExit(f"{args.params}: curriculum.variants lacks {missing}, which this experiment compares")
    for e in args.extents:
        scaled_config(cfg, e, args.clips, WORK)  # every bad value is an error before any work
    t0 = time.time()
    sizes = [run_size(cfg, e, args.clips) for e in sorted(args.extents)]
    C.write_json(args.out, {"command": " ".join(["python -m byteloom.scale", *argv]), "designs": list(DESIGNS),
                            "metrics": list(METRICS), "scale": scale_line(cfg), "seconds": round(time.time() - t0, 1),
                            "sizes": sizes})


if __name__ == "__main__":
    main()
