"""LoRA fine-tuning with rectified flow (flow matching), as Wan2.1 is trained (paper §3.1, §3.3).

    x_σ = (1 − σ) x₀ + σ ε,   the model predicts v = ε − x₀,   loss = ‖v̂ − v‖² on video frames.

u ∈ [0, 1] is drawn uniformly (or logit-normal, as SD3 trains) and shifted towards noise as Wan
does: σ = s u / (1 + (s − 1) u). Only the LoRA layers (peft), the fusion MLP and the null prompt
train; the backbone is frozen (the tiny base's pretraining trains it in full). Optional, as the
field trains small diffusion models: a learning-rate schedule with warm-up (`diffusers.optimization`)
and an exponential moving average of the trained weights (`diffusers.training_utils.EMAModel`),
which the run ends on (the saved weights are the EMA's).

Runs are deterministic per step: the batch and the noise of step k come from a generator seeded
by (seed, k), so a run killed and resumed from its checkpoint reaches the same parameters as an
uninterrupted one. Checkpoints are written atomically (temp file + rename).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from accelerate import Accelerator
from diffusers import WanPipeline
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .config import TrainConfig
from .model import ByteLoomModel, Conditions, LatentFusion, autocast, half_frozen

# ---------------------------------------------------------------------------------- LoRA


def add_lora(model: ByteLoomModel, rank: int, alpha: float, targets) -> None:
    """Freeze the backbone and add LoRA layers (peft, through diffusers' `add_adapter`)."""
    names = {n for n, _ in model.transformer.named_modules()}
    for t in targets:
        if not any(n == t or n.endswith("." + t) for n in names):
            raise ValueError(f"LoRA target {t!r} matches no module of the backbone (e.g. 'attn1.to_q', 'ffn.net.0.proj')")
    model.transformer.requires_grad_(False)
    model.transformer.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), init_lora_weights=True))


def parameter_counts(model: ByteLoomModel) -> dict[str, int]:
    """Trainable parameters by part, and the frozen backbone's size."""
    lora = sum(p.numel() for n, p in model.transformer.named_parameters() if "lora_" in n)
    base = sum(p.numel() for n, p in model.transformer.named_parameters() if "lora_" not in n)
    fusion = sum(p.numel() for p in model.fusion.parameters())
    return {"lora": lora, "fusion": fusion, "null_text": model.null_text.numel(),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad), "backbone": base}


def save_adapters(model: ByteLoomModel, folder: str | Path) -> None:
    """Write the LoRA in diffusers' format (`pytorch_lora_weights.safetensors`, readable by
    `WanPipeline.load_lora_weights`), the fusion MLP (`fusion/`, `save_pretrained`) and the prompt."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    WanPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(model.transformer))
    model.fusion.save_pretrained(folder / "fusion")
    save_file({"null_text": model.null_text.detach().contiguous()}, folder / "null_text.safetensors")


def load_adapters(model: ByteLoomModel, folder: str | Path) -> None:
    """Load what `save_adapters` wrote into a model that already has the same LoRA layers."""
    folder = Path(folder)
    lora_file = folder / "pytorch_lora_weights.safetensors"
    for f in (lora_file, folder / "fusion" / "config.json", folder / "null_text.safetensors"):
        if not f.exists():
            raise FileNotFoundError(f"{folder}: not a ByteLoom adapter folder ({f.name} missing)")
    state = {k.removeprefix("transformer."): v for k, v in load_file(lora_file).items()}
    result = set_peft_model_state_dict(model.transformer, state)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"{lora_file}: LoRA keys do not fit this model's adapters: {result.unexpected_keys[:3]}...")
    fusion = LatentFusion.from_pretrained(folder / "fusion")
    model.fusion.load_state_dict(fusion.state_dict())
    model.null_text.data.copy_(load_file(folder / "null_text.safetensors")["null_text"])


# ---------------------------------------------------------------------------------- data


@dataclass
class LatentClips:
    """Cached latents of N training clips: video (N, C, T, h, w) and their Conditions (N, ...)."""

    video: torch.Tensor
    cond: Conditions

    def __len__(self) -> int:
        return len(self.video)

    def batch(self, generator: torch.Generator, size: int) -> tuple[torch.Tensor, Conditions]:
        idx = torch.randint(len(self), (size,), generator=generator)
        return self.video[idx], self.cond.select(idx)


def frames_to_tensor(frames) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 frames → (N, 3, T, H, W) float in [-1, 1], the codec's input."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames))  # a writable copy
    if x.dtype != torch.uint8 or x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (N, T, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    return x.permute(0, 4, 1, 2, 3).float() / 127.5 - 1


def tensor_to_frames(x: torch.Tensor):
    """Inverse of `frames_to_tensor` (clamped, rounded)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()


