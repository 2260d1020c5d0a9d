"""The probes in benchmarks/ that are not only timing: their model and their input checks."""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from byteloom.model import Conditions
from tests.test_curriculum import micro

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))  # reference_channels imports base_recipe beside it
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_channels_backbone_reads_the_reference_on_every_frame(tmp_path):
    rc = load("reference_channels")
    cfg = micro(tmp_path)
    model, codec = rc.reference_channels_model(cfg)
    c = codec.latent_channels
    assert model.transformer.config.in_channels == 2 * c and model.transformer.config.out_channels == c
    g = torch.Generator().manual_seed(0)
    video = torch.randn(2, c, 3, 8, 8, generator=g)
    ref = torch.randn(2, c, 1, 8, 8, generator=g)
    pose = torch.zeros_like(video)
    sigma = torch.full((2,), 0.5)
    with torch.no_grad():
        out = model(video, sigma, Conditions(ref=ref, pose=pose))
        other = model(video, sigma, Conditions(ref=ref.flip(0), pose=pose))
    assert out.shape == video.shape
    assert not torch.allclose(out, other)  # the output depends on the reference


@pytest.mark.parametrize("script,args,message", [
    ("sampler_steps", ["--steps", "0"], "--steps must be positive"),
    ("sampler_steps", ["--variants", "nope"], "'nope' is not in params.yaml curriculum.variants"),
    ("base_fit", ["--clips", "0"], "--clips must be positive"),
    ("reference_channels", ["--steps", "0"], "must be positive"),
])
def test_benchmark_scripts_refuse_bad_arguments_before_any_work(script, args, message, monkeypatch, capsys):
    module = load(script)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *args])
    with pytest.raises(SystemExit) as e:
        module.main()
    assert e.value.code == 2
    assert message in capsys.readouterr().err
