"""The DVC pipeline, run as a user runs it, on a micro profile in a copy of the repository."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

MICRO = {  # overrides of params.yaml that keep every stage to seconds
    "rcm": {"size": [48, 64], "cache_views": 4, "coverage_views": [1, 2, 4], "coverage_layouts": ["fibonacci", "fps"],
            "coverage_objects": ["box"], "trajectory_frames": 4},
    "model": {"codec_patch": 2, "patch": [1, 1, 1], "heads": 2, "head_dim": 16, "layers": 1, "ffn_dim": 32,
              "fusion_hidden": 16},
    "sampler": {"steps": 2, "window": 3},
    "model_lesson": {"size": [16, 16], "frames": 3, "cache_views": 2, "clips": 6, "steps": 4, "batch_size": 2},
    "data": {"size": [32, 32], "frames": 3, "cache_views": 2, "clips": {"stage1": 1, "stage2": 2, "stage3": 2, "test": 2, "objmv": 1}},
    "base": {"steps": 2, "warmup": 1, "clips": {"stage1": 1, "stage2": 1, "stage3": 1}},
    "curriculum": {"size": [16, 16], "seeds": [0, 1], "steps": {"stage1": 2, "stage2": 2, "objmv": 2, "stage3": 2},
                   "batch_size": 1, "checkpoint_every": 1},
    "evaluation": {"clips": 2, "cache_sizes": [1, 2]},  # other_clip needs 2 clips
    "validation": {"clips": 1, "strengths": [0.0, 1.0]},
}


def expanded_stages(repo, only=None) -> dict:
    """dvc.yaml's stages with `foreach` expanded (`name@key`), as DVC names them."""
    out = {}
    for name, stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].items():
        if only and name != only:
            continue
        if "foreach" not in stage:
            out[name] = stage
            continue
        items = stage["foreach"] if isinstance(stage["foreach"], dict) else {k: k for k in stage["foreach"]}
        for key, item in items.items():
            text = yaml.safe_dump(stage["do"]).replace("${key}", str(key))
            for field, value in (item.items() if isinstance(item, dict) else []):
                text = text.replace("${item.%s}" % field, str(value))
            out[f"{name}@{key}"] = yaml.safe_load(text.replace("${item}", str(item)))
    return out


def run(args, cwd):
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def micro_repo(tmp_path_factory):
    """A copy of the working tree (tracked and untracked-not-ignored files) with the micro params."""
    dst = tmp_path_factory.mktemp("repo")
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], ROOT).split()
    for f in files:
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    params = yaml.safe_load((dst / "params.yaml").read_text())
    for section, values in MICRO.items():
        params[section].update(values)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], dst)
    run(["dvc", "unfreeze", "pretrain"], dst)  # the committed base is the default profile's: pretrain a micro one
    return dst


