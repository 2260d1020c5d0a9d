"""The evaluation stage (paper §4.1): sample every trained variant on the benchmark split and score it.

    python -m byteloom.score --variant byteloom --params params.yaml

Variants are the table rows of `curriculum.variants`, plus `byteloom_cache<k>` (the full model
sampled with only k RCM-cache views, `evaluation.cache_sizes`: Table 3's cache size),
`ground_truth` (the benchmark clips themselves: the upper reference each metric can reach) and two
sanity rows that need no model, which every trained design must beat on SSIM to the ground truth
(`ssim_gt`; `byteloom.report` says in words where one does not):

* `reference_repeated`: each clip's reference image (at `curriculum.size`, resized as
  `data.load_split` does) repeated for every frame - a generator that ignores the motion;
* `other_clip`: clip i gets the ground-truth frames of clip (i + 1) mod n - a real video of the
  same kind that is not this clip's (needs at least 2 benchmark clips).

Each trained variant is sampled once per seed of `curriculum.seeds`; the rows without a model are
produced once (`seeds` = [], stored under `seed<cfg.seed>`). The generated clips go to
`build/samples/<variant>/seed<k>.npz` and the scores to `metrics/eval/<variant>.json`: every
metric as mean ± std over seeds (each seed's value is the mean over the benchmark clips), and every
per-clip value (`per_clip`), which `byteloom.stats` pairs by (seed, clip) between designs.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from . import curriculum as C
from .config import STAGES, Config, load_config
from .data import load_clip, load_split, split_folders
from .evaluate import HIGHER_IS_BETTER, METHODS, METRICS, evaluate_many

SAMPLES_DIR = Path("build/samples")
EVAL_DIR = Path("metrics/eval")
GROUND_TRUTH = "ground_truth"
REFERENCE_REPEATED = "reference_repeated"
OTHER_CLIP = "other_clip"
SANITY = (REFERENCE_REPEATED, OTHER_CLIP)
NO_MODEL = (GROUND_TRUTH, *SANITY)  # rows made from the benchmark clips alone: no model, no seeds
LABELS = {GROUND_TRUTH: "Ground truth (benchmark clips)",
          REFERENCE_REPEATED: "Sanity: reference image repeated for every frame",
          OTHER_CLIP: "Sanity: ground truth of another clip"}


def variants(cfg: Config) -> list[str]:
    """Every row the evaluation scores, in table order."""
    return [*cfg.curriculum.variants, *(f"byteloom_cache{k}" for k in cfg.evaluation.cache_sizes), *NO_MODEL]


def resolve(cfg: Config, variant: str) -> tuple[str, int | None]:
    """(trained variant, cache views at inference) of an evaluated variant name."""
    m = re.fullmatch(r"byteloom_cache(\d+)", variant)
    if m:
        k = int(m.group(1))
        if k not in cfg.evaluation.cache_sizes:
            raise KeyError(f"{variant}: {k} is not in evaluation.cache_sizes {list(cfg.evaluation.cache_sizes)}")
        if k > cfg.data.cache_views:
            raise ValueError(f"{variant}: the data has only data.cache_views = {cfg.data.cache_views} cached views")
        return "byteloom", k
    if variant not in NO_MODEL and variant not in cfg.curriculum.variants:
        raise KeyError(f"unknown variant {variant!r}; evaluated variants: {variants(cfg)}")
    return variant, None


def benchmark_clips(cfg: Config) -> dict:
    """The first `evaluation.clips` clips of the test split, by clip id."""
    folders = split_folders(cfg.data.root, "test")
    if cfg.evaluation.clips > len(folders):
        raise ValueError(f"evaluation.clips = {cfg.evaluation.clips} but {cfg.data.root}/test has {len(folders)} clips")
    return {f.name: load_clip(f) for f in folders[: cfg.evaluation.clips]}


def generate(cfg: Config, variant: str, seed: int) -> dict[str, np.ndarray]:
    """The variant's videos of the benchmark clips, at `curriculum.size`."""
    trained, views = resolve(cfg, variant)
    if trained in NO_MODEL:
        a = load_split(cfg.data.root, "test", cfg.curriculum.size, cfg.data.cache_views, cfg.evaluation.clips)
        names = [f.name for f in split_folders(cfg.data.root, "test")[: cfg.evaluation.clips]]
        return no_model_videos(variant, a["rgb"], a["reference"], names)
    with C.LOAD_LOCK:
        model, codec = C.variant_model(cfg, trained, seed)
    design = cfg.curriculum.variants[trained].design
    return C.sample_split(cfg, model, codec, design, limit=cfg.evaluation.clips, cache_views=views, seed=seed)