@torch.no_grad()
def encode_clips(codec, rgb, pose, reference, rcm=None, cache_rgb=None, cache_rcm=None, batch: int = 8) -> LatentClips:
    """Encode clips once (the latent cache: the codec never runs inside a training step).

    rgb/pose/rcm: (N, T, H, W, 3) uint8; reference: (N, H, W, 3); cache_*: (N, V, H, W, 3).
    Images and cache views are encoded one frame each.
    """
    def enc(frames):
        return None if frames is None else torch.cat([codec.encode(frames_to_tensor(frames[i:i + batch]))
                                                       for i in range(0, len(frames), batch)])
    n = len(rgb)
    for name, a in [("pose", pose), ("reference", reference), ("rcm", rcm), ("cache_rgb", cache_rgb), ("cache_rcm", cache_rcm)]:
        if a is not None and len(a) != n:
            raise ValueError(f"{name} has {len(a)} clips but rgb has {n}")

    def enc_views(views):  # each view is a separate one-frame video
        if views is None:
            return None
        v = views.shape[1]
        z = enc(views.reshape(-1, 1, *views.shape[2:]))
        return z.reshape(n, v, *z.shape[1:]).squeeze(3).permute(0, 2, 1, 3, 4)

    cond = Conditions(ref=enc(np.asarray(reference)[:, None]), pose=enc(pose), rcm=enc(rcm),
                      cache_rgb=enc_views(cache_rgb), cache_rcm=enc_views(cache_rcm))
    return LatentClips(enc(rgb), cond)


# ---------------------------------------------------------------------------------- training


def offloaded_checkpoint(block, hidden_states: torch.Tensor, *args):
    """Gradient checkpointing whose one saved tensor per block, its input, waits on the CPU.

    A `gradient_checkpointing_func` for diffusers' `enable_gradient_checkpointing`. Plain
    checkpointing keeps every block's input on the GPU (at 480x832x81, 30 x 40 k tokens x 1536
    floats: most of the memory a 1.3B LoRA step needs); here the input is copied to the CPU and
    brought back when backward recomputes the block. Shared inputs (timestep embedding, prompt,
    rotary tables) stay where they are. Gradients are those of plain checkpointing.
    """
    device = hidden_states.device
    parked = hidden_states.to("cpu")  # (on a CPU run this is the same tensor: same code, nothing moves)
    return torch.utils.checkpoint.checkpoint(lambda h, *a: block(h.to(device), *a), parked, *args, use_reentrant=False)


def shifted_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    """Wan's timestep shift: σ = s u / (1 + (s − 1) u), u ∈ [0, 1]."""
    return shift * u / (1 + (shift - 1) * u)


SIGMA_SAMPLING = ("uniform", "logit_normal")


def draw_u(b: int, generator: torch.Generator, how: str = "uniform") -> torch.Tensor:
    """u ∈ (0, 1) before the shift: uniform, or logit-normal (SD3: sigmoid of a standard normal,
    which puts more steps at mid noise and fewer at the extremes)."""
    if how == "uniform":
        return torch.rand(b, generator=generator)
    if how == "logit_normal":
        return torch.sigmoid(torch.randn(b, generator=generator))
    raise ValueError(f"sigma_sampling {how!r} is not one of {SIGMA_SAMPLING}")


