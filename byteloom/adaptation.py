"""Beyond the paper: how long must the last stage adapt before RCM + cache pays? (lesson 6 section 11)

Paper §3.3 fine-tunes every stage for thousands of steps; the CPU profile gives Stage III
`curriculum.steps.stage3` (60) LoRA steps. The designs differ there in what they must learn: pose
only reads what the base already reads (reference + pose), ByteLoom must also learn to read a
per-frame RCM and a cache of views. This experiment keeps every parent run of the committed
pipeline (Stage I, Stage II) and retrains only the last stage, Stage III, of the three designs the
paper compares (ByteLoom I+II+III, single view I+II+III, pose only I+III) for each step count of
`--steps`, every seed of `curriculum.seeds`, and samples the benchmark clips with the same noise as
the pipeline. It reports, per step count:

* each design's SSIM to the ground truth against the two sanity rows (paired, `byteloom.stats`);
* ByteLoom against single view and against pose only, paired, on SSIM, Obj-IoU, Obj-CLIP, T-SSIM;
* how much ByteLoom uses its object conditions (`train.condition_usage` on the test split).

The pipeline's own step count is a point too, read from the committed evaluation
(`metrics/eval/<variant>.json`: same models, clips, seeds and noise), so nothing is trained twice.

    python -m byteloom.adaptation --steps 240 480 --params params.yaml

It writes `metrics/adaptation.json`. The same experiment on another seed set, from that set's
pipeline runs (e.g. the `build/train` of `dvc exp run -S 'curriculum.seeds=[3,4,5]'`) and its
evaluation (`metrics/rerun_seeds_3-5/eval`):

    python -m byteloom.adaptation --steps 240 480 --seeds 3 4 5 --parents DIR \
        --eval-dir metrics/rerun_seeds_3-5/eval --work build/adaptation_seeds_3-5 \
        --out metrics/adaptation_seeds_3-5.json

 It trains 3 designs x seeds x step counts (about 45 min on 2
cores for 240 and 480 steps, 3 seeds), so it is a frozen DVC stage (`adaptation`) whose result is
committed; `dvc unfreeze adaptation && dvc repro adaptation` reruns it. Finished (steps, design,
seed) cells are kept in `build/adaptation` with a fingerprint of the code, the configuration and the
weights they start from (`cell_key`), so a killed run resumes; a cell of other code, configuration
or parent weights is computed again, never reused. The fingerprint has two parts: the trained
adapters are stamped with `train_key` (training code, configuration, parent weights) and are kept
when only the sampling or scoring code changed (`SCORE_CODE`, e.g. a metric fix): then the cell is
sampled and scored again from its adapters, not retrained.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import curriculum as C
from . import stats
from .config import Config, load_config
from .evaluate import HIGHER_IS_BETTER, evaluate_many
from .score import OTHER_CLIP, REFERENCE_REPEATED, benchmark_clips, scale_line
from .train import code_digest as train_code_digest
from .train import fingerprint

OUT = Path("metrics/adaptation.json")
WORK = Path("build/adaptation")
EVAL = Path("metrics/eval")
DESIGNS = ("byteloom", "single_view", "pose_only")  # curriculum.variants whose last stage is retrained
METRICS = ("ssim_gt", "obj_iou", "obj_clip", "t_ssim")
SANITY = (REFERENCE_REPEATED, OTHER_CLIP)
TRAIN_CODE = ("curriculum.py", "train.py", "model.py", "sample.py", "data.py", "config.py")  # what trains a cell
SCORE_CODE = ("curriculum.py", "model.py", "sample.py", "data.py", "config.py", "score.py", "evaluate.py",
              "metrics")  # what samples and scores it (this module's own reporting is in neither)
TRAIN_STAMP = "train_key.txt"  # beside a cell's adapters: the train_key they were trained under


def code_digest(names=TRAIN_CODE + SCORE_CODE) -> str:
    """Hash of package files and folders `names` and the versions of torch, diffusers and peft."""
    return train_code_digest(names)


def check_designs(cfg: Config) -> None:
    """Every compared variant exists and ends with Stage III (the stage this experiment retrains)."""
    for v in DESIGNS:
        if v not in cfg.curriculum.variants:
            raise KeyError(f"curriculum.variants lacks {v!r}, which this experiment compares")
        run = C.variant_run(cfg, v)
        if run.stage != "stage3":
            raise ValueError(f"curriculum.variants.{v}: its last stage is {run.stage}, not stage3")


def steps_config(cfg: Config, steps: int) -> Config:
    """`cfg` with Stage III trained for `steps` LoRA steps."""
    if steps < 1:
        raise ValueError(f"--steps: a step count must be >= 1, got {steps}")
    cu = cfg.curriculum
    return replace(cfg, curriculum=replace(cu, steps={**cu.steps, "stage3": int(steps)}))


def committed_scores(cfg: Config, variant: str, folder: Path = EVAL) -> dict:
    """The pipeline's evaluation of `variant`, refused if it was scored at another scale or, for a
    trained design, with other seeds than `curriculum.seeds`."""
    path = Path(folder) / f"{variant}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no committed evaluation (run `dvc repro evaluate@{variant}`)")
    scores = json.loads(path.read_text())
    if scores.get("scale") != scale_line(cfg):
        raise ValueError(f"{path}: scored at {scores.get('scale')!r}, not this configuration's "
                         f"{scale_line(cfg)!r}; rerun the pipeline first")
    if variant in DESIGNS and list(scores.get("seeds", [])) != list(cfg.curriculum.seeds):
        raise ValueError(f"{path}: scored with seeds {scores.get('seeds')}, not {list(cfg.curriculum.seeds)}")
    return scores


def link_parents(cfg: Config, train_dir: Path, parents: Path | None = None) -> None:
    """`train_dir` gets the base and each design's parent run as links into `parents` (default: the
    pipeline's `build/train`)."""
    parents = Path(parents or C.TRAIN_DIR)
    train_dir.mkdir(parents=True, exist_ok=True)
    for name in {C.BASE, *(C.variant_run(cfg, v).parent for v in DESIGNS)}:
        src, dst = (parents / name).resolve(), train_dir / name
        if not src.is_dir():
            raise FileNotFoundError(f"{src}: the pipeline's run {name!r} is missing (run `dvc repro`)")
        if dst.is_symlink() or dst.exists():
            if dst.resolve() == src:
                continue
            raise FileExistsError(f"{dst}: exists and is not a link to {src}; remove {train_dir} first")
        os.symlink(src, dst)


