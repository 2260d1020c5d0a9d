"""Where the RCM-cache views sit in the frame sequence: before the video (the pipeline) or after it.

    python benchmarks/cache_layout.py                          # ~11 min on 2 vCPUs
    python benchmarks/cache_layout.py --seeds 0 --variants byteloom   # one run, ~3 min

The model lays its conditions out as extra frames (`byteloom.model.pack`, paper §3.1):
[reference | cache view 1..V | video]. Wan's 3-D RoPE gives every frame its index as temporal
position, so the V cache views move the video from positions 1..T (where the base learned to
continue its reference) to V+1..V+T. The base never saw cache views (it is pretrained on the
reference alone), and Stage I trains without them. This measures what that costs and whether the
layout [reference | video | cache] (video at the positions the base knows; not adopted) helps:

1. *The base alone*: the 16 benchmark clips sampled from their reference (pose zeroed, as the base
   was trained) with 0, 1 or 4 cache RGB views inserted before or after the video. No training.
2. *Trained designs*: for each variant (ByteLoom I+II+III, single view I+II+III) and seed, the
   committed adapters (cache before the video) against Stage II and III retrained with the cache
   after the video, from the same committed Stage I adapters, with the same data, run seeds,
   steps and sampling noise, into a scratch folder. Both are scored on every metric
   (`evaluate.evaluate_many`) and compared paired per (seed, clip) with `byteloom.stats`.
   The committed layout is re-sampled, and its scores are checked against `metrics/eval`.

Results: benchmarks/results/cache_layout.json.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from byteloom import curriculum as C  # noqa: E402
from byteloom import data as D  # noqa: E402
from byteloom import model as M  # noqa: E402
from byteloom import score as S  # noqa: E402
from byteloom.config import load_config  # noqa: E402
from byteloom.data import load_split, split_folders  # noqa: E402
from byteloom.evaluate import HIGHER_IS_BETTER, METRICS, evaluate_many  # noqa: E402
from byteloom.sample import sample_long  # noqa: E402
from byteloom.stats import format_interval, paired_verdict  # noqa: E402
from byteloom.train import tensor_to_frames  # noqa: E402

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("byteloom", "single_view")


def pack_cache_after(video: torch.Tensor, cond: M.Conditions) -> tuple[torch.Tensor, int]:
    """`model.pack` with the frames [reference | video | cache views] instead of [reference | cache | video]."""
    M.check_conditions(video, cond)
    zeros = lambda frames: video.new_zeros(video.shape[0], video.shape[1], frames, *video.shape[3:])  # noqa: E731
    views, t = (0 if cond.cache_rgb is None else cond.cache_rgb.shape[2]), video.shape[2]
    content = torch.cat([cond.ref, video] + ([cond.cache_rgb] if views else []), dim=2)
    rcm_slot = torch.cat([zeros(1), cond.rcm if cond.rcm is not None else zeros(t),
                          cond.cache_rcm if cond.cache_rcm is not None else zeros(views)], dim=2)
    pose_slot = torch.cat([zeros(1), cond.pose, zeros(views)], dim=2)
    return torch.cat([content, rcm_slot, pose_slot], dim=1), views


def forward_cache_after(self: M.ByteLoomModel, noisy: torch.Tensor, sigma: torch.Tensor, cond: M.Conditions):
    """`ByteLoomModel.forward` for the layout of `pack_cache_after` (reference and views clean, t = 0)."""
    packed, views = pack_cache_after(noisy, cond)
    x = self.fusion(packed)
    b, _, f, h, w = x.shape
    _, ph, pw = self.patch_size
    t = (sigma.float() * 1000).view(b, 1).expand(b, f).clone()
    t[:, 0] = 0
    t[:, f - views:] = 0
    timestep = t.repeat_interleave((h // ph) * (w // pw), dim=1)
    text = self.null_text.unsqueeze(0).expand(b, -1, -1).to(x.dtype)
    out = self.transformer(x, timestep=timestep.to(x.dtype), encoder_hidden_states=text, return_dict=False)[0]
    return out[:, :, 1: f - views]


@contextlib.contextmanager
def layout(name: str):
    """Run the model with the cache `before` the video (the pipeline) or `after` it."""
    if name not in ("before", "after"):
        raise ValueError(f"layout must be 'before' or 'after', got {name!r}")
    original = M.ByteLoomModel.forward
    if name == "after":
        M.ByteLoomModel.forward = forward_cache_after
    try:
        yield
    finally:
        M.ByteLoomModel.forward = original


def ssim_frames(videos: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, T) SSIM of each frame to the ground truth."""
    return np.array([[structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(x, y)]
                     for x, y in zip(videos, truth)])


