"""Compare recipes for the frozen base without touching it: train one on the base's corpus, score it.

    python benchmarks/base_recipe.py --lr 0.003 --steps 1500                  # ~9 min on 2 vCPUs
    python benchmarks/base_recipe.py --lr 0.003 --steps 20000 --heads 8 --layers 8   # on a GPU

The frozen stage `pretrain` makes the committed base once (README, *The frozen base*). Before
regenerating it, and every verdict after it, a new recipe should show that it generates better.
This trains a base exactly as `curriculum.pretrain_base` does (its corpus `build/pretrain_data`,
generated once if missing; reference frame only; `params.yaml` `base`), with the overrides given
on the command line, into a scratch folder (never `build/train/base`). It then samples the 16
benchmark clips from their reference alone (pose zeroed, as the base never saw pose) with the
pipeline's sampler and with guidance 1, and scores SSIM per frame to the ground truth, beside the
reference image repeated. `--committed` scores the committed base the same way, for comparison.

Results: benchmarks/results/base_recipe_<name>.json (the recipe, training seconds, SSIM per frame
and mean for each sampler setting). Measured on 2 vCPUs, committed base: 0.318 over all frames
(0.795 on frame 0); the reference repeated: 0.386.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from byteloom import curriculum as C  # noqa: E402
from byteloom import data as D  # noqa: E402
from byteloom.config import load_config  # noqa: E402
from byteloom.data import load_split, split_folders  # noqa: E402
from byteloom.model import build_model  # noqa: E402
from byteloom.sample import sample_long  # noqa: E402
from byteloom.train import tensor_to_frames, train  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MODEL_KEYS = ("heads", "head_dim", "layers", "ffn_dim")
RECIPE_KEYS = ("lr", "steps", "batch_size", *MODEL_KEYS)  # every command-line override


def with_recipe(cfg, args):
    """`cfg` with the command line's base and model overrides (validated as params.yaml is)."""
    base = {k: getattr(args, k) for k in ("lr", "steps", "batch_size") if getattr(args, k) is not None}
    model = {k: getattr(args, k) for k in MODEL_KEYS if getattr(args, k) is not None}
    return replace(cfg, base=replace(cfg.base, **base), model=replace(cfg.model, **model))


def train_base(cfg, workdir: Path) -> tuple[torch.nn.Module, object, float]:
    """`curriculum.pretrain_base`'s training, into `workdir` (its corpus, its data, its config)."""
    corpus = D.base_corpus(cfg, D.CORPUS_DIR, progress=False)
    model, codec = build_model(cfg.model, seed=cfg.seed)
    model.fusion.requires_grad_(False)
    data, tc = D.base_data(corpus, codec), C.base_train_config(cfg)
    result = train(model, data, tc, workdir, desc="base recipe", run_id="base-recipe", progress=False)
    return model, codec, result["seconds"]


def score(cfg, model, codec) -> dict:
    """SSIM per frame of the benchmark clips sampled from their reference alone, per sampler setting."""
    data = D.split_latents(cfg, "test", codec, "pose_only", limit=cfg.evaluation.clips)
    truth = load_split(cfg.data.root, "test", cfg.curriculum.size, 1, limit=cfg.evaluation.clips)
    cond = D.reference_only(data).cond
    s = cfg.sampler
    out = {}
    for name, guidance in [(f"params sampler (guidance {s.guidance:g})", s.guidance), ("guidance 1", 1.0)]:
        videos = []
        for i in range(0, len(data), 8):
            z = sample_long(model.eval(), cond.select(slice(i, i + 8)), window=s.window, overlap=s.overlap,
                            steps=s.steps, scheduler=s.scheduler, shift=s.shift, guidance=guidance, seed=i)
            videos.append(tensor_to_frames(codec.decode(z.float().cpu())))
        v = np.concatenate(videos)
        pf = np.array([[structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(x, y)]
                       for x, y in zip(v, truth["rgb"])])
        out[name] = {"ssim_mean": round(float(pf.mean()), 4), "ssim_per_frame": [round(float(x), 4) for x in pf.mean(0)]}
    ref = np.array([[structural_similarity(r, b, channel_axis=-1, data_range=255) for b in y]
                    for r, y in zip(truth["reference"], truth["rgb"])])
    out["reference repeated (sanity row)"] = {"ssim_mean": round(float(ref.mean()), 4),
                                              "ssim_per_frame": [round(float(x), 4) for x in ref.mean(0)]}
    return out


def write_result(path: Path, out: dict) -> None:
    """Write a result file and print its SSIM per sampler setting (`score`'s keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print("; ".join(f"{k}: SSIM {v['ssim_mean']:.3f}" for k, v in out["scores"].items()), f"-> {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--committed", action="store_true", help="score the committed base (build/train/base) instead")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--batch-size", dest="batch_size", type=int)
    for k in MODEL_KEYS:
        ap.add_argument(f"--{k.replace('_', '-')}", dest=k, type=int)
    ap.add_argument("--name", help="results file suffix (default: from the overrides)")
    args = ap.parse_args()
    for k in RECIPE_KEYS:
        if getattr(args, k) is not None and getattr(args, k) <= 0:
            ap.error(f"--{k.replace('_', '-')} must be positive, got {getattr(args, k)}")
    cfg = load_config(args.params)
    try:
        split_folders(cfg.data.root, "test")
    except FileNotFoundError as e:  # names the folder and the stage that makes it
        ap.error(str(e))
    if args.committed:
        if any(getattr(args, k) is not None for k in RECIPE_KEYS):
            ap.error("--committed scores the committed base: give no recipe overrides with it")
        name = args.name or "committed"
        model, codec = C.base_model(cfg)
        seconds = None
    else:
        cfg = with_recipe(cfg, args)
        name = args.name or "_".join(f"{k}{getattr(args, k)}" for k in RECIPE_KEYS
                                     if getattr(args, k) is not None) or "params"
        with tempfile.TemporaryDirectory() as work:
            t0 = time.time()
            model, codec, _ = train_base(cfg, Path(work))
            seconds = round(time.time() - t0, 1)
    out = {"recipe": {"base": asdict(cfg.base),
                      "model": {k: getattr(cfg.model, k) for k in MODEL_KEYS}},
           "committed_base": bool(args.committed), "train_seconds": seconds,
           "benchmark": f"{cfg.evaluation.clips} test clips at {tuple(cfg.curriculum.size)}, reference only (pose zeroed)",
           "scores": score(cfg, model, codec),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                       "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}}
    write_result(RESULTS / f"base_recipe_{name}.json", out)


if __name__ == "__main__":
    main()