def flow_matching_loss(model, x0: torch.Tensor, cond: Conditions, generator: torch.Generator, cfg: TrainConfig):
    """One rectified-flow loss on the video frames (module docstring)."""
    b = x0.shape[0]
    sigma = shifted_sigmas(draw_u(b, generator, cfg.sigma_sampling), cfg.shift).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    keep = (torch.rand(b, generator=generator) >= cfg.ref_dropout).to(x0.device)
    cond = Conditions(**{**vars(cond), "ref": cond.ref * keep.view(b, 1, 1, 1, 1)})
    s = sigma.view(b, 1, 1, 1, 1)
    pred = model((1 - s) * x0 + s * noise, sigma, cond)
    return F.mse_loss(pred.float(), (noise - x0).float())


@torch.no_grad()
def denoising_error(model, x0: torch.Tensor, cond: Conditions, sigmas=(0.05, 0.2, 0.6, 0.95), seed: int = 0) -> dict:
    """How well the model recovers clean latents at each noise level: per σ, the mean squared error
    of its one-step estimate x̂₀ = x_σ − σ v̂, beside two models that learned nothing: "keep x_σ"
    (the noisy input itself, error σ²(1 + E x₀²) on average) and "mean" (the mean latent frame of
    `x0`). A model that beats "keep" at small σ removes fine noise; one that beats "mean" at large
    σ has learned the conditions' content. Fixed noise (`seed`), so runs compare."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=g).to(x0.device)
    mean = x0.mean(dim=(0, 2), keepdim=True)
    out = {}
    for s in sigmas:
        xs = (1 - s) * x0 + s * noise
        with autocast(model, x0.device):
            v = model(xs, torch.full((len(x0),), float(s), device=x0.device), cond).float()
        est = xs - s * v
        out[float(s)] = {"model": (est - x0).pow(2).mean().item(), "keep": (xs - x0).pow(2).mean().item(),
                         "mean": (mean - x0).pow(2).mean().item()}
    return out


@torch.no_grad()
def condition_usage(model, x0: torch.Tensor, cond: Conditions, region: torch.Tensor, sigmas=(0.6, 0.9),
                    seed: int = 0) -> dict:
    """Does a trained model use its object conditions (paper §3.1: per-frame RCM and RCM-cache)?

    Per σ, the mean squared error of the one-step estimate x̂₀ = x_σ − σ v̂ inside `region`
    (B, 1, T, h, w), e.g. the object's latent positions, with each clip's own conditions ("own")
    and with the per-frame RCM, the cache, or both taken from the next clip of the batch ("*_swapped";
    the batch is rolled by one, so clips should differ). A model that ignores a condition scores
    the same with it swapped; one that relies on it scores worse. Absent conditions are skipped.
    """
    if len(x0) < 2:
        raise ValueError("condition_usage needs at least 2 clips (conditions are swapped between clips)")
    if region.shape != (x0.shape[0], 1, *x0.shape[2:]) or not region.any():
        raise ValueError(f"region must be a non-empty (B, 1, T, h, w) mask for latents {tuple(x0.shape)}, "
                         f"got {tuple(region.shape)}")
    roll = lambda t: None if t is None else t.roll(1, 0)  # noqa: E731
    options = {"own": cond}
    if cond.rcm is not None:
        options["rcm_swapped"] = replace(cond, rcm=roll(cond.rcm))
    if cond.cache_rgb is not None:
        options["cache_swapped"] = replace(cond, cache_rgb=roll(cond.cache_rgb), cache_rcm=roll(cond.cache_rcm))
    if cond.rcm is not None and cond.cache_rgb is not None:
        options["both_swapped"] = replace(cond, rcm=roll(cond.rcm), cache_rgb=roll(cond.cache_rgb),
                                          cache_rcm=roll(cond.cache_rcm))
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=g).to(x0.device)
    w = region.to(x0.dtype)
    out = {}
    for s in sigmas:
        xs = (1 - s) * x0 + s * noise
        sigma = torch.full((len(x0),), float(s), device=x0.device)
        out[float(s)] = {}
        for k, c in options.items():
            with autocast(model, x0.device):
                v = model(xs, sigma, c).float()
            out[float(s)][k] = ((xs - s * v - x0).pow(2).mean(1, keepdim=True) * w).sum().item() / w.sum().item()
    return out


def _step_generator(seed: int, step: int, micro: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step * 101 + micro)


def fingerprint(*parts) -> str:
    """A short hash of everything that defines a run, stored in its checkpoint."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


