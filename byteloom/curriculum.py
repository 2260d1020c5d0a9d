"""The progressive curriculum (paper §3.3, Table 1; ablation in the main table): Stage I → II → III.

    base ──► I ──► II ──► III        ByteLoom (I+II+III)
               │       └─► III       (no-RCM design: single-view reference, same curriculum)
               └─► III               I+III
    base ──► III                     III only (no curriculum)
               ├─► Obj ──► III       I+Obj+III (optional Object-Multiview stage: turntable clips)
               └─► II ──► Obj ──► III  I+II+Obj+III

`base` is the backbone the stages adapt. At paper scale it is Wan2.1-T2V-1.3B (`model.checkpoint`).
In the default profile no pretrained weights exist, so the pipeline *pretrains* the tiny random Wan
DiT in full on every training video (reference frame in front, no pose/object condition: an
image-to-video model) — the stand-in for Wan's pretraining, saved in diffusers format so stages load
it exactly as they would load the real checkpoint.

Each stage then trains LoRA (peft) plus the MLP latent fusion from its parent's adapters on its
split. Stage I clips show no object, so Stage I is one run shared by every design (the designs differ
only in how the object enters); the designs part from Stage II on. Every run is repeated per seed.

A run is named by its design and stage path, e.g. `rcm_cache-I-II-III`; Stage I is `I`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .config import Config, TrainConfig
from .data import CORPUS_DIR, base_corpus, base_data, load_split, split_folders, split_latents
from .model import ByteLoomModel, build_model, drop_conditions, load_wan, place
from .sample import sample_long
from .train import (add_lora, discard_checkpoint, encode_clips, load_adapters, save_adapters,
                    tensor_to_frames, train)
from .train import condition_usage as train_condition_usage

ROMAN = {"stage1": "I", "stage2": "II", "objmv": "Obj", "stage3": "III"}
BASE = "base"
TRAIN_DIR = Path("build/train")  # run outputs (adapters, loss curves): DVC outs
CKPT_DIR = Path("build/checkpoints")  # resumable checkpoints: not DVC outs, so a killed stage resumes
METRICS_DIR = Path("metrics/train")  # per-run summaries and mean loss curves (DVC metrics and plots)
LOAD_LOCK = threading.Lock()  # diffusers' `from_pretrained` is not thread-safe: one model loads at a time


# ---------------------------------------------------------------------------------- seeds


def seeds_at_once(cfg: Config) -> bool:
    """Whether `per_seed` runs the seeds at once: on the CPU, in one process (not `curriculum.processes`
    > 1, not under a distributed launcher)."""
    one_process = cfg.curriculum.processes <= 1 and int(os.environ.get("WORLD_SIZE", "1")) <= 1
    return one_process and not torch.cuda.is_available()


def per_seed(cfg: Config, fn, seeds) -> tuple[dict, float]:
    """({seed: fn(seed)}, wall seconds) for every seed of a run (paper §3.3: each run is repeated per seed).

    On the CPU all seeds run at once, one Python thread each, each with ONE intra-op thread: a
    seed's result then no longer depends on how many cores the machine has (one thread reduces
    floats in the same order everywhere the same CPU kind runs it), and on 2 vCPUs 3 seeds trained
    1.12x and sampled 1.2x faster than one after another on 2 threads (the full pipeline, README). On a GPU, or with
    `curriculum.processes` > 1, the seeds run one after another with the default threads.
    `fn` must load its models under `LOAD_LOCK`.
    """
    seeds = list(seeds)
    t0 = time.time()
    if not seeds_at_once(cfg):
        return {s: fn(s) for s in seeds}, time.time() - t0

    def one(seed):
        torch.set_num_threads(1)  # this thread's OpenMP setting; the caller's is left alone
        return fn(seed)

    with ThreadPoolExecutor(max(len(seeds), 1), thread_name_prefix="seed") as ex:
        results = list(ex.map(one, seeds))
    return dict(zip(seeds, results)), time.time() - t0


# ---------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Run:
    """One training run: `stage` trained with `design`, starting from `parent`'s result."""

    name: str
    stage: str
    design: str
    parent: str  # another run's name or BASE


def run_name(design: str, stages) -> str:
    """`I` for Stage I alone (design-neutral), else `<design>-I-II-...`; `base` for no stage."""
    stages = tuple(stages)
    if not stages:
        return BASE
    path = "-".join(ROMAN[s] for s in stages)
    return path if stages == ("stage1",) else f"{design}-{path}"