def base_probe(cfg) -> dict:
    """Part 1: the committed base, reference only, with cache views inserted before or after the video."""
    model, codec = C.base_model(cfg)
    data = D.split_latents(cfg, "test", codec, "rcm_cache", limit=cfg.evaluation.clips)
    truth = load_split(cfg.data.root, "test", cfg.curriculum.size, 1, limit=cfg.evaluation.clips)["rgb"]
    ref_only = replace(data.cond, pose=torch.zeros_like(data.cond.pose), rcm=None, cache_rgb=None, cache_rcm=None)
    s, out = cfg.sampler, {}
    for views in (0, 1, cfg.data.cache_views):
        for where in (("before", "after") if views else ("before",)):
            cond = replace(ref_only, cache_rgb=data.cond.cache_rgb[:, :, :views] if views else None)
            videos = []
            with layout(where):
                for i in range(0, len(truth), 8):
                    z = sample_long(model.eval(), cond.select(slice(i, i + 8)), window=s.window, overlap=s.overlap,
                                    steps=s.steps, scheduler=s.scheduler, shift=s.shift, guidance=s.guidance, seed=i)
                    videos.append(tensor_to_frames(codec.decode(z.float().cpu())))
            pf = ssim_frames(np.concatenate(videos), truth)
            key = "reference only" if not views else f"{views} cache view(s) {where} the video"
            out[key] = {"ssim_mean": round(float(pf.mean()), 4), "ssim_per_frame": [round(float(x), 3) for x in pf.mean(0)]}
            print(f"base, {key}: SSIM {pf.mean():.4f}", flush=True)
    return out


def stage_chain(cfg, variant: str) -> list[str]:
    """The runs from Stage I to the variant's run, parents first."""
    runs, name, chain = C.plan_runs(cfg), C.variant_run(cfg, variant).name, []
    while name != C.BASE:
        chain.append(name)
        name = runs[name].parent
    return chain[::-1]


def scores_of(cfg, variant: str, seed: int, train_dir: Path, clips: dict) -> dict:
    """Sample the variant (as `score.generate` does) and score it on every metric."""
    model, codec = C.run_model(cfg, C.variant_run(cfg, variant).name, seed, train_dir)
    design = cfg.curriculum.variants[variant].design
    videos = C.sample_split(cfg, model, codec, design, limit=cfg.evaluation.clips, seed=seed)
    return evaluate_many(videos, clips)["per_clip"]