PACKAGE_DIR = Path(__file__).resolve().parent


def code_digest(names=None) -> str:
    """Hash of the code that defines a run: every source file of the `byteloom` package (model,
    loss, fusion, conditioning, data loading...), or only the files and folders `names` of it, and
    the versions of torch, diffusers and peft. A checkpoint written by other code is never
    resumed: changed code retrains from scratch."""
    import diffusers
    import peft

    h = hashlib.sha256(f"torch {torch.__version__} diffusers {diffusers.__version__} peft {peft.__version__}".encode())
    files = (sorted(PACKAGE_DIR.rglob("*.py")) if names is None else
             [f for n in sorted(set(names)) for f in ([PACKAGE_DIR / n] if n.endswith(".py") else sorted((PACKAGE_DIR / n).rglob("*.py")))])
    for f in files:
        h.update(f.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def tensor_digest(*tensors) -> str:
    """A content hash of tensors (None allowed): what a run starts from must be part of its identity."""
    h = hashlib.sha256()
    for t in tensors:
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.float().numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes())
    return h.hexdigest()[:16]


def start_digest(model, data: "LatentClips") -> str:
    """Hash of the data and of the model's starting point: the trainable values and a summary (shape,
    sum, norm) of each frozen weight, so a changed backbone or parent adapter starts a new run."""
    frozen = torch.tensor([[p.numel(), p.double().sum().item(), p.double().norm().item()]
                           for p in model.parameters() if not p.requires_grad] or [[0.0, 0.0, 0.0]])
    c = data.cond
    return tensor_digest(data.video, c.ref, c.pose, c.rcm, c.cache_rgb, c.cache_rcm, frozen,
                         *trainable_state(model).values())


