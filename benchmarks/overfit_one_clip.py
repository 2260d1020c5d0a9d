"""Sanity first: can the tiny base memorise ONE clip and sample it back crisply?

    python benchmarks/overfit_one_clip.py                       # lr 1e-3, 3e-3, 1e-2; 600 steps each (~11 min, 2 vCPUs)
    python benchmarks/overfit_one_clip.py --lrs 0.003 --steps 300

Before a base is asked to generate a whole benchmark, it should be able to reproduce one clip it
has seen many times (the habit of overfitting one batch before training on all data). This trains the default
profile's backbone from scratch, exactly as the frozen stage `pretrain` does (`params.yaml`
`model` and `base`: reference frame in front, no other condition, its learning-rate schedule and
EMA), on a single benchmark clip (`data/test`, `--clip`), then samples that same clip from its
reference with the pipeline's sampler (`sampler`) and with guidance 1, and scores every frame
by SSIM to the clip (`evaluate.ssim_to_ground_truth`'s SSIM). Target: SSIM >= 0.9 on the
memorised clip, i.e. the architecture, loss and optimiser can represent the data at all.

Each learning rate trains its own fresh model (same seed, same batches). The EMA decay is
`--ema` (default 0.99: a 600-step run is too short for the base's 0.999). Results:
benchmarks/results/overfit_one_clip.json (per learning rate: final loss, seconds, SSIM per frame
for each sampler setting) and overfit_one_clip.png (the clip, then one row per learning rate).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from dataclasses import replace
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
from byteloom.sample import sample  # noqa: E402
from byteloom.train import LatentClips, tensor_to_frames, train  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TARGET_SSIM = 0.9


def memorise(cfg, clip: int, steps: int, lr: float, ema: float, batch: int,
             workdir: Path) -> tuple[torch.nn.Module, object, dict]:
    """Train the base architecture from scratch on test clip `clip` alone (reference only, pose zeroed)."""
    model, codec = build_model(cfg.model, seed=cfg.seed)
    d = D.split_latents(cfg, "test", codec, "pose_only", limit=clip + 1)
    one = D.reference_only(LatentClips(d.video[clip: clip + 1], d.cond.select(slice(clip, clip + 1))))
    model.fusion.requires_grad_(False)
    b = cfg.base  # the base's recipe with this run's steps, rate, batch and EMA (warm-up at most a tenth)
    tc = C.base_train_config(replace(cfg, base=replace(b, steps=steps, lr=lr, batch_size=batch,
                                                        warmup=min(b.warmup, steps // 10), ema=ema)))
    result = train(model, one, tc, workdir, desc=f"one clip, lr {lr:g}", run_id=f"overfit/{lr}", progress=False)
    return model.eval(), codec, {"cond": one.cond, "frames": d.video.shape[2], **result}


def ssim_per_frame(video: np.ndarray, truth: np.ndarray) -> list[float]:
    return [round(float(structural_similarity(a, b, channel_axis=-1, data_range=255)), 4) for a, b in zip(video, truth)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--clip", type=int, default=0, help="index of the data/test clip to memorise")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default=str(RESULTS / "overfit_one_clip.json"))
    args = ap.parse_args()
    cfg = load_config(args.params)
    folders = split_folders(cfg.data.root, "test")
    if not 0 <= args.clip < len(folders):
        raise SystemExit(f"--clip {args.clip}: {cfg.data.root}/test has {len(folders)} clips (run `dvc repro data@test`)")
    truth = load_split(cfg.data.root, "test", cfg.curriculum.size, 1, limit=args.clip + 1)["rgb"][args.clip]
    s = cfg.sampler
    settings = {f"params sampler ({s.scheduler}, {s.steps} steps, shift {s.shift:g}, guidance {s.guidance:g})":
                dict(scheduler=s.scheduler, steps=s.steps, shift=s.shift, guidance=s.guidance),
                f"guidance 1 ({s.scheduler}, {s.steps} steps, shift {s.shift:g})":
                dict(scheduler=s.scheduler, steps=s.steps, shift=s.shift, guidance=1.0)}
    runs, rows = [], [truth]
    for lr in args.lrs:
        with tempfile.TemporaryDirectory() as work:
            model, codec, r = memorise(cfg, args.clip, args.steps, lr, args.ema, args.batch, Path(work))
        scores = {}
        for name, kw in settings.items():
            z = sample(model, r["cond"], r["frames"], seed=0, **kw)
            video = tensor_to_frames(codec.decode(z.float()))[0]
            pf = ssim_per_frame(video, truth)
            scores[name] = {"ssim_mean": round(float(np.mean(pf)), 4), "ssim_per_frame": pf}
            if name.startswith("params"):
                rows.append(video)
        runs.append({"lr": lr, "final_loss": r["final_loss"], "train_seconds": round(r["seconds"], 1),
                     "samples": scores})
        print(f"lr {lr:g}: " + "; ".join(f"{k}: SSIM {v['ssim_mean']:.3f}" for k, v in scores.items()), flush=True)
    best = max(v["ssim_mean"] for r in runs for v in r["samples"].values())
    out = {
        "what": "the default profile's backbone trained from scratch on one test clip, then that clip sampled back",
        "clip": folders[args.clip].name, "size": list(cfg.curriculum.size), "steps": args.steps, "batch": args.batch,
        "ema": args.ema, "base_params": {"lr": cfg.base.lr, "lr_schedule": cfg.base.lr_schedule, "shift": cfg.base.shift},
        "runs": runs, "target_ssim": TARGET_SSIM, "best_ssim": best, "target_met": bool(best >= TARGET_SSIM),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    from PIL import Image

    grid = np.concatenate([np.concatenate(list(v), axis=1) for v in rows], axis=0)
    big = Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST)
    big.save(Path(args.out).with_suffix(".png"))
    print(f"best SSIM {best:.3f} (target {TARGET_SSIM}); wrote {args.out}")


if __name__ == "__main__":
    main()