def trained_designs(cfg, variants, seeds, work: Path) -> dict:
    """Part 2: committed adapters (cache before) against Stages II-III retrained with the cache after."""
    clips = S.benchmark_clips(cfg)
    shutil.copytree(C.TRAIN_DIR / C.BASE, work / "train" / C.BASE)
    out = {}
    for variant in variants:
        chain = stage_chain(cfg, variant)
        if len(chain) < 2 or chain[0] != "I":
            raise ValueError(f"{variant}: needs Stage I and a later stage (its runs: {chain})")
        rows = {"before": {"variant": f"{variant} (cache before video)", "seeds": [], "per_clip": {}},
                "after": {"variant": f"{variant} (cache after video)", "seeds": [], "per_clip": {}}}
        seconds, matches = [], []
        committed = json.loads((ROOT / "metrics" / "eval" / f"{variant}.json").read_text())
        for seed in seeds:
            rows["before"]["per_clip"][f"seed{seed}"] = scores_of(cfg, variant, seed, C.TRAIN_DIR, clips)
            old = committed["per_clip"].get(f"seed{seed}")
            matches.append(None if old is None else all(
                abs(old[c]["ssim_gt"] - v["ssim_gt"]) < 1e-9 for c, v in rows["before"]["per_clip"][f"seed{seed}"].items()))
            stage1 = work / "train" / "I" / f"seed{seed}"
            if not stage1.exists():
                shutil.copytree(C.TRAIN_DIR / "I" / f"seed{seed}", stage1)
            t0 = time.time()
            with layout("after"):
                for name in chain[1:]:
                    C.train_stage(cfg, name, seed, work / "train", work / "ckpt", progress=False)
                seconds.append(round(time.time() - t0, 1))
                rows["after"]["per_clip"][f"seed{seed}"] = scores_of(cfg, variant, seed, work / "train", clips)
            for r in rows.values():
                r["seeds"].append(seed)
            print(f"{variant} seed {seed}: SSIM before " + str(round(np.mean(
                [v["ssim_gt"] for v in rows["before"]["per_clip"][f"seed{seed}"].values()]), 4)) + ", after " + str(round(
                np.mean([v["ssim_gt"] for v in rows["after"]["per_clip"][f"seed{seed}"].values()]), 4)), flush=True)
        mean = {k: {m: float(np.nanmean([v[m] for pc in r["per_clip"].values() for v in pc.values()])) for m in METRICS}
                for k, r in rows.items()}
        verdicts = {m: paired_verdict(rows["after"], rows["before"], m, HIGHER_IS_BETTER[m]) for m in METRICS}
        out[variant] = {"runs retrained with the cache after the video": chain[1:], "train_seconds_per_seed": seconds,
                        "committed layout reproduces metrics/eval (ssim_gt per clip)": matches,
                        "mean": mean,
                        "after minus before (paired, + = after better)": {
                            m: {"verdict": v["verdict"], "interval": format_interval(v)} for m, v in verdicts.items()},
                        "per_clip": {k: r["per_clip"] for k, r in rows.items()}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated curriculum.variants with a cache")
    ap.add_argument("--seeds", help="comma-separated seeds (default: curriculum.seeds)")
    ap.add_argument("--out", default=str(RESULTS / "cache_layout.json"))
    args = ap.parse_args()
    cfg = load_config(args.params)
    variants = [v for v in args.variants.split(",") if v]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(cfg.curriculum.seeds)
    for v in variants:
        if v not in cfg.curriculum.variants:
            ap.error(f"--variants: {v!r} is not in params.yaml curriculum.variants {list(cfg.curriculum.variants)}")
        if cfg.curriculum.variants[v].design not in ("rcm_cache", "single_view"):
            ap.error(f"--variants: {v!r} has design {cfg.curriculum.variants[v].design!r}, which has no cache views")
        for s in seeds:
            for run in stage_chain(cfg, v):
                if not (C.adapter_dir(run, s, C.TRAIN_DIR)).is_dir():
                    ap.error(f"{C.adapter_dir(run, s, C.TRAIN_DIR)}: missing; run `dvc repro` first (seed {s})")
            if not (ROOT / "metrics" / "eval" / f"{v}.json").is_file():
                ap.error(f"metrics/eval/{v}.json: missing; run `dvc repro` first")
    try:
        split_folders(cfg.data.root, "test")
    except FileNotFoundError as e:  # names the folder and the stage that makes it
        ap.error(str(e))
    t0 = time.time()
    out = {"machine": {"platform": platform.platform(), "cpus": torch.get_num_threads(), "cuda": torch.cuda.is_available()},
           "benchmark": f"{cfg.evaluation.clips} test clips at {tuple(cfg.curriculum.size)}, sampler {cfg.sampler}",
           "base, reference only (pose zeroed)": base_probe(cfg)}
    with tempfile.TemporaryDirectory() as work:
        out["trained designs"] = trained_designs(cfg, variants, seeds, Path(work))
    out["seconds"] = round(time.time() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
