"""The tables (paper section 4): paper values from the numbers file, paired ordering verdicts, sanity rows,
Markdown and LaTeX."""
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from byteloom import report as R

ROOT = Path(__file__).resolve().parents[1]
PAPER = R.load_paper(ROOT / "paper/paper_numbers.yaml")
METRICS = list(PAPER["metrics"])


CLIPS = [f"{i:04d}" for i in range(8)]


def fake(name, value, std=0.01, seeds=(0, 1, 2), views=4, ssim=0.6, noise=0.03):
    """An evaluation file: every metric `value` (1 - value where lower is better) plus per-(seed, clip)
    noise of its own (seeded by the name), SSIM to the ground truth `ssim` plus the same noise."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    keys = [f"seed{s}" for s in seeds] or ["seed0"]
    center = {m: value if PAPER["metrics"][m]["higher"] else 1 - value for m in METRICS} | {"ssim_gt": ssim}
    per_clip = {k: {c: {m: v + noise * rng.standard_normal() for m, v in center.items()} for c in CLIPS} for k in keys}
    return {"variant": name, "label": name.title(), "design": "rcm_cache", "stages": [], "cache_views": views,
            "seeds": list(seeds), "scale": "16x16 px, micro", "per_clip": per_clip,
            "metrics": {m: {"mean": v, "std": std, "per_seed": [v] * len(seeds)} for m, v in center.items()},
            "methods": {m: ("SUBSTITUTE: a stand-in" if m == "face_cos" else "as the peer") for m in METRICS}}


@pytest.fixture
def scores():
    return {"byteloom": fake("byteloom", 0.8), "byteloom_I_III": fake("byteloom_I_III", 0.7),
            "byteloom_III": fake("byteloom_III", 0.795), "single_view": fake("single_view", 0.9),
            "pose_only": fake("pose_only", 0.5), "byteloom_cache1": fake("byteloom_cache1", 0.6, views=1),
            "ground_truth": fake("ground_truth", 1.0, std=0.0, seeds=(), ssim=1.0, noise=0.0),
            "reference_repeated": fake("reference_repeated", 0.3, std=0.0, seeds=(), ssim=0.4),
            "other_clip": fake("other_clip", 0.3, std=0.0, seeds=(), ssim=0.2)}


INTERVAL = r"[+−]\d\.\d{3} \[[+−]\d\.\d{3}, [+−]\d\.\d{3}\]"


def test_verdicts_are_paired_intervals_shown_in_every_cell(scores):
    t = R.table2(PAPER, scores)
    rows = {r[0]: r[1:-1] for r in t.rows}
    holds = rows["`byteloom` beats `byteloom_I_III`?"]
    assert all(re.fullmatch(f"paper (yes|no); ours holds {INTERVAL}", c) for c in holds), holds
    assert all(re.fullmatch(f"ours within noise {INTERVAL}", c) for c in rows["`byteloom` beats `byteloom_III`?"])
    # the cell's numbers are the record's: effect 0.1 planted, interval around it
    rec = t.verdicts["`byteloom` beats `byteloom_I_III`?"]["obj_iou"]
    assert rec["verdict"] == "holds" and rec["low"] < 0.1 < rec["high"] and rec["low"] > 0 and rec["paper"] == "yes"
    assert f"+{rec['effect']:.3f} [+{rec['low']:.3f}, +{rec['high']:.3f}]" in holds[METRICS.index("obj_iou")]
    t3 = R.table3(PAPER, scores, ["byteloom_cache1"])
    t3_rows = {r[0]: r for r in t3.rows}
    single = t3_rows["RCM + cache beats single view?"]
    assert all(re.fullmatch(f"reversed {INTERVAL}", c) for c in single[2:-1])  # single view is better here
    cache = t3_rows["`byteloom` beats `byteloom_cache1`?"]  # the paper's "more cache views help"
    assert cache[1] == "4 vs 1" and all(re.fullmatch(f"holds {INTERVAL}", c) for c in cache[2:-1])
    assert t3.verdicts["`byteloom` beats `byteloom_cache1`?"]["obj_iou"]["b"] == "byteloom_cache1"
    # the paper's own ordering on Back-Cons is I+III > I+II+III: the table must say so, not assume
    assert holds[METRICS.index("back_cons")].startswith("paper no")
    json.dumps(t.verdicts)  # the records go to metrics/tables.json


def test_byteloom_beats_the_baselines_only_when_it_beats_each(scores):
    t = R.main_table(PAPER, scores)
    row = next(r for r in t.rows if r[0].startswith("ByteLoom beats"))
    rec = t.verdicts["ByteLoom beats the best baseline design?"]["obj_iou"]
    assert rec["against"]["pose_only"]["verdict"] == "holds" and rec["against"]["single_view"]["verdict"] == "reversed"
    assert rec["verdict"] == "reversed" and re.fullmatch(f"reversed {INTERVAL} vs `single_view`", row[2])
    scores["single_view"] = fake("single_view", 0.6)
    rec = R.main_table(PAPER, scores).verdicts["ByteLoom beats the best baseline design?"]["obj_iou"]
    assert rec["verdict"] == "holds" and rec["b"] == "single_view"  # the closer of the two is shown
    scores["single_view"] = fake("single_view", 0.8)
    rec = R.main_table(PAPER, scores).verdicts["ByteLoom beats the best baseline design?"]["obj_iou"]
    assert rec["verdict"] == "within noise" and rec["against"]["pose_only"]["verdict"] == "holds"
    for name in ("byteloom", "pose_only", "single_view"):  # a metric with nothing to score anywhere
        for clips in scores[name]["per_clip"].values():
            for v in clips.values():
                v["face_cos"] = float("nan")
    t = R.main_table(PAPER, scores)
    row = next(r for r in t.rows if r[0].startswith("ByteLoom beats"))
    assert row[1 + METRICS.index("face_cos") + 1] == "n/a"
    rec = t.verdicts["ByteLoom beats the best baseline design?"]["face_cos"]
    assert rec["verdict"] == "n/a" and rec["effect"] is None and rec["dropped"] == 3 * len(CLIPS)


def test_every_table_shows_the_sanity_rows_and_a_failed_model_says_so(scores):
    scores["pose_only"] = fake("pose_only", 0.5, ssim=0.3)  # beats another clip, not the repeated reference
    tables = {"main": R.main_table(PAPER, scores), "table2": R.table2(PAPER, scores),
              "table3": R.table3(PAPER, scores, ["byteloom_cache1"])}
    for name, t in tables.items():
        labels = [r[0] for r in t.rows]
        assert any("`reference_repeated`" in x for x in labels) and any("`other_clip`" in x for x in labels), name
        assert t.header[-1].startswith("SSIM to ground truth")
        for r in t.rows:
            if "`byteloom`" in r[0] and "beats" not in r[0]:
                assert re.fullmatch(rf"0\.\d{{3}} ± 0\.010; beats both sanity rows: the reference image repeated "
                                    rf"{INTERVAL}; another clip's ground truth {INTERVAL}", r[-1]), r[-1]
    main = {r[0]: r for r in tables["main"].rows}
    failed = main["Pose_Only (`pose_only`)"][-1]
    assert re.fullmatch(r"0\.300 ± 0\.010; model failed: does not beat the reference image repeated on SSIM to the "
                        r"ground truth \(−0\.\d{3} \[−0\.\d{3}, −0\.\d{3}\]\)", failed), failed
    assert "another clip" not in failed
    check = tables["main"].verdicts["`pose_only` beats both sanity rows"]["ssim_gt"]
    assert not check["passed"] and check["against"]["other_clip"]["verdict"] == "holds"
    assert any("Model failed: `pose_only`" in n for n in tables["main"].notes)
    assert any("All trained designs pass" in n for n in tables["table2"].notes)
    assert main["Sanity: reference image repeated for every frame (`reference_repeated`)"][-1] == "0.400"
    del scores["other_clip"]
    with pytest.raises(KeyError, match="other_clip"):
        R.table2(PAPER, scores)


def test_paper_values_come_from_the_numbers_file(scores):
    t = R.main_table(PAPER, scores)
    row = next(r for r in t.rows if "`byteloom`" in r[0])
    expect = PAPER["main_table"]["rows"]["Ours (I+II+III)"]["obj_iou"]
    assert row[2].endswith(f"/ {expect:.4f}") and row[2].startswith("0.800 ± 0.010")
    assert any(r[0].startswith("Ground truth clips") and r[2] == "1.000" for r in t.rows)
    sv = next(r for r in t.rows if "`single_view`" in r[0])
    assert sv[1] == "AnchorCrafter"
    assert any("SUBSTITUTE" in n and "face_cos" in n for n in t.notes)
    assert any("16x16 px, micro" in n for n in t.notes)  # the scale is printed under the table


def test_markdown_and_latex_are_well_formed(scores):
    for t in (R.main_table(PAPER, scores), R.table2(PAPER, scores), R.table3(PAPER, scores, ["byteloom_cache1"])):
        md = R.to_markdown(t).splitlines()
        table_lines = [l for l in md if l.startswith("|")]
        assert len({l.count("|") - l.count("\\|") for l in table_lines}) == 1
        tex = R.to_latex(t)
        assert tex.count("{") == tex.count("}")
        body = [l for l in tex.splitlines() if l.endswith(r"\\")]
        assert body and all(l.count("&") - l.count(r"\&") == len(t.header) - 1 for l in body)


def test_missing_or_malformed_inputs_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="byteloom.json"):
        R.load_eval(["byteloom"], tmp_path)
    (tmp_path / "byteloom.json").write_text(json.dumps({"metrics": {"obj_iou": {"mean": 1}}}))
    with pytest.raises(ValueError, match="byteloom.json"):
        R.load_eval(["byteloom"], tmp_path)
    bad = tmp_path / "paper.yaml"
    bad.write_text("metrics: {}\n")
    with pytest.raises(ValueError, match="paper.yaml"):
        R.load_paper(bad)


def test_compare_runs_reports_which_verdicts_survive_a_rerun(tmp_path):
    def run(effect, passed=True):
        rec = lambda e: {"verdict": "holds" if e > 0.02 else "within noise", "effect": e, "low": e - 0.02,  # noqa: E731
                         "high": e + 0.02}
        return {"verdicts": {"claim_a": {"obj_iou": {**rec(effect), "against": {"pose_only": rec(0.1)}}, "lmd": rec(0.1)},
                             "sanity": {"byteloom": {"passed": passed}}}, "scale": "micro"}
    t = R.compare_runs({"seeds 0-2": run(0.1), "seeds 3-5": run(0.01, passed=False)})
    rows = {(r[0], r[1]): r for r in t.rows}
    assert rows[("claim_a", "obj_iou")][-1] == "**no**" and rows[("claim_a", "lmd")][-1] == "yes"
    assert rows[("claim_a", "obj_iou")][2].startswith("holds +0.100 [+0.080, +0.120]")
    assert rows[("`byteloom` beats both sanity rows", "ssim_gt")][2:] == ["beats both", "model failed", "**no**"]
    assert t.notes[0] == "1 of 2 claim verdicts are the same in every run."  # per-baseline rows not counted
    assert rows[("claim_a (against `pose_only`)", "obj_iou")][2:] == ["holds +0.100 [+0.080, +0.120]"] * 2 + ["yes"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run(0.1)))
    b.write_text(json.dumps(run(0.1)))
    R.main(["compare", f"x={a}", f"y={b}", "--out", str(tmp_path / "cmp.md")])
    assert "2 of 2 claim verdicts" in (tmp_path / "cmp.md").read_text()
    with pytest.raises(SystemExit, match="NAME=path"):
        R.main(["compare", f"x={a}", str(b), "--out", str(tmp_path / "c.md")])


def test_ssim_by_frame_is_one_where_the_sample_is_the_truth_and_names_missing_clips():
    rng = np.random.default_rng(0)
    truth = {c: rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8) for c in ("a", "b")}
    broken = {c: v.copy() for c, v in truth.items()}
    for v in broken.values():
        v[2] = rng.integers(0, 256, v[2].shape, dtype=np.uint8)  # the last frame is noise
    curve = R.ssim_by_frame(broken, truth)
    assert curve[:2] == [1.0, 1.0] and curve[2] < 0.2
    with pytest.raises(KeyError, match="'b'"):
        R.ssim_by_frame({"a": truth["a"]}, truth)


def test_scale_line_names_every_curriculum_stage_with_its_steps():
    from byteloom import score
    from byteloom.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "params.yaml")
    line = score.scale_line(cfg)
    m = re.search(r"steps ([\w/]+) = ([\d/]+)", line)
    assert m, line
    names, steps = m.group(1).split("/"), m.group(2).split("/")
    assert names == ["I", "II", "Obj", "III"]
    assert [int(s) for s in steps] == [cfg.curriculum.steps[s] for s in ("stage1", "stage2", "objmv", "stage3")]


def test_pooling_two_runs_keeps_every_seed_and_refuses_clashes_or_other_benchmarks(scores):
    rerun = {k: fake(k, v["metrics"]["obj_iou"]["mean"], seeds=() if not v["seeds"] else (3, 4, 5),
                     views=v["cache_views"], noise=0.0 if k == "ground_truth" else 0.03) for k, v in scores.items()}
    for k in ("ground_truth", "reference_repeated", "other_clip"):
        rerun[k] = scores[k]  # the rows without a model: the same benchmark gives the same scores
    pooled = R.pool_seeds({"seeds 0-2": scores, "seeds 3-5": rerun})
    b = pooled["byteloom"]
    assert b["seeds"] == [0, 1, 2, 3, 4, 5] and sorted(b["per_clip"]) == [f"seed{s}" for s in range(6)]
    assert len(b["metrics"]["obj_iou"]["per_seed"]) == 6
    # the pooled verdict rests on all six seeds, and its table summary is metrics/tables.json's shape
    v = R.verdict(b, pooled["byteloom_I_III"], "obj_iou", True)
    assert v["n_seeds"] == 6 and v["verdict"] == "holds"
    summary = R.claims_summary(R.paper_tables(PAPER, pooled, ["byteloom_cache1"]), b["scale"])
    assert summary["verdicts"]["I+II+III_beats_I+III"]["obj_iou"]["n_seeds"] == 6
    assert summary["counts"]["more_cache_views_help"]["holds"] == len(METRICS)
    # one value per seed: the effect each training seed shows on its own, planted at +0.1
    eff = R.seed_effects(b, pooled["byteloom_I_III"], "obj_iou", True)
    assert list(eff) == [f"seed{s}" for s in range(6)] and all(0.05 < e < 0.15 for e in eff.values())
    with pytest.raises(ValueError, match="byteloom.*seed0"):
        R.pool_seeds({"a": scores, "b": scores})
    # another CPU: the metrics' networks round differently, by 1e-7 (README); still the same benchmark
    import copy

    nudged = copy.deepcopy(rerun)
    for clip in nudged["reference_repeated"]["per_clip"]["seed0"].values():
        clip.update({m: v + 2e-7 for m, v in clip.items()})
    assert R.pool_seeds({"seeds 0-2": scores, "seeds 3-5": nudged})["byteloom"]["seeds"] == [0, 1, 2, 3, 4, 5]
    other = {**rerun, "reference_repeated": fake("reference_repeated", 0.2, std=0.0, seeds=(), ssim=0.3)}
    with pytest.raises(ValueError, match="reference_repeated.*same benchmark"):
        R.pool_seeds({"a": scores, "b": other})


def test_t_ssim_on_shared_masks_pairs_two_designs_on_the_same_pixels():
    """Identical videos: effect 0; an object drifting in colour over time scores below the clean one."""
    from byteloom import corrupt, evaluate as E, stats

    from .test_evaluate import benchmark_clip

    gt = E.prepare_ground_truth(benchmark_clip(0), (32, 32), clip_id="0000")
    clean = gt.clip.rgb
    drift = corrupt.texture_drift(clean, gt.clip.extra["mask_object"], 0.5, seed=0)  # the segmenter keeps most of it
    same = R.t_ssim_shared_masks({0: {"0000": clean}}, {0: {"0000": clean.copy()}}, {"0000": gt}, ("x", "y"))
    assert same["a"]["variant"] == "x" and same["pixels"]["x"] == same["pixels"]["y"] > 0
    assert stats.paired_verdict(same["a"], same["b"], "t_ssim", True)["effect"] == 0
    out = R.t_ssim_shared_masks({0: {"0000": clean}, 1: {"0000": clean}}, {0: {"0000": drift}, 1: {"0000": drift}},
                                {"0000": gt})
    a, b = out["a"]["per_clip"]["seed0"]["0000"]["t_ssim"], out["b"]["per_clip"]["seed0"]["0000"]["t_ssim"]
    assert a > b and out["pixels"]["ground_truth"] == pytest.approx(gt.masks.sum((1, 2)).mean())
    with pytest.raises(ValueError, match="other seeds"):
        R.t_ssim_shared_masks({0: {"0000": clean}}, {1: {"0000": clean}}, {"0000": gt})
    with pytest.raises(KeyError, match="no sample of clip 0000"):
        R.t_ssim_shared_masks({0: {}}, {0: {"0000": clean}}, {"0000": gt})