def no_model_videos(variant: str, rgb: np.ndarray, reference: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """The videos of a row without a model, from the benchmark split as `data.load_split` gives it.

    rgb: (N, T, h, w, 3) ground-truth frames; reference: (N, h, w, 3) reference images, both at
    `curriculum.size`; names: the N clip ids. ground_truth: the frames themselves;
    reference_repeated: clip i's reference for each of its T frames; other_clip: clip
    (i + 1) mod N's frames for clip i (no clip gets its own; N >= 2).
    """
    if len(rgb) != len(names) or len(reference) != len(names):
        raise ValueError(f"{variant}: {len(names)} clip ids for {len(rgb)} videos and {len(reference)} references")
    if variant == GROUND_TRUTH:
        return dict(zip(names, rgb))
    if variant == REFERENCE_REPEATED:
        return {n: np.repeat(ref[None], rgb.shape[1], axis=0) for n, ref in zip(names, reference)}
    if variant == OTHER_CLIP:
        if len(names) < 2:
            raise ValueError(f"{variant}: needs at least 2 benchmark clips to give each clip another clip's "
                             f"ground truth, evaluation.clips gives {len(names)}")
        return {n: rgb[(i + 1) % len(names)] for i, n in enumerate(names)}
    raise KeyError(f"{variant}: not a row without a model; those are {list(NO_MODEL)}")


def summarise(values: list[float]) -> dict:
    v = np.asarray(values, float)
    ok = v[np.isfinite(v)]
    return {"mean": float(ok.mean()) if len(ok) else None, "std": float(ok.std()) if len(ok) else None,
            "per_seed": [None if not np.isfinite(x) else float(x) for x in v]}


def score_variant(cfg: Config, variant: str, samples_dir: Path = SAMPLES_DIR, progress: bool = True) -> dict:
    """Sample `variant` for every seed, score each against the benchmark, and summarise over seeds."""
    trained, views = resolve(cfg, variant)
    clips = benchmark_clips(cfg)
    seeds = [] if variant in NO_MODEL else list(cfg.curriculum.seeds)

    def one(seed):  # on the CPU every seed at once, one thread each (`curriculum.per_seed`)
        t0 = time.time()
        videos = generate(cfg, variant, seed)
        t1 = time.time()
        out = Path(samples_dir) / variant / f"seed{seed}.npz"
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, **videos)
        result = evaluate_many(videos, clips)
        return result, {"sample": round(t1 - t0, 2), "score": round(time.time() - t1, 2)}

    t0 = time.time()
    results, wall = C.per_seed(cfg, one, seeds) if seeds else ({cfg.seed: one(cfg.seed)}, time.time() - t0)
    per_seed = [r["mean"] for r, _ in results.values()]
    per_clip = {f"seed{seed}": r["per_clip"] for seed, (r, _) in results.items()}
    seconds = {f"seed{seed}": t for seed, (_, t) in results.items()}
    if progress:
        for seed, (r, _) in results.items():
            print(f"{variant} seed {seed}: " + ", ".join(f"{m} {r['mean'][m]:.4f}" for m in METRICS), flush=True)
    label, design, stages = (LABELS.get(variant), None, [])
    if trained not in NO_MODEL:
        v = cfg.curriculum.variants[trained]
        label, design, stages = v.label + (f", cache {views} view(s)" if views else ""), v.design, list(v.stages)
    return {
        "variant": variant, "label": label, "design": design, "stages": stages,
        "cache_views": views if views is not None else cfg.data.cache_views, "seeds": seeds,
        "scale": scale_line(cfg),
        "metrics": {m: summarise([s[m] for s in per_seed]) for m in METRICS},
        "higher_is_better": HIGHER_IS_BETTER, "methods": METHODS,
        "per_clip": per_clip, "seconds": seconds, "wall_seconds": round(wall, 2),
    }


def scale_line(cfg: Config) -> str:
    """The scale a number was produced at, printed under every table."""
    m, cu, d = cfg.model, cfg.curriculum, cfg.data
    backbone = (f"Wan2.1 checkpoint {m.checkpoint}" if m.checkpoint else
                f"tiny Wan DiT (width {m.heads * m.head_dim}, {m.layers} blocks, {m.codec_patch}x{m.codec_patch} patch codec) "
                f"pretrained {cfg.base.steps} steps (frozen stage)")
    h, w = cu.size
    names = "/".join(C.ROMAN[s] for s in STAGES)
    steps = "/".join(str(cu.steps[s]) for s in STAGES)
    return (f"{h}x{w} px, {d.frames} frames, {cfg.evaluation.clips} Mani4D-mini test clips, {backbone}, "
            f"LoRA rank {m.lora_rank} steps {names} = {steps}, {len(cu.seeds)} seed(s)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    cfg = load_config(args.params)
    C.write_json(EVAL_DIR / f"{args.variant}.json", score_variant(cfg, args.variant))


if __name__ == "__main__":
    main()
