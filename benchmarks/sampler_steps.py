"""Fewer sampler steps, paired: the pipeline's trained designs sampled with `sampler.steps` lowered.

    python benchmarks/sampler_steps.py                     # needs a finished `dvc repro`; ~8 min on 2 vCPUs
    python benchmarks/sampler_steps.py --steps 6 --variants byteloom pose_only

Sampling is about a third of the evaluation stages' time (README, *Wall time*). Each variant is
sampled exactly as `python -m byteloom.score` samples it (`score.score_variant`: every seed of
`curriculum.seeds`, the same clips and the same initial noise), with only `sampler.steps` changed,
into a scratch folder; the committed evaluation `metrics/eval/<variant>.json` (the pipeline's
steps) is the other side of every pair. Two questions, both answered with the paired intervals of
`byteloom.stats` (seeds and clips resampled):

1. does a variant score differently with fewer steps (fewer steps minus the pipeline's, per metric)?
2. do the claims between designs (ByteLoom against single view and pose only) keep their verdicts?

Results: benchmarks/results/sampler_steps.json (sampling and scoring seconds per seed, every
metric's mean, both kinds of intervals, the machine). Changes nothing in the pipeline.
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from byteloom import score as S  # noqa: E402
from byteloom.config import load_config  # noqa: E402
from byteloom.evaluate import HIGHER_IS_BETTER, METRICS  # noqa: E402
from byteloom.stats import format_interval, paired_verdict  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "sampler_steps.json"
CLAIMS = [("byteloom", "single_view"), ("byteloom", "pose_only")]


def committed(variant: str) -> dict:
    path = ROOT / S.EVAL_DIR / f"{variant}.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no committed evaluation (run `dvc repro evaluate@{variant}` first)")
    return json.loads(path.read_text())


def verdicts(a: dict, b: dict) -> dict:
    out = {}
    for m in METRICS:
        v = paired_verdict(a, b, m, HIGHER_IS_BETTER[m])
        out[m] = {"verdict": v["verdict"], "interval": format_interval(v, 4),
                  **{k: v[k] for k in ("effect", "low", "high")}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--steps", type=int, nargs="+", default=[6, 8])
    ap.add_argument("--variants", nargs="+", default=["byteloom", "single_view", "pose_only"])
    args = ap.parse_args()
    cfg = load_config(args.params)
    if any(s < 1 for s in args.steps):
        ap.error(f"--steps must be positive, got {args.steps}")
    for v in args.variants:
        if v not in cfg.curriculum.variants:
            ap.error(f"--variants: {v!r} is not in params.yaml curriculum.variants {list(cfg.curriculum.variants)}")
    base = {v: committed(v) for v in args.variants}
    out = {"pipeline_steps": cfg.sampler.steps, "sampler": vars(cfg.sampler), "seeds": list(cfg.curriculum.seeds),
           "clips": cfg.evaluation.clips, "rows": {}, "claims": {},
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__}}
    out["claims"][str(cfg.sampler.steps)] = {f"{a} beats {b}": verdicts(base[a], base[b]) for a, b in CLAIMS
                                             if a in base and b in base}
    for steps in args.steps:
        c = replace(cfg, sampler=replace(cfg.sampler, steps=steps))
        with tempfile.TemporaryDirectory() as tmp:
            rows = {v: S.score_variant(c, v, Path(tmp), progress=False) for v in args.variants}
        for v, r in rows.items():
            out["rows"][f"{v}/{steps}"] = {
                "seconds": r["seconds"], "wall_seconds": r["wall_seconds"],
                "means": {m: r["metrics"][m]["mean"] for m in METRICS},
                "pipeline_means": {m: base[v]["metrics"][m]["mean"] for m in METRICS},
                "fewer_steps_minus_pipeline": verdicts(r, base[v])}
            d = out["rows"][f"{v}/{steps}"]["fewer_steps_minus_pipeline"]
            print(f"{v}, {steps} steps vs {cfg.sampler.steps}: wall {r['wall_seconds']} s; "
                  + ", ".join(f"{m} {d[m]['interval']}" for m in ("ssim_gt", "obj_iou", "obj_clip", "t_ssim")), flush=True)
        out["claims"][str(steps)] = {f"{a} beats {b}": verdicts(rows[a], rows[b]) for a, b in CLAIMS
                                     if a in rows and b in rows}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=1, default=str) + "\n")  # after every step count
    for steps, claims in out["claims"].items():
        for name, per in claims.items():
            print(f"{steps} steps, {name}: " + ", ".join(f"{m} {per[m]['verdict']}" for m in METRICS))
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
