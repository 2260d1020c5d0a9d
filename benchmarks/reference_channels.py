"""A probe of the base's design: the reference latent also on every frame's channels (Wan I2V style).

    python benchmarks/reference_channels.py                    # lr 3e-3, 1500 steps: ~9 min on 2 vCPUs
    python benchmarks/reference_channels.py --lr 0.001 --steps 5000

The base's samples are grainy where the reference frame shows the scene exactly (README, *State of
the committed results*): frame 0 scores SSIM 0.80 against 0.97 for the reference repeated. In the
paper's layout (byteloom/model.py) the reference is one clean latent frame in front of the video,
so every frame has to fetch it through attention, across RoPE positions. Wan2.1's image-to-video
models instead concatenate the image latent on the channels of the noisy latents, pixel-aligned
with every frame. If routing the reference were what the tiny DiT fails at, a backbone that also
gets the reference on its channels (input 2C: the fused latents | the reference latent, output C)
should copy the static background nearly exactly.

This trains such a backbone exactly as `benchmarks/base_recipe.py` trains a base (the base's
corpus `build/pretrain_data`, `params.yaml` `base` with the overrides given, reference only, ref
dropout, EMA), into a scratch folder, and scores it with `base_recipe.score` (16 benchmark clips
from their reference alone, pipeline sampler and guidance 1, SSIM per frame, beside the repeated
reference). Compare with `results/base_recipe_lr0.003_steps1500.json` (same recipe, paper layout).
It is a probe, not a design of the package: the class lives here.

Results: benchmarks/results/reference_channels_<recipe>.json.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from diffusers import WanTransformer3DModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import base_recipe  # noqa: E402
from byteloom import curriculum as C  # noqa: E402
from byteloom import data as D  # noqa: E402
from byteloom.config import load_config  # noqa: E402
from byteloom.model import ByteLoomModel, build_model, pack  # noqa: E402
from byteloom.train import train  # noqa: E402

RESULTS = Path(__file__).parent / "results"


class ReferenceChannels(ByteLoomModel):
    """`ByteLoomModel` whose backbone takes [fused latents | reference latent] on the channels of
    every frame (2C in, C out); the reference also stays the clean frame in front."""

    def __init__(self, transformer: WanTransformer3DModel, fusion, text_len: int = 4):
        torch.nn.Module.__init__(self)  # ByteLoomModel.__init__ insists on C in = C out
        self.transformer, self.fusion = transformer, fusion
        self.null_text = torch.nn.Parameter(torch.zeros(text_len, transformer.config.text_dim))

    def forward(self, noisy, sigma, cond):
        packed, prefix = pack(noisy, cond)
        x = self.fusion(packed)
        b, _, f, h, w = x.shape
        x = torch.cat([x, cond.ref.expand(-1, -1, f, -1, -1)], dim=1)
        _, ph, pw = self.patch_size
        t = (sigma.float() * 1000).view(b, 1).expand(b, f).clone()
        t[:, :prefix] = 0  # clean condition frames
        timestep = t.repeat_interleave((h // ph) * (w // pw), dim=1)
        text = self.null_text.unsqueeze(0).expand(b, -1, -1).to(x.dtype)
        out = self.transformer(x, timestep=timestep.to(x.dtype), encoder_hidden_states=text, return_dict=False)[0]
        return out[:, :, prefix:]


def reference_channels_model(cfg) -> tuple[ReferenceChannels, torch.nn.Module]:
    """The params' tiny model with a 2C-channel backbone (same width, depth, patch, seed)."""
    model, codec = build_model(cfg.model, seed=cfg.seed)
    config = dict(model.transformer.config)
    config["in_channels"] = 2 * codec.latent_channels
    torch.manual_seed(cfg.seed)
    return ReferenceChannels(WanTransformer3DModel.from_config(config), model.fusion, cfg.model.text_len), codec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()
    if args.lr <= 0 or args.steps <= 0:
        ap.error(f"--lr and --steps must be positive, got {args.lr}, {args.steps}")
    cfg = load_config(args.params)
    cfg = replace(cfg, base=replace(cfg.base, lr=args.lr, steps=args.steps))
    corpus = D.base_corpus(cfg, D.CORPUS_DIR, progress=False)
    model, codec = reference_channels_model(cfg)
    model.fusion.requires_grad_(False)  # as pretrain_base: the fusion stays the identity
    data, tc = D.base_data(corpus, codec), C.base_train_config(cfg)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        result = train(model, data, tc, Path(work), desc="reference channels", run_id="reference-channels",
                       progress=False)
    out = {"recipe": {"base": asdict(cfg.base), "backbone_in_channels": model.transformer.config.in_channels},
           "train_seconds": round(time.time() - t0, 1), "final_loss": result["final_loss"],
           "benchmark": f"{cfg.evaluation.clips} test clips at {tuple(cfg.curriculum.size)}, reference only (pose zeroed)",
           "scores": base_recipe.score(cfg, model, codec),
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__}}
    base_recipe.write_result(RESULTS / f"reference_channels_lr{args.lr:g}_steps{args.steps}.json", out)


if __name__ == "__main__":
    main()
