"""params.yaml -> one typed, frozen config that rejects unknown, missing and mistyped keys."""
import dataclasses
from pathlib import Path

import pytest
import yaml

from byteloom.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[1]


def params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_repo_params_load_into_a_frozen_typed_config():
    cfg = load_config(ROOT / "params.yaml")
    assert isinstance(cfg.rcm.size, tuple) and all(isinstance(v, int) for v in cfg.rcm.size)
    assert isinstance(cfg.rcm.fov_deg, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(extra=1), r"unknown key\(s\) \['extra'\]"),
    (lambda p: p["rcm"].update(cache_veiws=9), r"<t>\.rcm: unknown key\(s\) \['cache_veiws'\]"),
    (lambda p: p["rcm"].pop("fov_deg"), r"<t>\.rcm: missing key\(s\) \['fov_deg'\]"),
    (lambda p: p["rcm"].update(cache_views="nine"), r"<t>\.rcm\.cache_views: expected int"),
    (lambda p: p["rcm"].update(size=[64]), r"<t>\.rcm\.size: expected 2 values"),
    (lambda p: p["rcm"].update(cache_views=True), r"expected int"),
    (lambda p: p.update(rcm=[1, 2]), r"<t>\.rcm: expected a mapping"),
])
def test_bad_params_name_the_key(edit, message):
    p = params()
    edit(p)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(p, "<t>")


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: params file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("edit, message", [
    # the cases of the issue on late errors: every one fails at load, naming its key and what is allowed
    (lambda p: p["curriculum"].update(seeds=[]), r"<t>\.curriculum\.seeds: must list at least one seed"),
    (lambda p: p["curriculum"].update(seeds=[0, 1, 0]), r"<t>\.curriculum\.seeds: \[0, 1, 0\] repeats a seed"),
    (lambda p: p["curriculum"]["steps"].update(stage1=-5), r"<t>\.curriculum\.steps\.stage1: must be >= 0, got -5"),
    (lambda p: p["curriculum"].update(size=[30, 30]), r"<t>\.curriculum\.size: \[30, 30\] must be positive multiples of 4x4"),
    (lambda p: p["model_lesson"].update(size=[34, 32]), r"<t>\.model_lesson\.size: .*multiples of 4x4"),
    (lambda p: p["model"].update(codec_patch=3), r"<t>\.curriculum\.size: \[32, 32\] must be positive multiples of 6x6"),
    (lambda p: p["model"].update(lora_rank=0), r"<t>\.model\.lora_rank: must be >= 1, got 0"),
    (lambda p: p["sampler"].update(scheduler="ddim9"), r"<t>\.sampler\.scheduler: 'ddim9' is not one of \['euler', 'unipc'\]"),
    (lambda p: p["sampler"].update(overlap=9), r"<t>\.sampler\.overlap: must satisfy 0 <= overlap < window"),
    (lambda p: p["data"].update(cache_views=0), r"<t>\.data\.cache_views: must be >= 1"),
    (lambda p: p["rcm"].update(cache_views=0), r"<t>\.rcm\.cache_views: must be >= 1"),
    (lambda p: p["curriculum"].update(lr=0.0), r"<t>\.curriculum\.lr: must be > 0"),
    (lambda p: p["base"].update(lr=-1e-3), r"<t>\.base\.lr: must be > 0"),
    (lambda p: p["base"].update(steps=-1), r"<t>\.base\.steps: must be >= 0"),
    (lambda p: p["base"].update(ema=1.0), r"<t>\.base\.ema: must satisfy 0 <= ema < 1"),
    (lambda p: p["base"].update(lr_schedule="sawtooth"), r"<t>\.base\.lr_schedule: 'sawtooth' is not one of"),
    (lambda p: p["base"]["clips"].pop("stage2"), r"<t>\.base\.clips: must give clips for exactly"),
    (lambda p: p["curriculum"].update(ref_dropout=1.0), r"<t>\.curriculum\.ref_dropout: must satisfy 0 <= ref_dropout < 1"),
    (lambda p: p["curriculum"]["variants"]["byteloom"].update(design="mystery"),
     r"<t>\.curriculum\.variants\.byteloom\.design: 'mystery' is not one of \['rcm_cache'"),
    (lambda p: p["curriculum"]["variants"]["byteloom"].update(stages=["stage3", "stage1"]),
     r"<t>\.curriculum\.variants\.byteloom\.stages: \['stage3', 'stage1'\] must be stages of"),
    (lambda p: p["curriculum"]["variants"]["byteloom"].update(stages=["stage4"]), r"variants\.byteloom\.stages"),
    (lambda p: p["curriculum"]["variants"].update(ground_truth=p["curriculum"]["variants"]["pose_only"]),
     r"<t>\.curriculum\.variants\.ground_truth: a variant name must"),
    (lambda p: p["rcm"].update(cache_layout="spiral"), r"<t>\.rcm\.cache_layout: 'spiral' is not one of \['fibonacci'"),
    (lambda p: p["rcm"].update(object="no/such/mesh.ply"), r"<t>\.rcm\.object: 'no/such/mesh\.ply' is neither a built-in"),
    (lambda p: p["data"].update(test_objects=["teapot"]), r"<t>\.data\.test_objects\[0\]: 'teapot' is neither"),
    (lambda p: p["data"].update(motions=["moonwalk"]), r"<t>\.data\.motions\[0\]: 'moonwalk' is not one of \["),
    (lambda p: p["model"].update(codec="jpeg"), r"<t>\.model\.codec: 'jpeg' is not one of \['patch', 'wan_vae'\]"),
    (lambda p: p["model"].update(checkpoint="/no/such/wan"), r"<t>\.model\.checkpoint: '/no/such/wan' is not a folder"),
    (lambda p: p["evaluation"].update(clips=99), r"<t>\.evaluation\.clips: must be in 2\.\.data\.clips\.test"),
    (lambda p: p["evaluation"].update(clips=1), r"<t>\.evaluation\.clips: must be in 2\.\."),
    (lambda p: p["evaluation"].update(cache_sizes=[1, 7]), r"<t>\.evaluation\.cache_sizes\[1\]: must be in 1\.\.data\.cache_views"),
    (lambda p: p["validation"].update(strengths=[0.5, 1.0]), r"<t>\.validation\.strengths: must start at 0\.0"),
    (lambda p: p["data"]["clips"].pop("test"), r"<t>\.data\.clips: must give clips for exactly"),
])
def test_bad_values_fail_at_load_naming_the_key(edit, message):
    p = params()
    edit(p)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(p, "<t>")


def test_the_entry_points_check_params_before_any_work(tmp_path, capsys):
    """`python -m byteloom.curriculum` and `python -m byteloom.score` load params through the same check."""
    from byteloom import curriculum, score

    p = params()
    p["sampler"]["scheduler"] = "ddim9"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(p))
    for main, args in ((curriculum.main, ["--run", "I"]), (score.main, ["--variant", "byteloom"])):
        with pytest.raises(ConfigError, match=r"params\.yaml\.sampler\.scheduler: 'ddim9'"):
            main([*args, "--params", str(bad)])
    assert not (tmp_path / "metrics").exists()
