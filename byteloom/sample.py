"""Sampling with diffusers' flow-matching schedulers, and multi-segment long videos (paper §3.1, §4).

`sample` integrates the learned velocity field from noise (σ = 1) to data (σ = 0) with
FlowMatchEulerDiscreteScheduler or UniPCMultistepScheduler (flow sigmas, as WanPipeline does).
Classifier-free guidance on the human reference: v = v_uncond + w (v_cond − v_uncond), where the
unconditional branch zeroes the reference (training drops it with probability `ref_dropout`).

`sample_long` is the paper's multi-segment inference for videos longer than one window: each
later segment re-uses the last `overlap` latent frames of the previous one as known frames. At
every step those frames are reset to the known frames noised to the current σ (the known part
ends exactly equal to them), so the new segment continues the previous one.
"""
from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

from .config import SCHEDULERS
from .model import ByteLoomModel, Conditions, autocast



def make_scheduler(name: str, shift: float):
    """A diffusers flow-matching scheduler with Wan's timestep shift."""
    if name == "euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    if name == "unipc":
        return UniPCMultistepScheduler(num_train_timesteps=1000, prediction_type="flow_prediction",
                                       use_flow_sigmas=True, flow_shift=shift)
    raise ValueError(f"unknown scheduler {name!r}; choose one of {SCHEDULERS}")


@torch.no_grad()
def sample(model: ByteLoomModel, cond: Conditions, frames: int, steps: int = 20, scheduler: str = "unipc",
           shift: float = 3.0, guidance: float = 1.0, seed: int = 0, known: torch.Tensor | None = None) -> torch.Tensor:
    """Generate video latents (B, C, frames, h, w) for `cond`; `known` fixes the first frames."""
    b, c, _, h, w = cond.ref.shape
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((b, c, frames, h, w), generator=g).to(device)
    noise_known = torch.randn((b, c, 0 if known is None else known.shape[2], h, w), generator=g).to(device)
    sched = make_scheduler(scheduler, shift)
    sched.set_timesteps(steps, device=device)
    cond = cond.to(device)
    known = None if known is None else known.to(device)
    uncond = Conditions(**{**vars(cond), "ref": torch.zeros_like(cond.ref)})

    def velocity(x, sigma, c):  # a model placed in mixed precision (`place`) runs under autocast
        with autocast(model, device):
            return model(x, sigma, c).float()

    model.eval()
    for i, t in enumerate(sched.timesteps):
        sigma = (t / 1000).expand(b).to(device)
        if known is not None:
            k = known.shape[2]
            x[:, :, :k] = (1 - sigma.view(b, 1, 1, 1, 1)) * known + sigma.view(b, 1, 1, 1, 1) * noise_known
        v = velocity(x, sigma, cond)
        if guidance != 1.0:
            v_u = velocity(x, sigma, uncond)
            v = v_u + guidance * (v - v_u)
        x = sched.step(v, t, x).prev_sample
    if known is not None:
        x[:, :, : known.shape[2]] = known
    return x


def _slice(cond: Conditions, start: int, stop: int) -> Conditions:
    per_frame = {k: (v[:, :, start:stop] if k in ("pose", "rcm") and v is not None else v) for k, v in vars(cond).items()}
    return Conditions(**per_frame)


@torch.no_grad()
def sample_long(model: ByteLoomModel, cond: Conditions, window: int, overlap: int = 1, **kw) -> torch.Tensor:
    """Multi-segment inference over all frames of `cond.pose` in windows of `window` latent frames."""
    total = cond.pose.shape[2]
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, window), got overlap={overlap}, window={window}")
    if total <= window:
        return sample(model, cond, total, **kw)
    out = sample(model, _slice(cond, 0, window), window, **kw)
    start = window - overlap
    seg = 1
    while out.shape[2] < total:
        stop = min(start + window, total)
        known = out[:, :, start: start + overlap] if overlap else None
        kw_seg = {**kw, "seed": kw.get("seed", 0) + seg}
        new = sample(model, _slice(cond, start, stop), stop - start, known=known, **kw_seg)
        out = torch.cat([out[:, :, :start + overlap], new[:, :, overlap:]], dim=2)
        start, seg = stop - overlap, seg + 1
    return out
