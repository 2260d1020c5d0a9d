"""The GPU path, run on a lent GPU: the code a researcher runs at paper scale, on CUDA, end to end.

    python benchmarks/gpu_check.py            # -> benchmarks/results/gpu_check.json (also runs on a CPU, slowly)

1. Checkpoint path with a tiny Wan2.1-format checkpoint (transformer + AutoencoderKLWan written with
   `save_pretrained`, loaded by `build_model` with `model.checkpoint` and `codec: wan_vae`): the VAE
   encodes clips where it was placed (the GPU), `train` runs under accelerate in bf16 with gradient
   checkpointing, the loss falls on a fixed batch, a killed run resumes to the same parameters,
   saved adapters load into a fresh placed model with the same outputs, `sample_long` (UniPC and
   Euler) gives the requested length and the VAE decodes it.
2. The real trainer (`byteloom.train.train`, not a re-implementation) on the Wan2.1-1.3B
   architecture with random weights at 480x832x81 with a 4-view cache: peak memory and step time;
   and with a 9-view cache and `offload_activations` (checkpointed block inputs parked on the CPU).
   `benchmarks/bench_model.py --gpu-only` measures more sizes with a bare training step.
Each check records what it measured; failures are recorded, not hidden.
"""
from __future__ import annotations

import json
import platform
import tempfile
import time
import traceback
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "gpu_check.json"
CUDA = torch.cuda.is_available()


def peak_gib() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if CUDA else None


def reset_peak() -> None:
    if CUDA:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def tiny_checkpoint(root: Path) -> Path:
    """A Wan2.1-format folder (transformer/, vae/) with tiny random weights."""
    from diffusers import AutoencoderKLWan

    from byteloom.model import tiny_transformer

    tiny_transformer(16, heads=2, head_dim=32, layers=2, ffn_dim=128, text_dim=64).save_pretrained(root / "transformer")
    torch.manual_seed(0)
    AutoencoderKLWan(base_dim=32, z_dim=16, num_res_blocks=1).save_pretrained(root / "vae")
    return root


def check_checkpoint_path(work: Path) -> dict:
    import dataclasses

    from byteloom.config import TrainConfig, load_config
    from byteloom.model import build_model, place
    from byteloom.sample import sample_long
    from byteloom.train import LatentClips, add_lora, encode_clips, load_adapters, save_adapters, train, trainable_state

    cfg = load_config(Path(__file__).parents[1] / "params.yaml")
    mcfg = dataclasses.replace(cfg.model, checkpoint=str(tiny_checkpoint(work / "wan")), codec="wan_vae", text_len=4)
    out = {}
    model, codec = build_model(mcfg)
    out["vae_device"] = str(next(codec.parameters()).device)
    rng = torch.Generator().manual_seed(0)
    n, frames, hw, views = 2, 9, 64, 2
    u8 = lambda *s: torch.randint(0, 256, s, generator=rng, dtype=torch.uint8).numpy()  # noqa: E731
    rcm = u8(n, frames, hw, hw, 3)
    data = encode_clips(codec, rgb=rcm // 2 + 64, pose=u8(n, frames, hw, hw, 3), reference=u8(n, hw, hw, 3), rcm=rcm,
                        cache_rgb=u8(n, views, hw, hw, 3), cache_rcm=u8(n, views, hw, hw, 3))
    out["latent_video"] = list(data.video.shape)

    def fresh():
        m, _ = build_model(mcfg)
        torch.manual_seed(1)
        add_lora(m, 8, 8, ["attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0"])
        return m

    tc = TrainConfig(steps=60, batch_size=2, lr=3e-3, ref_dropout=0.0, checkpoint_every=10, gradient_checkpointing=True)
    reset_peak()
    m = fresh()
    info = train(m, data, tc, work / "run_a", progress=False)
    losses = [float(r.split(",")[1]) for r in (work / "run_a" / "loss.csv").read_text().split()[1:]]
    out["train"] = {"device": str(next(m.parameters()).device), "seconds": info["seconds"],
                    "loss_first10": sum(losses[:10]) / 10, "loss_last10": sum(losses[-10:]) / 10,
                    "frozen_dtype": str(m.transformer.blocks[0].attn1.to_q.base_layer.weight.dtype),
                    "peak_gib": peak_gib()}
    out["train"]["loss_fell"] = out["train"]["loss_last10"] < out["train"]["loss_first10"]

    class KillAt(LatentClips):
        def batch(self, generator, size):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls > 35:
                raise KeyboardInterrupt("simulated kill")
            return super().batch(generator, size)

    try:
        train(fresh(), KillAt(data.video, data.cond), tc, work / "run_b", progress=False)
    except KeyboardInterrupt:
        pass
    resumed = fresh()
    info_b = train(resumed, data, tc, work / "run_b", progress=False)
    a, b = trainable_state(m), trainable_state(resumed)
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    out["resume"] = {"resumed_from": info_b["resumed_from"], "max_abs_param_diff": diff, "same": diff < 1e-5}

    save_adapters(m, work / "adapters")
    loaded = fresh()
    load_adapters(loaded, work / "adapters")
    place(m), place(loaded)
    c = data.cond.select(slice(0, 1))
    z1 = sample_long(m, c, window=2, overlap=1, steps=6, scheduler="unipc", shift=3.0, seed=0)
    z2 = sample_long(loaded, c, window=2, overlap=1, steps=6, scheduler="unipc", shift=3.0, seed=0)
    z3 = sample_long(loaded, c, window=2, overlap=1, steps=6, scheduler="euler", shift=3.0, seed=0, guidance=2.0)
    video = codec.decode(z1)
    out["sample"] = {"latent_frames": list(z1.shape), "requested": c.pose.shape[2], "decoded": list(video.shape),
                     "adapters_identical_outputs": bool(torch.equal(z1, z2)), "euler_cfg_finite": bool(torch.isfinite(z3).all()),
                     "model_device": str(next(m.parameters()).device)}
    return out