def plan_runs(cfg: Config) -> dict[str, Run]:
    """Every run the variants of `curriculum.variants` need, shared prefixes once, parents first."""
    runs: dict[str, Run] = {}
    for v in cfg.curriculum.variants.values():  # designs and stage orders were checked by load_config
        for k in range(1, len(v.stages) + 1):
            name = run_name(v.design, v.stages[:k])
            design = "pose_only" if v.stages[:k] == ("stage1",) else v.design
            runs.setdefault(name, Run(name, v.stages[k - 1], design, run_name(v.design, v.stages[:k - 1])))
    return runs


def variant_run(cfg: Config, variant: str) -> Run:
    """The run whose adapters a variant samples with."""
    if variant not in cfg.curriculum.variants:
        raise KeyError(f"unknown variant {variant!r}; params.yaml curriculum.variants has {list(cfg.curriculum.variants)}")
    v = cfg.curriculum.variants[variant]
    return plan_runs(cfg)[run_name(v.design, v.stages)]


# ---------------------------------------------------------------------------------- models


def base_model(cfg: Config, train_dir: Path = TRAIN_DIR) -> tuple[ByteLoomModel, torch.nn.Module]:
    """The backbone every stage adapts: the local Wan2.1 checkpoint (`model.checkpoint`) or the
    pipeline's pretrained tiny model (`build/train/base`), with a fresh identity fusion."""
    model, codec = build_model(cfg.model, seed=cfg.seed)
    if cfg.model.checkpoint is None:
        folder = train_dir / BASE
        if not (folder / "transformer").is_dir():
            raise FileNotFoundError(f"{folder}: no pretrained base model (run `dvc repro pretrain`)")
        model.transformer = load_wan(folder, "transformer")
        model.null_text.data.copy_(load_file(folder / "null_text.safetensors")["null_text"])
    return model, codec


def stage_model(cfg: Config, run: Run, seed: int, train_dir: Path = TRAIN_DIR) -> tuple[ByteLoomModel, torch.nn.Module]:
    """The base model with LoRA layers (seeded), loaded with the parent run's adapters."""
    model, codec = base_model(cfg, train_dir)
    torch.manual_seed(seed)
    m = cfg.model
    add_lora(model, m.lora_rank, m.lora_alpha, m.lora_targets)
    if run.parent != BASE:
        load_adapters(model, adapter_dir(run.parent, seed, train_dir))
    return model, codec


def adapter_dir(run: str, seed: int, train_dir: Path = TRAIN_DIR) -> Path:
    return Path(train_dir) / run / f"seed{seed}" / "adapters"


def run_model(cfg: Config, name: str, seed: int, train_dir: Path = TRAIN_DIR) -> tuple[ByteLoomModel, torch.nn.Module]:
    """The model a finished run trained (its adapters on the base), in eval mode; `base` alone for BASE."""
    model, codec = base_model(cfg, train_dir)
    if name != BASE:
        add_lora(model, cfg.model.lora_rank, cfg.model.lora_alpha, cfg.model.lora_targets)
        load_adapters(model, adapter_dir(name, seed, train_dir))
    return place(model.eval(), codec), codec  # the GPU in bf16 when there is one


def variant_model(cfg: Config, variant: str, seed: int, train_dir: Path = TRAIN_DIR) -> tuple[ByteLoomModel, torch.nn.Module]:
    """A trained variant of `curriculum.variants` ready for sampling."""
    return run_model(cfg, variant_run(cfg, variant).name, seed, train_dir)


@torch.no_grad()
def sample_split(cfg: Config, model: ByteLoomModel, codec, design: str, split: str = "test", limit: int | None = None,
                 cache_views: int | None = None, seed: int = 0, batch: int = 8) -> dict[str, np.ndarray]:
    """Generate every clip of `split` from its conditions (pose, reference, RCM, cache as `design`
    allows) with `params.yaml` `sampler`: {clip id: (T, H, W, 3) uint8} at `curriculum.size`."""
    names = [f.name for f in split_folders(cfg.data.root, split)[:limit]]
    data = split_latents(cfg, split, codec, design, cache_views, limit)
    s = cfg.sampler
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(names), batch):
        cond = data.cond.select(slice(i, i + batch)).to(device)
        z = sample_long(model, cond, window=s.window, overlap=s.overlap, steps=s.steps, scheduler=s.scheduler,
                        shift=s.shift, guidance=s.guidance, seed=seed + i)
        out.append(tensor_to_frames(codec.decode(z.float().cpu())))
    return dict(zip(names, np.concatenate(out)))


