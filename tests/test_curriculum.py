"""The curriculum (paper section 3.3) on a micro profile: plan, chaining, resume after a kill, NaN stop."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from byteloom import curriculum as C
from byteloom import data as D
from byteloom import mani4d
from byteloom.config import ConfigError, config_from_dict
from byteloom.model import build_model
from byteloom.train import LatentClips

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


class Killed(Exception):
    pass


def micro(tmp: Path, as_dict: bool = False, **curriculum):
    p = copy.deepcopy(PARAMS)
    p["model"].update(codec_patch=2, patch=[1, 1, 1], heads=2, head_dim=16, layers=1, ffn_dim=32, fusion_hidden=16,
                      lora_rank=4, lora_alpha=4)
    p["data"].update(root=str(tmp / "data"), size=[16, 16], frames=3, cache_views=2,
                     clips={"stage1": 2, "stage2": 2, "stage3": 2, "test": 2, "objmv": 1})
    p["base"].update(steps=3, clips={"stage1": 2, "stage2": 2, "stage3": 2})
    p["curriculum"].update(size=[16, 16], seeds=[0], steps={"stage1": 3, "stage2": 3, "objmv": 3, "stage3": 3},
                           batch_size=2, checkpoint_every=2, **curriculum)
    p["evaluation"].update(clips=2, cache_sizes=[1])
    p["validation"].update(clips=1)
    p["sampler"].update(steps=2)
    return p if as_dict else config_from_dict(p, "micro")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Micro data, a pretrained micro base and Stage I, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("curriculum")
    cfg = micro(tmp)
    for split in ("stage1", "stage2", "stage3", "test"):
        mani4d.generate_split(cfg.data, split, seed=cfg.seed, progress=False)
    dirs = dict(train_dir=tmp / "train", ckpt_dir=tmp / "ckpt")
    C.pretrain_base(cfg, progress=False, **dirs)
    C.train_stage(cfg, "I", 0, progress=False, **dirs)
    return cfg, tmp, dirs


def test_the_base_trains_on_its_whole_corpus_from_the_reference_alone_with_its_own_recipe(world):
    cfg, tmp, dirs = world
    corpus = D.base_corpus(cfg, tmp / D.CORPUS_DIR.name, progress=False)  # made by pretrain_base: reused
    codec = build_model(cfg.model)[1]
    data = D.base_data(corpus, codec)
    assert len(data) == sum(cfg.base.clips.values())  # every split of the base's corpus
    assert not data.cond.pose.any() and data.cond.ref.abs().sum() > 0  # the reference, no pose
    assert data.cond.rcm is None and data.cond.cache_rgb is None  # no object condition
    tc = C.base_train_config(cfg)
    b = cfg.base
    assert (tc.steps, tc.lr, tc.batch_size, tc.shift, tc.lr_schedule, tc.warmup_steps, tc.ema_decay) == (
        b.steps, b.lr, b.batch_size, b.shift, b.lr_schedule, b.warmup, b.ema)
    assert tc.seed == C.run_seed(C.BASE, cfg.seed)


def test_the_plan_shares_prefixes_and_matches_dvc_yaml():
    cfg = config_from_dict(PARAMS, "params.yaml")
    plan = C.plan_runs(cfg)
    assert plan["I"].parent == C.BASE and plan["I"].design == "pose_only"  # Stage I: one run for every design
    assert plan["rcm_cache-I-II-III"].parent == "rcm_cache-I-II" and plan["rcm_cache-I-II"].parent == "I"
    assert plan["rcm_cache-III"].parent == C.BASE
    assert plan["single_view-I-II-III"].design == "single_view"
    order = list(plan)
    assert all(r.parent == C.BASE or order.index(r.parent) < order.index(r.name) for r in plan.values())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    dvc_runs = stages["train"]["foreach"]
    assert set(dvc_runs) == set(plan), "dvc.yaml train foreach must list exactly the runs of plan_runs(params.yaml)"
    for name, item in dvc_runs.items():
        assert (item["stage"], item["design"], item["parent"]) == (plan[name].stage, plan[name].design, plan[name].parent)
    evaluated = set(stages["evaluate"]["foreach"]) | {"ground_truth"} | set(stages["evaluate_sanity"]["foreach"])
    from byteloom.score import SANITY, variants
    assert evaluated == set(variants(cfg)) and set(stages["evaluate_sanity"]["foreach"]) == set(SANITY)
    eval_files = {f"metrics/eval/{v}.json" for v in variants(cfg)}
    assert eval_files <= set(stages["tables"]["deps"]), "the tables stage must depend on every evaluation file"
    for v, item in stages["evaluate"]["foreach"].items():
        assert item["run"] == C.variant_run(cfg, v.split("_cache")[0]).name


def test_bad_variants_are_rejected_with_the_key_when_params_load(tmp_path):
    p = copy.deepcopy(PARAMS)
    p["curriculum"]["variants"]["byteloom"]["stages"] = ["stage3", "stage1"]
    with pytest.raises(ConfigError, match="variants.byteloom.stages"):
        config_from_dict(p)
    p = copy.deepcopy(PARAMS)
    p["curriculum"]["variants"]["byteloom"]["design"] = "mystery"
    with pytest.raises(ConfigError, match="variants.byteloom.design"):
        config_from_dict(p)


def test_stage_two_starts_from_stage_one(world):
    cfg, tmp, dirs = world
    plan = C.plan_runs(cfg)
    stage1, _ = C.run_model(cfg, "I", 0, dirs["train_dir"])
    start, _ = C.stage_model(cfg, plan["rcm_cache-I-II"], 0, dirs["train_dir"])
    fresh, _ = C.stage_model(cfg, plan["rcm_cache-III"], 0, dirs["train_dir"])  # starts from base instead
    s1, st, fr = stage1.state_dict(), start.state_dict(), fresh.state_dict()
    trained = [k for k in s1 if "lora_B" in k or k.startswith("fusion.mlp.2")]
    assert trained and all(torch.equal(s1[k], st[k]) for k in trained)
    assert any(s1[k].abs().sum() > 0 and not torch.equal(s1[k], fr[k]) for k in trained)
    base = [k for k in s1 if "lora_" not in k and k.startswith("transformer.")]
    assert all(torch.equal(s1[k], fr[k]) for k in base)  # all share one base backbone


def test_a_killed_stage_resumes_to_the_same_adapters(world, monkeypatch):
    cfg, tmp, dirs = world
    straight = dict(train_dir=tmp / "t_straight", ckpt_dir=tmp / "c_straight")
    killed = dict(train_dir=tmp / "t_killed", ckpt_dir=tmp / "c_killed")
    for d in (straight, killed):  # both start from the same Stage I
        (d["train_dir"]).mkdir()
        for run in (C.BASE, "I"):
            (d["train_dir"] / run).symlink_to(dirs["train_dir"] / run)
    C.train_stage(cfg, "rcm_cache-I-II", 0, progress=False, **straight)

    real = D.split_latents

    class KillAt(LatentClips):
        calls = 0

        def batch(self, generator, size):
            if KillAt.calls == 2:  # dies in step 3, after the checkpoint of step 2
                raise Killed
            KillAt.calls += 1
            return super().batch(generator, size)

    monkeypatch.setattr(C, "split_latents", lambda *a, **k: KillAt(*vars(real(*a, **k)).values()))
    with pytest.raises(Killed):
        C.train_stage(cfg, "rcm_cache-I-II", 0, progress=False, **killed)
    assert not (killed["train_dir"] / "rcm_cache-I-II").exists()  # nothing half-written
    monkeypatch.setattr(C, "split_latents", real)
    info = C.train_stage(cfg, "rcm_cache-I-II", 0, progress=False, **killed)
    assert info["resumed_from"] == 2 and info["start"] == "resumed at step 2"
    assert not (killed["ckpt_dir"] / "rcm_cache-I-II/seed0/checkpoint.pt").exists()  # finished: no checkpoint left
    a = (straight["train_dir"] / "rcm_cache-I-II/seed0/adapters/pytorch_lora_weights.safetensors").read_bytes()
    b = (killed["train_dir"] / "rcm_cache-I-II/seed0/adapters/pytorch_lora_weights.safetensors").read_bytes()
    assert a == b


def test_a_diverging_stage_stops_without_writing_adapters(world, monkeypatch):
    cfg, tmp, dirs = world
    real = D.split_latents

    def poisoned(*a, **k):
        data = real(*a, **k)
        data.video[:] = float("nan")
        return data

    monkeypatch.setattr(C, "split_latents", poisoned)
    with pytest.raises(FloatingPointError, match="loss became nan"):
        C.train_stage(cfg, "rcm_cache-III", 0, progress=False, **dirs)
    assert not (dirs["train_dir"] / "rcm_cache-III").exists()


def test_a_finished_run_is_retrained_not_resumed(world):
    """A rerun of a finished run (`dvc repro -f`) trains again, to the same adapters."""
    cfg, tmp, dirs = world
    adapters = dirs["train_dir"] / "pose_only-I-III/seed0/adapters/pytorch_lora_weights.safetensors"
    first = C.train_stage(cfg, "pose_only-I-III", 0, progress=False, **dirs)
    before = adapters.read_bytes()
    assert not list((dirs["ckpt_dir"] / "pose_only-I-III/seed0").glob("checkpoint.pt*"))
    again = C.train_stage(cfg, "pose_only-I-III", 0, progress=False, **dirs)
    assert first["start"] == again["start"] == "fresh" and again["resumed_from"] == 0
    assert len(C.loss_curves(dirs["train_dir"] / "pose_only-I-III")["seed0"][0]) == cfg.curriculum.steps["stage3"]
    assert adapters.read_bytes() == before  # deterministic per step: the same run trains the same adapters


def test_changed_code_or_data_does_not_resume_an_interrupted_run(world, monkeypatch):
    import byteloom.train as T

    cfg, tmp, dirs = world
    real = D.split_latents

    class KillAt(LatentClips):
        def batch(self, generator, size):
            if KillAt.calls == 2:
                raise Killed
            KillAt.calls += 1
            return super().batch(generator, size)

    def interrupt():
        KillAt.calls = 0
        monkeypatch.setattr(C, "split_latents", lambda *a, **k: KillAt(*vars(real(*a, **k)).values()))
        with pytest.raises(Killed):
            C.train_stage(cfg, "rcm_cache-I-III", 0, progress=False, **dirs)
        monkeypatch.setattr(C, "split_latents", real)
        assert (dirs["ckpt_dir"] / "rcm_cache-I-III/seed0/checkpoint.pt").exists()

    interrupt()
    monkeypatch.setattr(T, "code_digest", lambda: "edited model code")
    info = C.train_stage(cfg, "rcm_cache-I-III", 0, progress=False, **dirs)
    assert info["resumed_from"] == 0 and info["start"] == "fresh (checkpoint of other code set aside)"
    monkeypatch.undo()

    interrupt()

    def shifted(*a, **k):
        data = real(*a, **k)
        data.video.add_(0.01)
        return data

    monkeypatch.setattr(C, "split_latents", shifted)
    info = C.train_stage(cfg, "rcm_cache-I-III", 0, progress=False, **dirs)
    assert info["resumed_from"] == 0 and info["start"] == "fresh (checkpoint of other inputs set aside)"


def test_samples_of_a_trained_variant(world):
    cfg, tmp, dirs = world
    model, codec = C.run_model(cfg, "I", 0, dirs["train_dir"])
    videos = C.sample_split(cfg, model, codec, "pose_only", limit=1)
    (clip_id, video), = videos.items()
    assert clip_id == "0000" and video.shape == (cfg.data.frames, *cfg.curriculum.size, 3) and video.dtype == np.uint8
    curves = C.loss_curves(dirs["train_dir"] / "I")
    assert list(curves) == ["seed0"] and len(curves["seed0"][0]) == cfg.curriculum.steps["stage1"]


def test_seeds_trained_at_once_match_each_seed_trained_alone_on_one_thread(world, tmp_path):
    """On the CPU `per_seed` trains every seed at once, one thread each: each seed's adapters must be
    those of that seed trained alone on one intra-op thread, and the caller's thread count is kept."""
    cfg, tmp, dirs = world
    assert C.seeds_at_once(cfg)
    runs = {}
    for name in ("together", "alone"):
        runs[name] = dict(train_dir=tmp_path / name / "train", ckpt_dir=tmp_path / name / "ckpt")
        runs[name]["train_dir"].mkdir(parents=True)
        (runs[name]["train_dir"] / C.BASE).symlink_to(dirs["train_dir"] / C.BASE)
    threads = torch.get_num_threads()
    results, wall = C.per_seed(cfg, lambda s: C.train_stage(cfg, "I", s, progress=False, **runs["together"]), [2, 1])
    assert list(results) == [2, 1] and wall > 0 and torch.get_num_threads() == threads
    torch.set_num_threads(1)
    try:
        C.train_stage(cfg, "I", 1, progress=False, **runs["alone"])
    finally:
        torch.set_num_threads(threads)
    adapters = "I/seed1/adapters/pytorch_lora_weights.safetensors"
    together, alone = (runs[n]["train_dir"] / adapters for n in ("together", "alone"))
    assert together.read_bytes() == alone.read_bytes()
    seed2 = runs["together"]["train_dir"] / "I/seed2/adapters/pytorch_lora_weights.safetensors"
    assert seed2.read_bytes() != together.read_bytes()  # other seed, other adapters