def check_real_trainer_1_3b(work: Path, height=480, width=832, frames=81, views=4, steps=3, offload=False) -> dict:
    from diffusers import WanTransformer3DModel

    from byteloom.config import TrainConfig, load_config
    from byteloom.model import WAN_1_3B, ByteLoomModel, Conditions, LatentFusion
    from byteloom.train import LatentClips, add_lora, parameter_counts, train

    cfg = load_config(Path(__file__).parents[1] / "params.yaml")
    reset_peak()
    torch.manual_seed(0)
    tr = WanTransformer3DModel(**WAN_1_3B)  # on the CPU in float32, as load_wan loads a checkpoint
    model = ByteLoomModel(tr, LatentFusion(16, hidden=256))
    add_lora(model, cfg.model.lora_rank, cfg.model.lora_alpha, cfg.model.lora_targets)
    c, f, h, w = 16, 1 + (frames - 1) // 4, height // 8, width // 8
    r = lambda *s: torch.randn(*s)  # noqa: E731  (latents cached on the CPU, as encode_clips leaves them)
    data = LatentClips(r(1, c, f, h, w), Conditions(ref=r(1, c, 1, h, w), pose=r(1, c, f, h, w), rcm=r(1, c, f, h, w),
                                                    cache_rgb=r(1, c, views, h, w), cache_rcm=r(1, c, views, h, w)))
    tc = TrainConfig(steps=steps, batch_size=1, lr=1e-4, checkpoint_every=10**6, gradient_checkpointing=True,
                     offload_activations=offload)
    t0 = time.perf_counter()
    info = train(model, data, tc, work / "wan13", progress=False)
    losses = [float(x.split(",")[1]) for x in (work / "wan13" / "loss.csv").read_text().split()[1:]]
    return {"size": [height, width, frames], "views": views, "offload_activations": offload, "latent": [c, f, h, w],
            "tokens": (1 + views + f) * (h // 2) * (w // 2), "steps": steps, "train_seconds": info["seconds"],
            "wall_seconds": time.perf_counter() - t0, "losses": losses, "peak_gib": peak_gib(),
            "params": parameter_counts(model), "lora_targets": list(cfg.model.lora_targets)}


def main():
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="the 1.3B check at 256x448x33 (for a quick CPU dry run: 64x64x5)")
    ap.add_argument("--only-1-3b", action="store_true", help="only the offloaded 1.3B check; keep the file's other results")
    args = ap.parse_args()
    res = {"device": torch.cuda.get_device_name() if CUDA else platform.machine(), "torch": torch.__version__,
           "cuda": torch.version.cuda if CUDA else None}
    import diffusers
    import peft

    res["diffusers"], res["peft"] = diffusers.__version__, peft.__version__
    checks = [] if args.only_1_3b else [("checkpoint_path", check_checkpoint_path)]
    size = (256, 448, 33) if args.small and CUDA else (64, 64, 5) if args.small else (480, 832, 81)
    if CUDA or args.small:
        steps = 3 if CUDA else 1
        if not args.only_1_3b:
            checks.append(("real_trainer_1_3b", lambda w: check_real_trainer_1_3b(w, *size, 4, steps)))
        checks.append(("real_trainer_1_3b_offload", lambda w: check_real_trainer_1_3b(w, *size, 9, steps, offload=True)))
    old = json.loads(RESULTS.read_text()) if args.only_1_3b and RESULTS.exists() else {}
    res = {**old, **res}
    for name, fn in checks:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                res[name] = fn(Path(tmp))
            except Exception as e:  # record it, do not hide it
                res[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        res[name]["check_seconds"] = time.perf_counter() - t0
        print(name, json.dumps(res[name], indent=1, default=str), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(res, indent=1, default=str))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
