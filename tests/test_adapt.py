"""Lesson 7 (`notebooks/07_adapt.ipynb`) under papermill on the micro model: benchmark clips exported
to the raw layouts (frames, OpenPose JSON, BOP poses + mesh), imported back, the shipped
ByteLoom I+II+III adapters trained a few steps further on them, a video generated for the held-out
clip and scored against its ground truth. Also the shell command of `docs/adapt.md`."""
import json
import re
import shlex
import time
from pathlib import Path

import numpy as np
import papermill as pm
import pytest
from safetensors.numpy import load_file

from byteloom import curriculum as C
from byteloom import generate as G
from byteloom.data import load_clip, split_folders
from byteloom.evaluate import METRICS
from tests.test_generate import FRAMES, SIZE, read_mp4, world  # noqa: F401 (world: the micro I+II+III run)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_adapt.ipynb"
STEPS = 3  # micro: 3 training steps (the lesson's default is 60); sampling takes the micro sampler.steps (2)


@pytest.fixture(scope="module")
def lesson(world, tmp_path_factory):  # noqa: F811
    """The lesson executed in a folder laid out like the repository after `dvc repro` (build/train),
    writing to its default work folder build/adapt/."""
    tmp = tmp_path_factory.mktemp("adapt")
    (tmp / "build").mkdir()
    (tmp / "build" / "train").symlink_to(world / "train")  # for docs/adapt.md's command (default folders)
    t0 = time.perf_counter()
    pm.execute_notebook(str(NOTEBOOK), str(tmp / "07_adapt.ipynb"), kernel_name="python3", cwd=str(tmp),
                        progress_bar=False,
                        parameters=dict(params_file=str(world / "params.yaml"), train_dir=str(world / "train"),
                                        steps=STEPS, sample_steps=2))
    print(f"papermill: {time.perf_counter() - t0:.1f} s")
    return tmp


def test_raw_clips_import_back_as_the_benchmark_clips(lesson, world):  # noqa: F811
    data = lesson / "build/adapt/data"
    assert sorted(p.name for p in (data / "mine").iterdir()) == ["clip0", "clip1"]
    assert sorted(p.name for p in (data / "held_out").iterdir()) == ["clip2"]
    sources = split_folders(world / "data", "test")
    for i, folder in enumerate(sorted((data / "mine").iterdir()) + sorted((data / "held_out").iterdir())):
        clip, source = load_clip(folder), load_clip(sources[i])
        assert clip.meta["split"] == folder.parent.name
        assert np.array_equal(clip.rgb, source.rgb), "frames go through PNG losslessly"
        np.testing.assert_allclose(clip.poses, source.poses, atol=1e-4)  # BOP: mm, 6 decimals
        np.testing.assert_allclose(clip.body[..., :2], source.body[..., :2], atol=1e-2)
        assert clip.rcm.any(axis=(1, 2, 3)).all(), "the object's RCM is rendered in every frame"
        assert clip.cache.num_views == 2  # micro data.cache_views


def test_the_adapters_continue_from_the_shipped_ones(lesson, world):  # noqa: F811
    run = lesson / "build/adapt/rcm_cache-mine/seed0"
    shipped = load_file(C.adapter_dir("rcm_cache-I-II-III", 0, world / "train") / "pytorch_lora_weights.safetensors")
    adapted = load_file(run / "adapters" / "pytorch_lora_weights.safetensors")
    assert adapted.keys() == shipped.keys()
    moved = [k for k in shipped if not np.array_equal(shipped[k], adapted[k])]
    assert moved, "fine-tuning changed no LoRA weight"
    assert max(np.abs(adapted[k] - shipped[k]).max() for k in moved) < 0.1, "3 steps move the weights a little"
    assert len((run / "loss.csv").read_text().splitlines()) == 1 + STEPS
    assert not (lesson / "build/adapt/checkpoints/checkpoint.pt").exists(), "a finished run keeps no checkpoint"


def test_held_out_videos_and_scores(lesson):
    adapt = lesson / "build/adapt"
    for name in ("shipped", "adapted"):
        assert read_mp4(adapt / f"held_out_{name}.mp4").shape == (FRAMES, *SIZE, 3)
        assert read_mp4(adapt / f"held_out_{name}_panel.mp4").shape[:2] == (FRAMES, SIZE[0])
    scores = json.loads((adapt / "scores.json").read_text())
    assert scores["clip"] == "clip2" and scores["train_clips"] == ["clip0", "clip1"] and scores["steps"] == STEPS
    for name in ("shipped", "adapted"):
        assert set(scores[name]) == set(METRICS)
        assert np.isfinite([scores[name][m] for m in ("obj_iou", "ssim_gt", "subj_cons")]).all()
    assert scores["shipped"] != scores["adapted"], "the adapted adapters made another video"
    assert (adapt / "figures" / "held_out.png").is_file()


def test_the_guides_command_runs(lesson, monkeypatch):
    """docs/adapt.md's `byteloom-generate` command, as written, on the lesson's outputs."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "docs" / "adapt.md").read_text(), re.S)
    commands = [shlex.split(b.replace("\\\n", " ")) for b in blocks if "byteloom.generate" in b]
    assert len(commands) == 1
    argv = commands[0][commands[0].index("byteloom.generate") + 1:]
    out = argv.index("--out") + 1
    assert argv[out] == "build/adapt/held_out_adapted.mp4"
    argv[out] = "build/adapt/from_the_guide.mp4"  # beside the lesson's, not over it
    monkeypatch.chdir(lesson)
    r = G.generate(argv)
    assert read_mp4(r["out"]).shape == (FRAMES, *SIZE, 3)
    assert r["panel"].is_file()