def test_two_processes_train_like_one_process_accumulating_their_batches(world, tmp_path):
    """Data parallelism (accelerate, as `curriculum.processes` > 1 launches it on GPUs), on 2 CPU
    processes: process k draws the batch that micro-step k of a single process draws, so one
    process with grad_accum=2 must give the same adapters as two processes with grad_accum=1."""
    import json
    import os
    import subprocess
    import sys

    cfg, tmp, dirs = world
    single = dict(train_dir=tmp_path / "t1", ckpt_dir=tmp_path / "c1")
    single["train_dir"].mkdir()
    (single["train_dir"] / C.BASE).symlink_to(dirs["train_dir"] / C.BASE)
    C.train_stage(micro(tmp, grad_accum=2), "I", 0, progress=False, **single)

    (tmp_path / "build/train").mkdir(parents=True)  # the CLI's layout: build/train/base, metrics/train
    (tmp_path / "build/train" / C.BASE).symlink_to(dirs["train_dir"] / C.BASE)
    (tmp_path / "micro.yaml").write_text(yaml.safe_dump(micro(tmp, as_dict=True)))
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "byteloom.curriculum", "--",
           "--run", "I", "--params", "micro.yaml"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "metrics/train/I.json").read_text())["processes"] == 2

    from safetensors.torch import load_file
    a = load_file(single["train_dir"] / "I/seed0/adapters/pytorch_lora_weights.safetensors")
    b = load_file(tmp_path / "build/train/I/seed0/adapters/pytorch_lora_weights.safetensors")
    assert a.keys() == b.keys() and any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k)
    # cross-attention queries and keys see only the constant null prompt, so their gradients are
    # rounding noise that Adam scales up to full steps: the one place where the two runs may differ
    meaningful = [k for k in a if not any(f"attn2.{x}.lora_B" in k for x in ("to_q", "to_k"))]
    assert len(meaningful) >= len(a) - 2 * cfg.model.layers
    for k in meaningful:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=k)
    fa = load_file(single["train_dir"] / "I/seed0/adapters/fusion/diffusion_pytorch_model.safetensors")
    fb = load_file(tmp_path / "build/train/I/seed0/adapters/fusion/diffusion_pytorch_model.safetensors")
    for k in fa:
        torch.testing.assert_close(fa[k], fb[k], rtol=1e-4, atol=1e-6, msg=k)