def object_region(rcm: np.ndarray, codec) -> torch.Tensor:
    """Latent positions an object covers: (N, T, H, W, 3) uint8 RCM frames (black = no object) →
    (N, 1, t, h, w) bool, max-pooled over each latent's pixels (and frames, for a codec that
    compresses time like Wan's VAE: first frame alone, then groups of `temporal_factor`)."""
    m = torch.as_tensor((np.asarray(rcm) > 0).any(-1)).float()  # (N, T, H, W)
    n, t = m.shape[:2]
    sf, tf = codec.spatial_factor, codec.temporal_factor
    m = F.max_pool2d(m.flatten(0, 1)[:, None], sf).view(n, t, m.shape[2] // sf, m.shape[3] // sf)
    if tf > 1:
        m = torch.cat([m[:, :1], m[:, 1:].reshape(n, -1, tf, *m.shape[2:]).amax(2)], dim=1)
    return m[:, None] > 0


def usage_report(cfg: Config, variants, splits=("stage3", "test"), sigmas=(0.6, 0.9),
                 train_dir: Path = TRAIN_DIR) -> dict:
    """`train.condition_usage` of trained variants on whole splits, per seed and averaged over seeds:
    {variant: {split: {"clips", "object_fraction", "per_seed": {seed: {σ: {option: error}}},
    "mean": {σ: {option: error}}}}}. Stage III's split is what the last stage trained on; the
    test split has held-out objects and identities."""
    sets = {}
    out = {v: {split: {"per_seed": {}} for split in splits} for v in variants}
    for v in variants:
        design = cfg.curriculum.variants[v].design

        def one(seed, v=v, design=design):  # on the CPU every seed at once, one thread each (`per_seed`)
            with LOAD_LOCK:
                model, codec = run_model(cfg, variant_run(cfg, v).name, seed, train_dir)
                for split in splits if not sets else ():  # encoded once, with the first model's codec
                    a = load_split(cfg.data.root, split, cfg.curriculum.size, cfg.data.cache_views)
                    sets[split] = (encode_clips(codec, a["rgb"], a["pose"], a["reference"], rcm=a["rcm"],
                                                cache_rgb=a["cache_rgb"], cache_rcm=a["cache_rcm"]),
                                   object_region(a["rcm"], codec))
            device = next(model.parameters()).device
            return {split: train_condition_usage(model, data.video.to(device), drop_conditions(data.cond, design).to(device),
                                                 region.to(device), sigmas)
                    for split, (data, region) in sets.items()}

        for seed, usage in per_seed(cfg, one, cfg.curriculum.seeds)[0].items():
            for split in sets:
                out[v][split]["per_seed"][seed] = usage[split]
        for split, (data, region) in sets.items():
            per_seed_usage = out[v][split]["per_seed"]
            first = per_seed_usage[cfg.curriculum.seeds[0]]
            out[v][split].update(clips=len(data), object_fraction=region.float().mean().item(),
                                 mean={s: {k: float(np.mean([per_seed_usage[x][s][k] for x in per_seed_usage]))
                                           for k in first[s]} for s in sigmas})
    return out


# ---------------------------------------------------------------------------------- training


def _train_config(cfg: Config, steps: int, lr: float, seed: int) -> TrainConfig:
    c = cfg.curriculum
    return TrainConfig(steps=steps, batch_size=c.batch_size, lr=lr, grad_accum=c.grad_accum, shift=c.shift,
                       ref_dropout=c.ref_dropout, checkpoint_every=c.checkpoint_every,
                       gradient_checkpointing=c.gradient_checkpointing, offload_activations=c.offload_activations,
                       seed=seed)


def run_seed(name: str, seed: int) -> int:
    """A training seed per (run, seed): different runs draw different batches and noise."""
    return int(hashlib.sha256(f"{name}/{seed}".encode()).hexdigest()[:7], 16)


def base_train_config(cfg: Config) -> TrainConfig:
    """The base's training recipe, params.yaml `base`: steps, lr and schedule, batch, shift, EMA."""
    b = cfg.base
    return replace(_train_config(cfg, b.steps, b.lr, run_seed(BASE, cfg.seed)), batch_size=b.batch_size, shift=b.shift,
                   lr_schedule=b.lr_schedule, warmup_steps=b.warmup, ema_decay=b.ema)


def pretrain_base(cfg: Config, train_dir: Path = TRAIN_DIR, ckpt_dir: Path = CKPT_DIR, corpus_dir: Path | None = None,
                  progress: bool = True) -> dict:
    """Pretrain the tiny backbone in full on its own corpus of Stage I-III-like videos (module docstring).

    The condition channels are not used (the fusion stays the identity); only the reference frame
    prefix conditions the video. Section `base` of params.yaml: steps, learning rate and schedule,
    and the EMA of the weights it is saved with. Writes `base/transformer` (diffusers format) and
    the null prompt.
    """
    if cfg.model.checkpoint is not None:
        raise ValueError("model.checkpoint is set: the base is the real Wan2.1 checkpoint, nothing to pretrain "
                         "(set base.steps: 0)")
    corpus = base_corpus(cfg, Path(corpus_dir or Path(ckpt_dir).parent / CORPUS_DIR.name), progress)
    model, codec = build_model(cfg.model, seed=cfg.seed)
    model.fusion.requires_grad_(False)  # the fusion stays the identity: the base trains the backbone alone
    data, tc = base_data(corpus, codec), base_train_config(cfg)
    result = train(model, data, tc, Path(ckpt_dir) / BASE, desc="base (pretraining stand-in)", run_id=BASE,
                   progress=progress)
    if not result["is_main_process"]:
        return {**result, "clips": len(data), "lr": tc.lr}
    out = Path(train_dir) / BASE
    model.transformer.save_pretrained(out / "transformer")
    save_file({"null_text": model.null_text.detach().contiguous()}, out / "null_text.safetensors")
    shutil.copy(Path(ckpt_dir) / BASE / "loss.csv", out / "loss.csv")
    discard_checkpoint(Path(ckpt_dir) / BASE)  # finished: a rerun trains again
    return {**result, "clips": len(data), "lr": tc.lr}


def train_stage(cfg: Config, name: str, seed: int, train_dir: Path = TRAIN_DIR, ckpt_dir: Path = CKPT_DIR,
                progress: bool = True) -> dict:
    """Train one run of the plan for one seed; writes `<run>/seed<k>/adapters` and `loss.csv`."""
    runs = plan_runs(cfg)
    if name not in runs:
        raise KeyError(f"unknown run {name!r}; the plan of params.yaml has {list(runs)}")
    run = runs[name]
    with LOAD_LOCK:
        model, codec = stage_model(cfg, run, seed, train_dir)
        data = split_latents(cfg, run.stage, codec, run.design)
    tc = _train_config(cfg, cfg.curriculum.steps[run.stage], cfg.curriculum.lr, run_seed(name, seed))
    work = Path(ckpt_dir) / name / f"seed{seed}"
    result = train(model, data, tc, work, desc=f"{name} seed {seed}", run_id=f"{name}/{seed}", progress=progress)
    if result["is_main_process"]:  # under `accelerate launch`, one process writes
        out = Path(train_dir) / name / f"seed{seed}"
        save_adapters(model, out / "adapters")
        shutil.copy(work / "loss.csv", out / "loss.csv")
        discard_checkpoint(work)  # finished: a rerun (`dvc repro -f`) trains again
    return {**result, "clips": len(data)}


def run_summary(cfg: Config, name: str, results: dict[int, dict], wall: float | None = None) -> dict:
    """What a run's metrics file records (the tables cite its times and step counts)."""
    run = plan_runs(cfg).get(name)
    seeds = sorted(results)
    return {
        "run": name, "stage": run.stage if run else None, "design": run.design if run else None,
        "parent": run.parent if run else None, "steps": results[seeds[0]]["steps"], "clips": results[seeds[0]]["clips"],
        "seeds": seeds, "seconds_per_seed": [round(results[s]["seconds"], 2) for s in seeds],
        "wall_seconds": round(wall if wall is not None else sum(results[s]["seconds"] for s in seeds), 2),
        "final_loss_per_seed": [results[s]["final_loss"] for s in seeds],
        "resumed_from_per_seed": [results[s]["resumed_from"] for s in seeds],
        "start_per_seed": [results[s].get("start", "fresh") for s in seeds],
        "torch_threads": 1 if name != BASE and seeds_at_once(cfg) else torch.get_num_threads(),
        "seeds_at_once": name != BASE and seeds_at_once(cfg),
        "processes": results[seeds[0]].get("processes", 1),
    }


def loss_curves(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"seed<k>": (steps, losses)} from a run folder's `seed*/loss.csv` (or its own `loss.csv` for base)."""
    folder = Path(folder)
    files = sorted(folder.glob("seed*/loss.csv")) or [folder / "loss.csv"]
    curves = {}
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no loss curve (has the run been trained?)")
        a = np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)
        curves[f.parent.name if f.parent != folder else folder.name] = (a[:, 0].astype(int), a[:, 1])
    return curves