def test_the_committed_frozen_base_matches_its_lock_entry():
    """build/train/base is committed (the frozen `pretrain` stage, cache: false): its files must be
    exactly what dvc.lock recorded when the stage ran, as a downloaded checkpoint matches its hash."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]["pretrain"]
    assert yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["pretrain"].get("frozen") is True
    outs = {o["path"]: o for o in lock["outs"]}
    assert (ROOT / "build/train/base/transformer/diffusion_pytorch_model.safetensors").is_file()
    assert outs["build/train/base"]["nfiles"] == len([f for f in (ROOT / "build/train/base").rglob("*") if f.is_file()])
    status = subprocess.run(["dvc", "status", "pretrain", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert status.returncode == 0 and json.loads(status.stdout) == {}, status.stdout + status.stderr
    tracked = run(["git", "ls-files", "build/train/base"], ROOT).split()
    assert "build/train/base/transformer/diffusion_pytorch_model.safetensors" in tracked


def test_repro_builds_every_output_then_skips_when_nothing_changed(micro_repo):
    run(["dvc", "repro"], micro_repo)
    for name, stage in expanded_stages(micro_repo).items():
        for out in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
            path = micro_repo / (out if isinstance(out, str) else next(iter(out)))
            assert path.exists(), f"stage {name}: output {path} missing"
    for f in (micro_repo / "metrics/eval").glob("*.json"):
        scores = json.loads(f.read_text())
        assert set(scores["metrics"]) >= {"obj_iou", "face_cos", "lmd", "t_ssim", "ssim_gt"}, f
    # the trained variants, the ground truth and the two sanity rows
    assert len(list((micro_repo / "metrics/eval").glob("*.json"))) == len(expanded_stages(micro_repo, "evaluate")) + 3
    tables = micro_repo / "figures/06_tables"
    for name in ("main", "table1", "table2", "table3"):
        md = (tables / f"{name}.md").read_text()
        assert md.count("\n|") >= 3 and "scale" in md.lower() or name == "table1", name
        assert (tables / f"{name}.tex").read_text().startswith("\\begin{table}")
    assert list(tables.glob("*.png")) and list(tables.glob("*.gif"))
    assert "0.8288" in (tables / "main.md").read_text()  # the paper's value beside ours
    for name in ("main", "table2", "table3"):
        md = (tables / f"{name}.md").read_text()
        assert "`reference_repeated`" in md and "`other_clip`" in md and "SSIM to ground truth" in md, name
    verdicts = json.loads((micro_repo / "metrics/tables.json").read_text())["verdicts"]
    v = verdicts["rcm_cache_beats_single_view"]["obj_iou"]
    assert v["verdict"] in ("holds", "reversed", "within noise", "n/a") and {"effect", "low", "high"} <= set(v)
    assert set(verdicts["sanity"]) >= {"byteloom", "single_view", "pose_only"}
    usage = json.loads((micro_repo / "metrics/condition_usage.json").read_text())
    assert set(usage) == {"byteloom", "single_view", "pose_only"}
    assert set(usage["byteloom"]["test"]["mean"]["0.9"]) == {"own", "rcm_swapped", "cache_swapped", "both_swapped"}
    assert set(usage["pose_only"]["test"]["mean"]["0.9"]) == {"own"}
    assert "RCM swapped" in (tables / "condition_usage.md").read_text()
    metrics = json.loads((micro_repo / "metrics/rcm.json").read_text())
    assert metrics, "metrics/rcm.json is empty"
    assert list((micro_repo / "figures/01_rcm").glob("*.png")), "no figures written"

    second = run(["dvc", "repro"], micro_repo)
    assert "didn't change, skipping" in second and "Running stage" not in second
    assert "up to date" in run(["dvc", "status"], micro_repo)


def test_a_second_complete_run_gives_identical_results(micro_repo):
    """Same seeds, same numbers: retrain from scratch (checkpoints removed), resample, rescore."""
    def results():
        scores = {}
        for f in sorted((micro_repo / "metrics/eval").glob("*.json")):
            d = json.loads(f.read_text())
            d.pop("seconds"), d.pop("wall_seconds")  # wall times differ between runs
            scores[f.name] = d
        tables = {f.name: f.read_text() for f in sorted((micro_repo / "figures/06_tables").glob("*")) if f.suffix in (".md", ".tex")
                  and f.stem != "timings"}
        return scores, tables

    before = results()
    shutil.rmtree(micro_repo / "build/checkpoints")
    run(["dvc", "repro", "--force", "--downstream", "pretrain"], micro_repo)
    assert results() == before
    assert "up to date" in run(["dvc", "status"], micro_repo)


def test_a_forced_rerun_retrains_and_damaged_data_is_regenerated(micro_repo):
    """`dvc repro -f` on a finished run trains it again (its checkpoint went when it finished);
    a truncated clip file raises ClipError naming it, `dvc status` shows it, `dvc repro` rebuilds it."""
    from byteloom.data import ClipError, load_clip

    adapters = micro_repo / "build/train/I/seed0/adapters/pytorch_lora_weights.safetensors"
    before = adapters.read_bytes()
    assert not list((micro_repo / "build/checkpoints/I").rglob("checkpoint.pt"))
    run(["dvc", "repro", "-f", "-s", "train@I"], micro_repo)
    record = json.loads((micro_repo / "metrics/train/I.json").read_text())
    assert record["start_per_seed"] == ["fresh", "fresh"] and record["resumed_from_per_seed"] == [0, 0]
    assert record["seeds_at_once"] and record["torch_threads"] == 1  # the CPU trains both seeds at once
    assert all(s > 0 for s in record["seconds_per_seed"])
    assert adapters.read_bytes() == before  # retrained, to the same adapters (same machine)

    clip = sorted((micro_repo / "data/test").iterdir())[0]
    good = (clip / "frames.npz").read_bytes()
    (clip / "frames.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ClipError, match=r"frames\.npz: damaged or truncated"):
        load_clip(clip)
    assert "data@test" in run(["dvc", "status"], micro_repo)
    run(["dvc", "repro", "data@test"], micro_repo)
    assert (clip / "frames.npz").read_bytes() == good
    # regenerated byte for byte; only `tables` is stale, as it reads the retrained run's wall time
    assert "data@test" not in run(["dvc", "status"], micro_repo)


def test_dvc_plots_show_renders_offline(micro_repo, tmp_path):
    """`dvc plots show` uses the committed template with vega inlined: no script is fetched from the web."""
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], micro_repo)
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "vega-lite" in html and "loss" in html  # the libraries are inline, the loss curves are there
    assert "<script src=" not in html and "cdn.jsdelivr" not in html


def test_changing_a_parameter_reruns_the_stage(micro_repo):
    params = yaml.safe_load((micro_repo / "params.yaml").read_text())
    params["rcm"]["cache_views"] = 3
    (micro_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert "Running stage 'rcm'" in run(["dvc", "repro"], micro_repo)


def test_changing_a_stage_three_parameter_retrains_only_stage_three(micro_repo):
    params = yaml.safe_load((micro_repo / "params.yaml").read_text())
    params["curriculum"]["steps"]["stage3"] = 3
    (micro_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = run(["dvc", "status"], micro_repo)
    changed = {line.rstrip(":").strip() for line in status.splitlines() if line and not line.startswith("\t")
               and line.rstrip().endswith(":")}
    assert {"train@rcm_cache-I-II-III", "train@rcm_cache-III", "train@pose_only-I-III"} <= changed, status
    assert not {"train@I", "train@rcm_cache-I-II", "pretrain", "data@stage1"} & changed, status


def test_the_tables_stage_depends_on_every_rerun_folder_lesson_6_reads():
    """Lesson 6 section 10 reads every metrics/rerun_seeds_*/eval: each must be a dependency of
    `tables`, or DVC would not rerun the lesson when a rerun is added or changed."""
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["tables"]["deps"]
    folders = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "metrics").glob("rerun_seeds_*/eval"))
    assert folders, "no committed rerun with other seeds (README, Rerun with other seeds)"
    assert [f for f in folders if f not in deps] == []
    for f in folders:
        assert sorted(p.stem for p in (ROOT / f).glob("*.json")) == sorted(
            p.stem for p in (ROOT / "metrics/eval").glob("*.json")), f"{f}: not the same variants as metrics/eval"
    # section 11 reads every committed rerun of the Stage III length experiment with other seeds
    reruns = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "metrics").glob("adaptation_seeds_*.json"))
    assert [f for f in reruns if f not in deps] == []
