"""Does the frozen base underfit or overfit? Its denoising error on its own corpus against held-out clips.

    python benchmarks/base_fit.py            # needs build/train/base and data/ (dvc repro); ~2 min on 2 vCPUs

More pretraining data helps a model that does better on the clips it was trained on than on new
ones (a generalisation gap); it cannot help one that does as badly on its own training clips. This
measures the committed base's one-step denoising error (`train.denoising_error`: the error of
x̂₀ = x_σ − σ v̂ per σ, fixed noise, beside "keep x_σ" and "mean frame") on the first 32 clips of
each split of its pretraining corpus (`build/pretrain_data`, generated once if missing, as the
`pretrain` stage does) and of the curriculum's held-out splits (`data/stage1`, `data/stage3`,
`data/test`: other seeds, and for test other identities and objects), all conditioned as the base
was trained (reference frame only).

Results: benchmarks/results/base_fit.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from byteloom import curriculum as C  # noqa: E402
from byteloom import data as D  # noqa: E402
from byteloom.config import BASE_SPLITS, load_config  # noqa: E402
from byteloom.train import denoising_error  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "base_fit.json"
SIGMAS = (0.05, 0.2, 0.6, 0.95)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--clips", type=int, default=32, help="clips per split (the first ones)")
    args = ap.parse_args()
    if args.clips < 1:
        ap.error(f"--clips must be positive, got {args.clips}")
    cfg = load_config(args.params)
    model, codec = C.base_model(cfg)
    model.eval()
    corpus = D.base_corpus(cfg, D.CORPUS_DIR, progress=False)
    sets = [(f"corpus/{s}", corpus, s) for s in BASE_SPLITS] + [(f"held-out/{s}", cfg, s) for s in ("stage1", "stage3", "test")]
    out = {"sigmas": list(SIGMAS), "clips_per_split": args.clips, "errors": {},
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__}}
    for name, c, split in sets:
        d = D.reference_only(D.split_latents(c, split, codec, "pose_only", limit=args.clips))
        e = denoising_error(model, d.video, d.cond, sigmas=SIGMAS)
        out["errors"][name] = {str(s): {k: round(float(v), 5) for k, v in e[s].items()} for s in SIGMAS}
        print(name, "  ".join(f"σ {s}: {e[s]['model']:.4f} (keep {e[s]['keep']:.4f})" for s in SIGMAS), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