def train(model: ByteLoomModel, data: LatentClips, cfg: TrainConfig, workdir: str | Path, desc: str = "train",
          run_id: str = "", progress: bool = True) -> dict:
    """Train `model`'s trainable parameters for `cfg.steps` steps; resumable from `workdir`.

    Writes `workdir/checkpoint.pt` every `cfg.checkpoint_every` steps and `workdir/loss.csv`.
    A checkpoint exists only while a run is unfinished: the caller removes it once the run's
    outputs are written (`discard_checkpoint`), so a finished run is never resumed and a rerun
    trains from scratch. A run is identified by `run_id`, `cfg`, the data, the model's starting
    weights (`start_digest`) and the code (`code_digest`); a checkpoint of another run is not
    resumed but moved aside to `checkpoint.pt.stale`, and the result says why.
    Returns {"steps", "final_loss", "seconds", "resumed_from", "start"}: "start" is "fresh",
    "resumed at step k" or "fresh (checkpoint of other <parts> set aside)", parts among run,
    config, inputs (data and starting weights) and code; "seconds" counts this call only.
    Raises FloatingPointError on a non-finite loss (nothing further is written).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = workdir / "checkpoint.pt"
    mp = ("bf16" if torch.cuda.is_available() else "no") if cfg.mixed_precision == "auto" else cfg.mixed_precision
    accelerator = Accelerator(mixed_precision=mp)
    if mp in ("bf16", "fp16"):  # frozen weight matrices in half precision; trained ones stay fp32
        half_frozen(model, torch.bfloat16 if mp == "bf16" else torch.float16)
    if cfg.offload_activations:
        model.transformer.enable_gradient_checkpointing(offloaded_checkpoint)
    elif cfg.gradient_checkpointing:
        model.transformer.enable_gradient_checkpointing()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = "constant_with_warmup" if cfg.lr_schedule == "constant" and cfg.warmup_steps else cfg.lr_schedule
    sched = get_scheduler(schedule, opt, num_warmup_steps=cfg.warmup_steps, num_training_steps=max(cfg.steps, 1))
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    identity = {"run": run_id, "config": fingerprint(asdict(cfg)), "inputs": start_digest(model, data),
                "code": code_digest()}
    run = fingerprint(identity)
    start, log, how = 0, [], "fresh"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt.get("run") == run:
            model.load_state_dict(ckpt["trainable"], strict=False)
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["lr_schedule"])
            if ema is not None:
                ema.load_state_dict(ckpt["ema"])
            start, log = ckpt["step"], ckpt["log"]
            how = f"resumed at step {start}"
        else:
            old = ckpt.get("identity", {})
            changed = [k for k in identity if old.get(k) != identity[k]] or ["unknown"]
            os.replace(ckpt_path, workdir / "checkpoint.pt.stale")
            how = f"fresh (checkpoint of other {'/'.join(changed)} set aside)"
    model, opt = accelerator.prepare(model, opt)
    if ema is not None:
        ema.to(accelerator.device)
    model.train()
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), desc=desc, initial=start, total=cfg.steps, dynamic_ncols=True,
               disable=not (progress and accelerator.is_main_process))
    for step in bar:
        total = 0.0
        for micro in range(cfg.grad_accum):
            # every process (GPU) of an `accelerate launch` draws its own share of the batch
            g = _step_generator(cfg.seed, step, micro * accelerator.num_processes + accelerator.process_index)
            x0, cond = data.batch(g, cfg.batch_size)
            with accelerator.autocast():
                loss = flow_matching_loss(model, x0.to(accelerator.device), cond.to(accelerator.device), g, cfg)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step}; stopping without "
                                         f"writing adapters (last good checkpoint: {ckpt_path if ckpt_path.exists() else 'none'})")
            accelerator.backward(loss / cfg.grad_accum)
            total += loss.item() / cfg.grad_accum
        accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(params)
        log.append((step + 1, total))
        bar.set_postfix(loss=f"{total:.4f}", refresh=False)
        if accelerator.is_main_process and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            _save_checkpoint(ckpt_path, run, identity, step + 1, accelerator.unwrap_model(model), opt, log,
                             lr_schedule=sched.state_dict(), ema=None if ema is None else ema.state_dict())
    bar.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_loss_csv(workdir / "loss.csv", log)
    model = accelerator.unwrap_model(model)
    if ema is not None:  # the run ends on the averaged weights: they are what gets saved and sampled
        ema.copy_to(params)
    model.eval()
    return {"steps": cfg.steps, "final_loss": log[-1][1] if log else None, "seconds": time.time() - t0,
            "resumed_from": start, "start": how, "processes": accelerator.num_processes, "is_main_process": accelerator.is_main_process}


def _save_checkpoint(path: Path, run: str, identity: dict, step: int, model, opt, log, **states) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"run": run, "identity": identity, "step": step, "trainable": trainable_state(model),
                "optimizer": opt.state_dict(), "log": list(log), **states}, tmp)
    os.replace(tmp, path)


def discard_checkpoint(workdir: str | Path) -> None:
    """Mark a run finished once its outputs are written: its checkpoints go, so it is never resumed
    (a forced rerun, `dvc repro -f`, trains again instead of returning the old result)."""
    for name in ("checkpoint.pt", "checkpoint.pt.stale", "checkpoint.tmp"):
        Path(workdir, name).unlink(missing_ok=True)


def write_loss_csv(path: Path, log) -> None:
    """step,loss rows: the curve `dvc plots` draws."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss"])
        w.writerows((s, f"{l:.6f}") for s, l in log)
