"""Peak memory and step time of one LoRA training step of the conditioned Wan DiT.

    python benchmarks/bench_model.py            # CPU: the default tiny model; GPU (if CUDA): Wan2.1-1.3B sizes
    python benchmarks/bench_model.py --gpu-only
    python benchmarks/bench_model.py --cpu-wan     # the 1.3B architecture on the CPU at a toy size (64x64x5)
    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python benchmarks/bench_model.py --cap-gb 12
        # GPU: ten LoRA steps at 480x832x81 (4 and 9 views) in a process that may not take more than
        # 12 GB (torch.cuda.set_per_process_memory_fraction), and sampling (generate) at that size

A capped row that does not fit records the out-of-memory error instead of a time.

Each configuration runs in its own subprocess so its peak memory is its own (CUDA: the allocator's
max_memory_allocated; CPU: the process's max resident set size, which includes Python and torch).
The 1.3B backbone uses the real Wan2.1-T2V-1.3B architecture (byteloom.model.WAN_1_3B) with random
weights: memory and speed do not depend on the weights' values. Latent sizes follow Wan's VAE
(8x spatial, 4x temporal, 16 channels); the conditions add 1 reference + `views` cache frames.
Results: benchmarks/results/model_step.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "model_step.json"


def one(spec: dict) -> dict:
    import torch

    from byteloom.config import TrainConfig, load_config
    from byteloom.model import WAN_1_3B, ByteLoomModel, Conditions, LatentFusion, build_model, half_frozen
    from byteloom.train import add_lora, flow_matching_loss, offloaded_checkpoint, parameter_counts

    torch.manual_seed(0)
    device = torch.device(spec["device"])
    if spec.get("cap_gb"):  # a hard cap: the caching allocator raises OOM beyond it, as on a smaller card
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, spec["cap_gb"] * 1e9 / total), device)
    cfg = load_config(Path(__file__).parents[1] / "params.yaml")
    if spec["model"] == "wan-1.3b":
        from diffusers import WanTransformer3DModel

        with device:
            tr = WanTransformer3DModel(**WAN_1_3B)
        model = ByteLoomModel(tr, LatentFusion(16, hidden=256)).to(device)
        c, f, h, w = 16, 1 + (spec["frames"] - 1) // 4, spec["height"] // 8, spec["width"] // 8
    else:
        model, codec = build_model(cfg.model)
        model = model.to(device)
        c, f, h, w = codec.latent_channels, spec["frames"], spec["height"] // codec.patch, spec["width"] // codec.patch
    add_lora(model, spec["rank"], spec["rank"], cfg.model.lora_targets)
    if spec.get("offload"):  # checkpointing with each block's input parked on the CPU
        model.transformer.enable_gradient_checkpointing(offloaded_checkpoint)
    elif spec["checkpointing"]:
        model.transformer.enable_gradient_checkpointing()
    half = torch.bfloat16 if device.type == "cuda" else None
    if half is not None:  # as byteloom.train does under bf16: frozen matrices in bf16
        half_frozen(model, half)
    v = spec["views"]
    r = lambda *s: torch.randn(*s, device=device)  # noqa: E731
    cond = Conditions(ref=r(1, c, 1, h, w), pose=r(1, c, f, h, w), rcm=r(1, c, f, h, w),
                      cache_rgb=r(1, c, v, h, w) if v else None, cache_rcm=r(1, c, v, h, w) if v else None)
    x0 = r(1, c, f, h, w)
    if spec.get("sample"):  # generation: the sampler's steps without gradients (what byteloom.generate runs)
        return _sample_row(spec, model, cond, (c, f, h, w), device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    tcfg = TrainConfig(steps=1, batch_size=1)
    times = []
    for i in range(spec["steps"] + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=half, enabled=half is not None):
            loss = flow_matching_loss(model, x0, cond, torch.Generator().manual_seed(i), tcfg)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    tokens = (1 + v + f) * (h // 2) * (w // 2)
    out = {**spec, "latent": [c, f, h, w], "tokens": tokens, "step_s": sorted(times[1:])[len(times[1:]) // 2],
           "params": parameter_counts(model)}
    if device.type == "cuda":
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
        out["device_name"] = torch.cuda.get_device_name()
    else:
        out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        out["device_name"] = platform.processor() or platform.machine()
    return out


def _sample_row(spec, model, cond, latent, device) -> dict:
    """Seconds per sampling step and peak memory of `byteloom.sample.sample` at this size."""
    import torch

    from byteloom.model import place
    from byteloom.sample import sample

    place(model.eval(), device=device)
    c, f, h, w = latent
    sample(model, cond, f, steps=1, seed=0)  # warm-up
    torch.cuda.reset_peak_memory_stats() if device.type == "cuda" else None
    t0 = time.perf_counter()
    sample(model, cond, f, steps=spec["steps"], seed=0)
    torch.cuda.synchronize() if device.type == "cuda" else None
    out = {**spec, "latent": [c, f, h, w], "tokens": (1 + spec["views"] + f) * (h // 2) * (w // 2),
           "step_s": (time.perf_counter() - t0) / spec["steps"]}
    if device.type == "cuda":
        out.update(peak_gib=torch.cuda.max_memory_allocated() / 2**30,
                   peak_reserved_gib=torch.cuda.max_memory_reserved() / 2**30, device_name=torch.cuda.get_device_name())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--gpu-only", action="store_true")
    ap.add_argument("--offload-only", action="store_true", help="only the 480p rows with offloaded activations (GPU)")
    ap.add_argument("--cpu-wan", action="store_true", help="only the 1.3B architecture on the CPU, 64x64x5")
    ap.add_argument("--cap-gb", type=float, help="GPU: 480x832x81 rows (10 steps) under a hard memory cap of this many GB")
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one(json.loads(args.one))))
        return
    import torch

    specs = []
    if args.cpu_wan:  # checks the 1.3B path and its parameter counts where no GPU is lent; not a speed target
        specs = [dict(device="cpu", model="wan-1.3b", height=64, width=64, frames=5, views=1, rank=16,
                      checkpointing=ck, steps=2) for ck in (False, True)]
    elif not args.gpu_only:
        for ck in (False, True):
            specs.append(dict(device="cpu", model="tiny-default", height=64, width=64, frames=9, views=9, rank=16,
                              checkpointing=ck, steps=5))
    if torch.cuda.is_available() and not args.cpu_wan:  # most important first: 480p, the 12 GB question
        for (h, w, fr), views, ck in [((480, 832, 81), 9, "offload"), ((480, 832, 81), 4, "offload"),
                                      ((480, 832, 81), 9, True), ((480, 832, 81), 4, True), ((480, 832, 81), 9, False),
                                      ((320, 576, 49), 9, True), ((320, 576, 49), 9, False),
                                      ((256, 448, 33), 9, True), ((256, 448, 33), 9, False)]:
            specs.append(dict(device="cuda", model="wan-1.3b", height=h, width=w, frames=fr, views=views, rank=16,
                              checkpointing=bool(ck), offload=ck == "offload", steps=2))
        if args.offload_only:
            specs = [sp for sp in specs if sp.get("offload")]
        if args.cap_gb:  # the 12 GB question under a real limit: training with 4 and 9 views, then sampling
            specs = [dict(device="cuda", model="wan-1.3b", height=480, width=832, frames=81, views=views, rank=16,
                          checkpointing=True, offload=offload, steps=10, cap_gb=args.cap_gb)
                     for views in (4, 9) for offload in (True, False)]
            specs += [dict(device="cuda", model="wan-1.3b", height=480, width=832, frames=81, views=views, rank=16,
                           checkpointing=False, steps=4, cap_gb=args.cap_gb, sample=True) for views in (9, 4)]
    elif args.cap_gb:
        raise SystemExit("--cap-gb needs a CUDA GPU (benchmarks/README.md marks those rows as not yet measured)")
    key = ("cpu_wan" if args.cpu_wan else f"gpu_cap{args.cap_gb:g}gb" if args.cap_gb else "gpu_offload"
           if args.offload_only else "gpu" if args.gpu_only else "all")
    rows = []
    for spec in specs:
        try:
            p = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                               timeout=300)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            # e.g. out of memory: record it, do not hide it
            row = json.loads(line[0][7:]) if line else {**spec, "error": (p.stderr.strip().splitlines() or ["no output"])[-1]}
        except subprocess.TimeoutExpired:
            row = {**spec, "error": "timed out after 300 s"}
        rows.append(row)
        print(json.dumps({k: row.get(k) for k in ("device", "model", "height", "width", "frames", "views", "checkpointing", "offload",
                                                  "sample", "cap_gb", "tokens", "step_s", "peak_gib", "peak_reserved_gib",
                                                  "error") if k in row}), flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)  # after every row: a cut-off run keeps what it measured
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        old[key] = {"machine": {"platform": platform.platform(), "cpus": __import__("os").cpu_count(),
                                "cuda": torch.cuda.is_available()}, "rows": rows}
        RESULTS.write_text(json.dumps(old, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