def write_mean_loss(path: str | Path, curves: dict) -> None:
    """step,loss with the loss averaged over seeds: the curve `dvc plots` shows per run."""
    steps = min((s for s, _ in curves.values()), key=len)
    mean = np.mean([l[: len(steps)] for _, l in curves.values()], axis=0)
    Path(path).write_text("step,loss\n" + "".join(f"{s},{l:.6f}\n" for s, l in zip(steps, mean)))


def write_json(path: str | Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def train_run(cfg: Config, name: str, progress: bool = True) -> dict:
    """Train run `name` (or `base`) for every seed; write `metrics/train/<name>.json` and the loss
    curve averaged over seeds, `metrics/train/<name>-loss.csv`. Returns the summary.

    The DVC stages `train@<run>` call this through `python -m byteloom.curriculum --run <run>`;
    lesson 4 (`notebooks/04_train.ipynb`) calls it too and shows what it wrote."""
    wall = None
    if name == BASE:
        if cfg.model.checkpoint is not None:  # paper scale: the base is the real checkpoint
            write_json(TRAIN_DIR / BASE / "base.json", {"checkpoint": cfg.model.checkpoint})
            results = {cfg.seed: {"steps": 0, "final_loss": None, "seconds": 0.0, "resumed_from": 0, "clips": 0,
                                  "start": "Wan2.1 checkpoint, not trained", "is_main_process": True}}
        else:
            results = {cfg.seed: pretrain_base(cfg, progress=progress)}
    else:
        results, wall = per_seed(cfg, lambda seed: train_stage(cfg, name, seed, progress=progress), cfg.curriculum.seeds)
    summary = run_summary(cfg, name, results, wall)
    if all(r.get("is_main_process", True) for r in results.values()):
        write_json(METRICS_DIR / f"{name}.json", summary)
        if cfg.model.checkpoint is None or name != BASE:  # a checkpoint base has no loss curve
            write_mean_loss(METRICS_DIR / f"{name}-loss.csv", loss_curves(TRAIN_DIR / name))
    return summary


def read_summary(name: str, metrics_dir: Path = METRICS_DIR) -> dict:
    """The summary `train_run` wrote for a finished run (`metrics/train/<run>.json`)."""
    path = Path(metrics_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run {name!r} has not been trained (`dvc repro train@{name}`, "
                                f"or `python -m byteloom.curriculum --run {name}`)")
    return json.loads(path.read_text())


def run_records(cfg: Config, metrics_dir: Path = METRICS_DIR) -> list[dict]:
    """One row per run of the plan (base first) that has a summary: what lesson 4 tabulates.

    {"run", "stage", "design", "steps", "clips", "seeds", "wall_seconds", "final_loss"}: the final
    loss averaged over seeds (None for a checkpoint base). Summaries written before wall times were
    recorded (the committed base's) give the sum of the seeds' seconds."""
    rows = []
    for name in [BASE, *plan_runs(cfg)]:
        if not (Path(metrics_dir) / f"{name}.json").is_file():
            continue
        s = read_summary(name, metrics_dir)
        losses = [x for x in s["final_loss_per_seed"] if x is not None]
        rows.append({"run": name, "stage": s["stage"], "design": s["design"], "steps": s["steps"], "clips": s["clips"],
                     "seeds": len(s["seeds"]), "wall_seconds": s.get("wall_seconds", sum(s["seconds_per_seed"])),
                     "final_loss": float(np.mean(losses)) if losses else None})
    return rows


def launch(cfg: Config, name: str, params_file: str | Path) -> dict:
    """Train a run in this process, or, with `curriculum.processes` > 1, on that many processes
    (GPUs) through `accelerate launch` (its settings: `accelerate config`, README "Paper scale")."""
    if cfg.curriculum.processes <= 1:
        return train_run(cfg, name)
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(cfg.curriculum.processes),
           "-m", "byteloom.curriculum", "--run", name, "--params", str(params_file)]
    subprocess.run(cmd, check=True)
    return read_summary(name)


def main(argv=None) -> None:
    import argparse

    from .config import load_config

    ap = argparse.ArgumentParser(description="Train one curriculum run for every seed (see notebooks/04_train.ipynb).")
    ap.add_argument("--run", required=True, help="base or a run of byteloom.curriculum.plan_runs(params)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    cfg = load_config(args.params)
    if args.run != BASE and args.run not in plan_runs(cfg):
        ap.error(f"--run {args.run!r} is not in the plan of {args.params}: {[BASE, *plan_runs(cfg)]}")
    train_run(cfg, args.run)


if __name__ == "__main__":
    main()