def parent_digest(cfg: Config, variant: str, seed: int, parents: Path | None = None) -> str:
    """Hash of the weights a cell starts from: the base and the parent run's adapters for `seed`,
    file by file under `parents` (default `curriculum.TRAIN_DIR`; a retrained parent makes every
    cell on it stale)."""
    parents = Path(parents or C.TRAIN_DIR)
    parent = C.variant_run(cfg, variant).parent
    folders = [parents / C.BASE] + ([] if parent == C.BASE else [C.adapter_dir(parent, seed, parents)])
    h = hashlib.sha256()
    for folder in folders:
        files = sorted(f for f in Path(folder).rglob("*") if f.is_file() and f.suffix in (".safetensors", ".json"))
        if not files:
            raise FileNotFoundError(f"{folder}: no weights of the run {variant} starts from (run `dvc repro`)")
        for f in files:
            h.update(f.relative_to(folder).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def train_key(cfg: Config, variant: str, seed: int, parents: Path | None = None) -> str:
    """What defines a cell's trained adapters: the training code (`TRAIN_CODE`), the weights it starts
    from (`parent_digest`), the design, the seed, and the model, data, sampler and curriculum settings."""
    cu = replace(cfg.curriculum, seeds=[])  # the other seeds of the list do not change this cell
    return fingerprint(code_digest(TRAIN_CODE), parent_digest(cfg, variant, seed, parents), variant, seed, cfg.model, cfg.data,
                       cfg.sampler, cu, cfg.evaluation.clips)


def cell_key(cfg: Config, variant: str, seed: int, parents: Path | None = None) -> str:
    """What defines a finished cell's scores: its `train_key` and the sampling and scoring code (`SCORE_CODE`)."""
    return fingerprint(train_key(cfg, variant, seed, parents), code_digest(SCORE_CODE))


def retrained_scores(cfg: Config, variant: str, seed: int, work: Path, progress: bool, parents: Path | None = None) -> dict:
    """Train `variant`'s Stage III run at `cfg`'s step count for `seed`, sample and score the
    benchmark clips. A finished cell with the same `cell_key` is read back; adapters stamped with the
    same `train_key` are sampled and scored again without training."""
    run = C.variant_run(cfg, variant)
    key, tkey = cell_key(cfg, variant, seed, parents), train_key(cfg, variant, seed, parents)
    cell = work / "scores" / f"{variant}_seed{seed}.json"
    if cell.is_file() and json.loads(cell.read_text()).get("fingerprint") == key:
        return json.loads(cell.read_text())
    train_dir = work / "train"
    link_parents(cfg, train_dir, parents)
    stamp = train_dir / run.name / f"seed{seed}" / TRAIN_STAMP
    t0 = time.time()
    trained = stamp.is_file() and stamp.read_text().strip() == tkey
    if not trained:
        stamp.unlink(missing_ok=True)  # a killed training leaves no stamp of the old adapters behind
        C.train_stage(cfg, run.name, seed, train_dir=train_dir, ckpt_dir=work / "checkpoints", progress=False)
        stamp.write_text(tkey + "\n")
    t1 = time.time()
    model, codec = C.run_model(cfg, run.name, seed, train_dir)
    design = cfg.curriculum.variants[variant].design
    videos = C.sample_split(cfg, model, codec, design, limit=cfg.evaluation.clips, seed=seed)
    old = json.loads(cell.read_text()) if cell.is_file() else {}
    train_s = round(t1 - t0, 1) if not trained else old.get("seconds", {}).get("train")
    result = {"fingerprint": key, "train_key": tkey, "variant": variant, "seed": seed,
              "per_clip": evaluate_many(videos, benchmark_clips(cfg))["per_clip"],
              "seconds": {"train": train_s, "sample_score": round(time.time() - t1, 1)}}
    cell.parent.mkdir(parents=True, exist_ok=True)
    cell.write_text(json.dumps(result, indent=1))
    if progress:
        what = "reused adapters" if trained else f"{result['seconds']['train']} s training"
        print(f"stage3 {cfg.curriculum.steps['stage3']} steps, {variant} seed {seed}: {what}", flush=True)
    return result


def as_row(variant: str, cells: list[dict]) -> dict:
    """Per-seed cells → the scores layout `byteloom.stats` reads."""
    return {"variant": variant, "seeds": [c["seed"] for c in cells],
            "per_clip": {f"seed{c['seed']}": c["per_clip"] for c in cells}}


def mean_score(row: dict, metric: str) -> float | None:
    """Mean of `metric` over every (seed, clip) of a row that has a value (None: nothing to score)."""
    v = [c[metric] for s in row["per_clip"].values() for c in s.values() if c.get(metric) is not None]
    return float(np.mean(v)) if v else None


def compare(rows: dict, sanity: dict) -> dict:
    """Paired verdicts of one step count: sanity per design, ByteLoom against each baseline."""
    out = {"mean": {v: {m: mean_score(r, m) for m in METRICS} for v, r in rows.items()},
           "sanity": {v: {s: stats.paired_verdict(rows[v], sanity[s], "ssim_gt", True) for s in SANITY} for v in rows},
           "gap": {}}
    for base in ("single_view", "pose_only"):
        out["gap"][f"byteloom_vs_{base}"] = {m: stats.paired_verdict(rows["byteloom"], rows[base], m, HIGHER_IS_BETTER[m])
                                             for m in METRICS}
    return out


def run_steps(cfg: Config, steps: int, default: int, work: Path = WORK, progress: bool = True,
              parents: Path | None = None, eval_dir: Path = EVAL) -> dict:
    """One point of the curve: the committed runs at the pipeline's step count (their evaluation in
    `eval_dir`, their weights in `parents`), retrained ones otherwise.
    `cell_seconds`: the training, sampling and scoring time of its cells, whenever they were computed."""
    sc = steps_config(cfg, steps)
    folder = Path(work) / f"stage3_{steps}"
    if steps == default:
        rows = {v: committed_scores(cfg, v, eval_dir) for v in DESIGNS}
        train_dir, source = Path(parents or C.TRAIN_DIR), f"committed pipeline runs ({Path(eval_dir).as_posix()})"
        cell_seconds = 0.0
    else:
        cells = {v: [retrained_scores(sc, v, s, folder, progress, parents) for s in sc.curriculum.seeds] for v in DESIGNS}
        rows = {v: as_row(v, c) for v, c in cells.items()}
        cell_seconds = sum(sum(x or 0.0 for x in c["seconds"].values()) for cs in cells.values() for c in cs)
        train_dir, source = folder / "train", "Stage III retrained from the committed parents"
    sanity = {s: committed_scores(cfg, s, eval_dir) for s in SANITY}
    usage = C.usage_report(sc, ["byteloom"], splits=("test",), train_dir=train_dir)["byteloom"]["test"]
    return {"stage3_steps": steps, "source": source, "cell_seconds": round(cell_seconds, 1), **compare(rows, sanity),
            "usage": {"mean": usage["mean"], "per_seed": usage["per_seed"]},
            "per_clip": {v: r["per_clip"] for v, r in rows.items()}}


def compare_seed_sets(results: dict[str, dict]) -> list[dict]:
    """The verdicts of several runs of this experiment (e.g. seeds 0-2 and 3-5) side by side.

    results: {name: the JSON `main` writes}, all of one scale. One row per step count they share and
    comparison: ByteLoom against each baseline on every metric, and each design against the reference
    repeated (SSIM). Each row: {"steps", "comparison", "metric", "verdicts": {name: verdict record},
    "same": whether every run gives the same verdict}.
    """
    if len(results) < 2:
        raise ValueError(f"compare at least two runs, got {list(results)}")
    scales = {r["scale"] for r in results.values()}
    if len(scales) != 1:
        raise ValueError(f"the runs were made at different scales: {sorted(scales)}")
    points = {name: {p["stage3_steps"]: p for p in r["points"]} for name, r in results.items()}
    steps = sorted(set.intersection(*(set(p) for p in points.values())))
    rows = []
    for n in steps:
        first = next(iter(points.values()))[n]
        keys = [(pair, m, ("gap", pair, m)) for pair in first["gap"] for m in first["gap"][pair]]
        keys += [(f"{v}_vs_{REFERENCE_REPEATED}", "ssim_gt", ("sanity", v, REFERENCE_REPEATED)) for v in first["sanity"]]
        for comparison, metric, (kind, a, b) in keys:
            verdicts = {name: p[n][kind][a][b] for name, p in points.items()}
            rows.append({"steps": n, "comparison": comparison, "metric": metric, "verdicts": verdicts,
                         "same": len({v["verdict"] for v in verdicts.values()}) == 1})
    return rows


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, nargs="+", required=True, help="Stage III step counts to retrain at")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--seeds", type=int, nargs="+", help="another seed set than curriculum.seeds (needs --parents, --eval-dir)")
    ap.add_argument("--parents", help=f"the pipeline's runs to start from (default {C.TRAIN_DIR})")
    ap.add_argument("--eval-dir", default=str(EVAL), help="their evaluation: the default step count's point and the sanity rows")
    ap.add_argument("--work", default=str(WORK), help="where finished cells are kept")
    args = ap.parse_args(argv)
    cfg = load_config(args.params)
    if args.seeds is not None:
        if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
            raise ValueError(f"--seeds: distinct seeds >= 0, got {args.seeds}")
        if args.parents is None or Path(args.eval_dir) == EVAL or Path(args.work) == WORK:
            raise ValueError("--seeds needs --parents, --eval-dir and --work of that seed set "
                             "(the defaults belong to curriculum.seeds)")
        cfg = replace(cfg, curriculum=replace(cfg.curriculum, seeds=list(args.seeds)))
    if args.parents is not None and not Path(args.parents, C.BASE).is_dir():
        raise FileNotFoundError(f"--parents {args.parents}: no {C.BASE} run in it")
    check_designs(cfg)  # every bad value is an error before any work
    default = cfg.curriculum.steps["stage3"]
    counts = sorted({default, *(steps_config(cfg, s).curriculum.steps["stage3"] for s in args.steps)})
    for v in (*DESIGNS, *SANITY):
        committed_scores(cfg, v, Path(args.eval_dir))
    t0 = time.time()
    points = [run_steps(cfg, n, default, Path(args.work), parents=args.parents, eval_dir=Path(args.eval_dir)) for n in counts]
    C.write_json(args.out, {"command": " ".join(["python -m byteloom.adaptation", *argv]), "designs": list(DESIGNS),
                            "metrics": list(METRICS), "default_steps": default, "scale": scale_line(cfg),
                            "seeds": list(cfg.curriculum.seeds),
                            "seconds": round(time.time() - t0, 1),  # this invocation (finished cells are read back)
                            "cell_seconds": round(sum(p["cell_seconds"] for p in points), 1),  # training + scoring of every cell
                            "points": points})


if __name__ == "__main__":
    main()