def test_run_records_list_the_plan_s_trained_runs_and_read_summaries_without_wall_time(tmp_path):
    """Lesson 4's table of runs: base first, untrained runs left out, the committed base's summary
    (written before wall times were recorded) gives the sum of its seeds' seconds."""
    cfg = micro(tmp_path)
    old_base = {"run": "base", "stage": None, "design": None, "steps": 5, "clips": 6, "seeds": [0],
                "seconds_per_seed": [12.5], "final_loss_per_seed": [0.25]}
    stage_one = {"run": "I", "stage": "stage1", "design": "pose_only", "steps": 3, "clips": 2, "seeds": [0, 1],
                 "seconds_per_seed": [4.0, 5.0], "wall_seconds": 5.5, "final_loss_per_seed": [0.5, 0.25]}
    for s in (stage_one, old_base):
        C.write_json(tmp_path / f"{s['run']}.json", s)
    with pytest.raises(FileNotFoundError, match=r"rcm_cache-III.json: run 'rcm_cache-III' has not been trained"):
        C.read_summary("rcm_cache-III", tmp_path)
    rows = C.run_records(cfg, tmp_path)
    assert [r["run"] for r in rows] == ["base", "I"]
    assert rows[0]["wall_seconds"] == 12.5 and rows[0]["stage"] is None and rows[0]["final_loss"] == 0.25
    assert rows[1] == {"run": "I", "stage": "stage1", "design": "pose_only", "steps": 3, "clips": 2, "seeds": 2,
                       "wall_seconds": 5.5, "final_loss": 0.375}
