"""The paper's tables from our runs, each reproduced cell beside the paper's (paper §4, Tables 1-3).

Inputs: `paper/paper_numbers.yaml` (the paper's numbers, with their source), `metrics/eval/*.json`
(`byteloom.score`: mean ± std over seeds per metric, and every per-clip value), `metrics/train/*.json`
(run times and steps), `metrics/data.json` (what the generator produced). Output: tables as a small
structure (`Table`) rendered to Markdown and LaTeX; each verdict cell's numbers also in
`Table.verdicts` (for `metrics/tables.json`).

Orderings are judged on paired differences (`byteloom.stats`): every design is sampled on the same
clips with the same seeds and sampling noise, so "A beats B" on a metric is read from the per
(seed, clip) differences A - B (sign flipped where lower is better). Ours *holds* when the 95 %
interval of the mean difference (`stats.verdict_interval`: the union of a hierarchical bootstrap
over seeds and clips and a two-way Student-t interval) lies above 0, is
*reversed* when it lies below 0, and is *within noise* when it contains 0; each cell shows the
effect and the interval, e.g. `holds +0.031 [+0.012, +0.050]`.

Every table also shows two sanity rows that need no model (`score.SANITY`: the reference image
repeated for every frame, another clip's ground truth) and checks that each trained design beats
both on SSIM to the ground truth (`ssim_gt`); a design that does not is marked "model failed", in words.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from . import stats
from .score import GROUND_TRUTH, LABELS, OTHER_CLIP, REFERENCE_REPEATED, SANITY, summarise

PAPER_FILE = Path("paper/paper_numbers.yaml")
EVAL_DIR = Path("metrics/eval")


@dataclass
class Table:
    """A rendered-agnostic table: header, rows of cell strings, notes printed under it."""

    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    # row label -> column (metric, or SANITY_METRIC) -> `stats.paired_verdict` record(s) behind the cell
    verdicts: dict[str, dict] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- inputs


def load_paper(path: str | Path = PAPER_FILE) -> dict:
    """The paper's numbers; errors name the file and the missing part."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the paper's numbers file is missing")
    paper = yaml.safe_load(path.read_text())
    for key in ("metrics", "main_table", "stand_ins", "table1", "paper_scale"):
        if key not in paper:
            raise ValueError(f"{path}: missing section {key!r}")
    for row, values in paper["main_table"]["rows"].items():
        missing = set(paper["metrics"]) - set(values)
        if missing:
            raise ValueError(f"{path}: main_table row {row!r} lacks {sorted(missing)}")
    return paper


def load_eval(names, folder: str | Path = EVAL_DIR) -> dict[str, dict]:
    """`metrics/eval/<name>.json` for every name; a missing or malformed file is an error naming it."""
    out = {}
    for name in names:
        f = Path(folder) / f"{name}.json"
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no evaluation of {name!r} (run `dvc repro evaluate@{name}`)")
        data = json.loads(f.read_text())
        if "metrics" not in data or not all({"mean", "std"} <= set(v) for v in data["metrics"].values()):
            raise ValueError(f"{f}: not an evaluation file (expects metrics.<name>.mean/std)")
        out[name] = data
    return out


# ---------------------------------------------------------------------------------- cells


def fmt(x, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def ours(scores: dict, metric: str) -> str:
    m = scores["metrics"][metric]
    if m["mean"] is None:
        return "—"
    return fmt(m["mean"]) if not scores.get("seeds") else f"{fmt(m['mean'])} ± {fmt(m['std'])}"


def verdict(a: dict, b: dict, metric: str, higher: bool) -> dict:
    """Does "a beats b" hold on `metric`? The paired record (`stats.paired_verdict`):
    verdict holds / reversed / within noise (n/a without pairs), effect, low, high, n_seeds, n_clips."""
    return stats.paired_verdict(a, b, metric, higher)


def cell(v: dict) -> str:
    """'holds +0.031 [+0.012, +0.050]': the verdict, the mean paired difference and its 95 % interval."""
    return v["verdict"] if v["effect"] is None else f"{v['verdict']} {stats.format_interval(v)}"


def substitute_notes(scores: dict, metrics) -> list[str]:
    """One footnote per metric computed with a documented substitute (from `evaluate.METHODS`)."""
    methods = scores.get("methods", {})
    return [f"{m}: {methods[m]}" for m in metrics if "SUBSTITUTE" in methods.get(m, "")]


def _metric_header(paper: dict) -> list[str]:
    return [f"{v['name']} {'↑' if v['higher'] else '↓'}" for v in paper["metrics"].values()]


# ---------------------------------------------------------------------------------- tables


MAIN_ROWS = ("pose_only", "single_view", "byteloom_III", "byteloom", "byteloom_I_III", "byteloom_I_Obj_III",
             "byteloom_I_II_Obj_III")  # the paper's seven rows (three baselines by design), plus III only


def _paper_cell(paper: dict, name: str, metric: str) -> str:
    """The paper's value(s) of the row(s) our design `name` stands in for ('0.4644 · 0.4647' for two)."""
    stand = paper["stand_ins"].get(name, {})
    prows = [r for r in (stand.get("paper_row"), stand.get("also")) if r]
    return " · ".join(fmt(paper["main_table"]["rows"][r].get(metric), 4) for r in prows) or "—"


def main_table(paper: dict, scores: dict[str, dict], rows=MAIN_ROWS) -> Table:
    """ByteLoom against the baseline designs and curriculum variants on every metric; each cell:
    ours / the paper's row(s) our design stands in for (the pose-only design: UniAnimate-DiT ·
    MimicMotion). Rows without an evaluation are left out."""
    metrics = list(paper["metrics"])
    rows = [r for r in rows if r in scores]
    table = Table("Main comparison on the Mani4D(-mini) benchmark: ours (mean ± std over seeds) / paper",
                  ["design (our run)", "paper row"] + _metric_header(paper) + [SANITY_HEADER], [])
    for name in rows:
        s = scores[name]
        stand = paper["stand_ins"].get(name, {})
        prow = " · ".join(r for r in (stand.get("paper_row"), stand.get("also")) if r)
        table.rows.append([f"{s['label']} (`{name}`)", prow or "—"] +
                          [f"{ours(s, m)} / {_paper_cell(paper, name, m)}" for m in metrics] + [_sanity_cell(table, scores, name)])
    sanity_note = _add_sanity(table, scores, rows, metrics, lead=["—"])
    label = "ByteLoom beats the best baseline design?"
    beats = {m: _beats_all(scores, "byteloom", ("pose_only", "single_view"), m, paper["metrics"][m]["higher"])
             for m in metrics}
    table.rows.append([label, "paper: " + ", ".join(
        _paper_beats(paper, "Ours (I+II+III)", ("UniAnimate-DiT", "MimicMotion", "AnchorCrafter"), m) for m in metrics)] +
        [_beats_all_cell(beats[m]) for m in metrics] + ["—"])
    table.verdicts[label] = beats
    table.notes = _common_notes(paper, scores["byteloom"], metrics) + [
        "Baselines are the conditioning designs the published systems stand for, trained on our backbone and data "
        "with the same curriculum (pose only: UniAnimate-DiT / MimicMotion; single RGB view, no RCM: AnchorCrafter); "
        "their paper numbers are the published systems', not ours.", sanity_note]
    return table


def _paper_beats(paper, row, others, metric) -> str:
    v, hi = paper["main_table"]["rows"], paper["metrics"][metric]["higher"]
    best = max(v[o][metric] for o in others) if hi else min(v[o][metric] for o in others)
    return "yes" if (v[row][metric] > best if hi else v[row][metric] < best) else "no"


def _beats_all(scores, a, others, metric, higher) -> dict:
    """a against each of `others`: holds only when it holds against every one, reversed when it is
    reversed against any, else within noise. The record shown is the comparison with that verdict and
    the smallest effect (for holds: the closest baseline); every comparison is kept under "against"."""
    against = {o: verdict(scores[a], scores[o], metric, higher) for o in others}
    vs = list(against.values())
    overall = ("n/a" if any(v["verdict"] == "n/a" for v in vs) else "holds" if all(v["verdict"] == "holds" for v in vs)
               else "reversed" if any(v["verdict"] == "reversed" for v in vs) else "within noise")
    same = [v for v in vs if v["verdict"] == overall]
    shown = same[0] if overall == "n/a" else min(same, key=lambda v: v["effect"])
    return {**shown, "verdict": overall, "against": against}


def _beats_all_cell(v: dict) -> str:
    return v["verdict"] if v["effect"] is None else f"{cell(v)} vs `{v['b']}`"


# ---------------------------------------------------------------------------------- sanity rows

SANITY_METRIC = "ssim_gt"
SANITY_HEADER = "SSIM to ground truth ↑ (sanity check)"
SANITY_WORDS = {REFERENCE_REPEATED: "the reference image repeated", OTHER_CLIP: "another clip's ground truth"}


def sanity_check(scores: dict[str, dict], name: str) -> dict:
    """Does trained design `name` beat both sanity rows on SSIM to the ground truth?

    {"passed": bool, "against": {sanity row: `stats.paired_verdict` record}}: passed only when the
    paired interval lies above 0 against each (the sanity rows have one value per clip, paired with
    every seed of the design)."""
    missing = [r for r in SANITY if r not in scores]
    if missing:
        raise KeyError(f"no evaluation of the sanity row(s) {missing} (run `dvc repro evaluate_sanity`)")
    against = {r: verdict(scores[name], scores[r], SANITY_METRIC, True) for r in SANITY}
    return {"passed": all(v["verdict"] == "holds" for v in against.values()), "against": against}


def sanity_words(check: dict) -> str:
    """'beats both sanity rows: the reference image repeated +0.051 [+0.032, +0.070]; another clip's ...'
    or 'model failed: does not beat the reference image repeated on SSIM to the ground truth
    (−0.120 [−0.150, −0.090])'."""
    a = check["against"]
    if check["passed"]:
        return "beats both sanity rows: " + "; ".join(f"{SANITY_WORDS[r]} {stats.format_interval(v)}" for r, v in a.items())
    lost = [r for r, v in a.items() if v["verdict"] != "holds"]
    return ("model failed: does not beat " + " nor ".join(SANITY_WORDS[r] for r in lost) +
            " on SSIM to the ground truth (" + "; ".join(stats.format_interval(a[r]) for r in lost) + ")")


def _sanity_cell(table: Table, scores: dict[str, dict], name: str) -> str:
    """The SSIM-to-ground-truth cell of a trained design's row; records its check in `table.verdicts`."""
    check = sanity_check(scores, name)
    table.verdicts[f"`{name}` beats both sanity rows"] = {SANITY_METRIC: check}
    return f"{ours(scores[name], SANITY_METRIC)}; {sanity_words(check)}"


def _add_sanity(table: Table, scores: dict[str, dict], trained, metrics, lead: list[str]) -> str:
    """Append the ground truth (if scored) and the two sanity rows below the trained designs; return
    the note that names the trained designs that failed the sanity check."""
    for r in [GROUND_TRUTH] * (GROUND_TRUTH in scores) + list(SANITY):
        label = "Ground truth clips (upper reference)" if r == GROUND_TRUTH else LABELS[r]
        table.rows.append([f"{label} (`{r}`)", *lead] + [ours(scores[r], m) for m in metrics] +
                          [ours(scores[r], SANITY_METRIC)])
    failed = [n for n in trained if not table.verdicts[f"`{n}` beats both sanity rows"][SANITY_METRIC]["passed"]]
    return ("Sanity rows (no model): " + "; ".join(f"`{r}` = {SANITY_WORDS[r]}" for r in SANITY) +
            ". Every trained design must beat both on SSIM to the ground truth (paired interval above 0). " +
            (f"Model failed: {', '.join(f'`{n}`' for n in failed)} — their numbers measure samples that do not yet "
             "look like the benchmark's videos." if failed else "All trained designs pass."))


def table1(paper: dict, cfg, data_summary: dict) -> Table:
    """Table 1: curriculum stages — data, sizes and steps, ours beside the paper's."""
    t = Table("Table 1: training data per curriculum stage (ours: Mani4D-mini, generated)",
              ["stage", "paper data", "paper actors / objects / frames", "our clips (frames)", "our identities / objects",
               "our LoRA steps"], [])
    for stage, p in paper["table1"]["rows"].items():
        d = data_summary["splits"][stage]
        t.rows.append([p["name"], p["data"], f"{p['actors']} / {p['objects']} / {p['frames']}",
                       f"{d['clips']} ({d['total_frames']})", f"{d['identities']} / {d['objects']}",
                       str(cfg.curriculum.steps[stage])])
    d = data_summary["splits"].get("test")
    if d:
        t.rows.append(["Test (benchmark)", "Mani4D-Test", "—", f"{d['clips']} ({d['total_frames']})",
                       f"{d['identities']} / {d['objects']} (unseen)", "—"])
    t.notes = [f"Source: {paper['table1']['source']}. Wall times per run: `timings` (they vary between runs, "
               "so they are kept out of the tables, which must be identical for the same seeds).",
               f"Ours: {cfg.data.size[0]}x{cfg.data.size[1]} px clips of {cfg.data.frames} frames, trained at "
               f"{cfg.curriculum.size[0]}x{cfg.curriculum.size[1]}; the sizes keep the paper's shape (Stage I largest, "
               "Stage III smallest), not its scale."]
    return t


def timings(train_runs: dict[str, dict], eval_scores: dict[str, dict]) -> Table:
    """Measured wall time of every training run (per seed) and evaluation (per seed): what the
    time budget is checked against. Not a paper table; it changes from run to run."""
    t = Table("Wall time of the curriculum and evaluation (this machine)", ["stage", "kind", "seeds", "seconds per seed",
                                                                          "wall seconds"], [])
    for name, r in sorted(train_runs.items(), key=lambda kv: (kv[0] != "base", kv[0])):
        secs = r.get("seconds_per_seed") or []
        t.rows.append([name, f"training, {r.get('steps')} steps", str(len(secs)),
                       ", ".join(f"{x:.1f}" for x in secs), f"{r.get('wall_seconds', sum(secs)):.1f}"])
    for name, s in eval_scores.items():
        secs = [v["sample"] + v["score"] for v in s.get("seconds", {}).values()]
        t.rows.append([name, "sampling + scoring", str(len(secs)), ", ".join(f"{x:.1f}" for x in secs),
                       f"{s.get('wall_seconds', sum(secs)):.1f}"])
    total = sum(float(r[-1]) for r in t.rows)
    t.notes = [f"Sum: {total:.0f} s of training, sampling and scoring (without process start-up and notebook overhead; "
               "`scripts/repro.sh` prints the whole pipeline's time).",
               "On the CPU the seeds of a run train and sample at once, one thread each (`curriculum.per_seed`): "
               "a seed's own seconds then overlap, and the wall seconds are the stage's."]
    return t


def table2(paper: dict, scores: dict[str, dict]) -> Table:
    """Curriculum ablation: I+II+III, I+III, III only; ours / paper, and whether the paper's ordering holds."""
    metrics = list(paper["metrics"])
    rows = {"byteloom": "Ours (I+II+III)", "byteloom_I_III": "I+III", "byteloom_III": None,
            "byteloom_I_Obj_III": "I+Obj+III", "byteloom_I_II_Obj_III": "I+II+Obj+III"}
    rows = {k: v for k, v in rows.items() if k in scores}
    t = Table("Table 2: curriculum ablation, ours (mean ± std) / paper",
              ["curriculum (our run)"] + _metric_header(paper) + [SANITY_HEADER], [])
    for name, prow in rows.items():
        pv = paper["main_table"]["rows"].get(prow, {}) if prow else {}
        t.rows.append([f"{scores[name]['label']} (`{name}`)"] + [f"{ours(scores[name], m)} / {fmt(pv.get(m), 4)}" for m in metrics]
                      + [_sanity_cell(t, scores, name)])
    sanity_note = _add_sanity(t, scores, rows, metrics, lead=[])
    claims = [("byteloom", "byteloom_I_III", "Ours (I+II+III)", "I+III"), ("byteloom", "byteloom_III", None, None),
              ("byteloom_I_Obj_III", "byteloom_I_III", "I+Obj+III", "I+III"),  # the Obj stage helps without Stage II
              ("byteloom", "byteloom_I_II_Obj_III", "Ours (I+II+III)", "I+II+Obj+III")]  # and slightly hurts with it
    for a, b, pa, pb in [c for c in claims if c[0] in rows and c[1] in rows]:
        label, cells, records = f"`{a}` beats `{b}`?", [], {}
        for m in metrics:
            hi = paper["metrics"][m]["higher"]
            records[m] = verdict(scores[a], scores[b], m, hi)
            if pa:
                pv = paper["main_table"]["rows"]
                paper_says = (pv[pa][m] > pv[pb][m]) if hi else (pv[pa][m] < pv[pb][m])
                records[m]["paper"] = "yes" if paper_says else "no"
                cells.append(f"paper {records[m]['paper']}; ours {cell(records[m])}")
            else:
                cells.append(f"ours {cell(records[m])}")
        t.rows.append([label] + cells + ["—"])
        t.verdicts[label] = records
    t.notes = _common_notes(paper, scores["byteloom"], metrics) + [sanity_note]
    return t


def table3(paper: dict, scores: dict[str, dict], cache_rows: list[str]) -> Table:
    """RCM ablation: RCM + cache against the single-view design, and cache sizes (no paper numbers exist)."""
    metrics = list(paper["metrics"])
    t = Table("Table 3: RCM ablation and cache size (ours, mean ± std; the paper publishes no numbers)",
              ["design (our run)", "cache views"] + _metric_header(paper) + [SANITY_HEADER], [])
    trained = ["single_view", *cache_rows, "byteloom"]
    for name in trained:
        s = scores[name]
        t.rows.append([f"{s['label']} (`{name}`)", "1 RGB view, no RCM" if name == "single_view" else str(s["cache_views"])]
                      + [ours(s, m) for m in metrics] + [_sanity_cell(t, scores, name)])
    sanity_note = _add_sanity(t, scores, trained, metrics, lead=["—"])
    label = "RCM + cache beats single view?"
    t.verdicts[label] = {m: verdict(scores["byteloom"], scores["single_view"], m, paper["metrics"][m]["higher"])
                         for m in metrics}
    t.rows.append([label, "—"] + [cell(t.verdicts[label][m]) for m in metrics] + ["—"])
    if cache_rows:  # the paper's cache-size claim: more cached views help (all views against the fewest)
        fewest = min(cache_rows, key=lambda n: scores[n]["cache_views"])
        label = f"`byteloom` beats `{fewest}`?"
        t.verdicts[label] = {m: verdict(scores["byteloom"], scores[fewest], m, paper["metrics"][m]["higher"])
                             for m in metrics}
        t.rows.append([label, f"{scores['byteloom']['cache_views']} vs {scores[fewest]['cache_views']}"]
                      + [cell(t.verdicts[label][m]) for m in metrics] + ["—"])
    t.notes = [f"{paper['table3']['source']}. The cache-size rows sample the full model with fewer cached views "
               "than it was trained with."] + _common_notes(paper, scores["byteloom"], metrics) + [sanity_note]
    return t


def usage_table(usage: dict, labels: dict[str, str], scale: str) -> Table:
    """Does each trained variant use its object conditions? (`curriculum.usage_report`)

    Per variant and split: the share of latent positions the object covers, and at each σ the
    object-region denoising error with the clip's own conditions, then its change when the
    per-frame RCM, the cache or both come from another clip. Near 0 %: the condition is ignored.
    """
    header = ["variant", "split", "object share", "σ", "error, own conditions", "RCM swapped", "cache swapped",
              "both swapped"]
    rows = []
    for v, splits in usage.items():
        for split, u in splits.items():
            for s, e in u["mean"].items():
                own = e["own"]
                rel = [f"{100 * (e[k] - own) / own:+.1f} %" if k in e else "—"
                       for k in ("rcm_swapped", "cache_swapped", "both_swapped")]
                rows.append([labels.get(v, v), split, f"{100 * u['object_fraction']:.0f} %", f"{float(s):g}",
                             f"{own:.4f}", *rel])
    notes = [f"Our scale: {scale}.",
             "Error: mean squared error of the one-step clean estimate x̂₀ = x_σ − σ v̂ on the latent positions the "
             "object covers, mean over seeds (byteloom.train.condition_usage; fixed noise). A swapped condition "
             "comes from the next clip of the split. +x %: the model relies on it; about 0 %: it ignores it.",
             "Stage II clips are hand close-ups; Stage III and test clips show the whole body, where the object covers "
             "a few latent positions per frame; test objects and identities are held out."]
    return Table("Does the model use its object conditions? (ours; the paper has no such table)", header, rows, notes)


def _common_notes(paper, scores, metrics) -> list[str]:
    return [f"Our scale: {scores['scale']}. Paper scale: {paper['paper_scale']}. Source of paper values: "
            f"{paper['main_table']['source']}.",
            "Ordering verdicts: paired differences A − B per (seed, clip) (same clips, seeds and sampling noise; "
            "sign flipped where lower is better), effect = their mean, [low, high] = its 95 % interval: the union of a "
            f"hierarchical bootstrap ({stats.N_BOOT} resamples of seeds and clips) and a two-way Student-t interval "
            "(per-seed and per-clip spread, Welch-Satterthwaite degrees of freedom; with 3 seeds the bootstrap alone "
            "is too narrow); 'holds' when the interval lies above 0, "
            "'reversed' when below, otherwise 'within noise'."] + \
        [f"SUBSTITUTE — {n}" for n in substitute_notes(scores, metrics)]


# ---------------------------------------------------------------------------------- rendering


def to_markdown(t: Table) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = [f"**{t.title}**", "", "| " + " | ".join(map(esc, t.header)) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in t.rows]
    lines += [""] + [f"- {n}" for n in t.notes]
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    s = str(s)
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("—", "--"), ("`", ""),
                 ("≈", r"$\approx$"), ("−", "$-$"), ("x0", "x0")]:
        s = s.replace(a, b)
    return s


def to_latex(t: Table) -> str:
    cols = "l" * len(t.header)
    lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize", rf"\caption{{{_tex(t.title)}}}",
             rf"\begin{{tabular}}{{{cols}}}", r"\hline", " & ".join(map(_tex, t.header)) + r" \\", r"\hline"]
    lines += [" & ".join(map(_tex, r)) + r" \\" for r in t.rows]
    lines += [r"\hline", r"\end{tabular}"]
    lines += [rf"\par\smallskip\parbox{{\linewidth}}{{\tiny {_tex(n)}}}" for n in t.notes]
    lines += [r"\end{table}"]
    return "\n".join(lines) + "\n"


def write(t: Table, folder: str | Path, name: str) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, tex = folder / f"{name}.md", folder / f"{name}.tex"
    md.write_text(to_markdown(t))
    tex.write_text(to_latex(t))
    return md, tex


# ---------------------------------------------------------------------------------- samples


def ssim_by_frame(videos: dict, truth: dict) -> list[float]:
    """Mean over clips of the RGB SSIM of each frame of `videos` ({clip id: (T, h, w, 3) uint8}) to
    `truth` (same ids and shapes): where in the clip a design's samples stop looking like the data."""
    from skimage.metrics import structural_similarity

    missing = sorted(set(truth) - set(videos))
    if missing:
        raise KeyError(f"no sample for clip(s) {missing}")
    per = [[structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(videos[k], truth[k])]
           for k in truth]
    return [float(x) for x in np.mean(per, axis=0)]


def t_ssim_shared_masks(videos_a: dict, videos_b: dict, gts: dict, names=("a", "b")) -> dict:
    """T-SSIM of two designs over the object pixels *both* segment: is one design's object less
    consistent over time, or does it only show more object to score? (lesson 6 section 10)

    videos_a, videos_b: {seed: {clip id: (T, h, w, 3) uint8}} sampled on the same clips and noise;
    gts: {clip id: `evaluate.GroundTruth`} at the videos' size. T-SSIM scores the segmenter's object
    pixels (`evaluate.evaluate_video`), so two designs are usually scored on different pixels. Here
    each (seed, clip) is scored on the intersection of their masks. Returns per-(seed, clip) values
    in the scores layout `byteloom.stats` pairs (keys "a", "b"; variant names `names`) and the mean
    scored object pixels per frame of each design and of the ground truth ("pixels", keys `names`
    and "ground_truth"); a pair whose masks share no pixel is None.
    """
    from .metrics.tssim import t_ssim

    if set(videos_a) != set(videos_b):
        raise ValueError(f"the designs were sampled with other seeds: {sorted(videos_a)} vs {sorted(videos_b)}")
    rows = {"a": {}, "b": {}}
    pixels = {"a": [], "b": [], "ground_truth": [float(g.masks.sum((1, 2)).mean()) for g in gts.values()]}
    for seed in sorted(videos_a):
        for name, row in rows.items():
            row[f"seed{seed}"] = {}
        for k, g in gts.items():
            if k not in videos_a[seed] or k not in videos_b[seed]:
                raise KeyError(f"seed {seed}: no sample of clip {k} for both designs")
            cond = g.clip.rcm.any(-1)
            ma, mb = (g.segmenter(v[seed][k], g.clip) & cond for v in (videos_a, videos_b))
            pixels["a"].append(float(ma.sum((1, 2)).mean()))
            pixels["b"].append(float(mb.sum((1, 2)).mean()))
            shared = ma & mb
            for name, v in (("a", videos_a), ("b", videos_b)):
                value = t_ssim(v[seed][k], g.clip.rcm, g.bounds, masks=shared).value if shared.any() else None
                rows[name][f"seed{seed}"][k] = {"t_ssim": value}
    return {"a": {"variant": names[0], "seeds": sorted(videos_a), "per_clip": rows["a"]},
            "b": {"variant": names[1], "seeds": sorted(videos_b), "per_clip": rows["b"]},
            "pixels": {names[0]: float(np.mean(pixels["a"])), names[1]: float(np.mean(pixels["b"])),
                       "ground_truth": float(np.mean(pixels["ground_truth"]))}}


# ---------------------------------------------------------------------------------- reruns


# The paper's orderings summarised in metrics/tables.json: key -> (table, verdict row label)
CLAIMS = {
    "byteloom_beats_baselines": ("main", "ByteLoom beats the best baseline design?"),
    "I+II+III_beats_I+III": ("table2", "`byteloom` beats `byteloom_I_III`?"),
    "I+II+III_beats_III_only": ("table2", "`byteloom` beats `byteloom_III`?"),
    "rcm_cache_beats_single_view": ("table3", "RCM + cache beats single view?"),
    "I+Obj+III_beats_I+III": ("table2", "`byteloom_I_Obj_III` beats `byteloom_I_III`?"),
    "I+II+III_beats_I+II+Obj+III": ("table2", "`byteloom` beats `byteloom_I_II_Obj_III`?"),
}
CACHE_CLAIM = "more_cache_views_help"  # table3's "`byteloom` beats `byteloom_cache<fewest>`?"


def _record(v: dict) -> dict:
    """A verdict record as stored in metrics/tables.json."""
    keep = {k: v[k] for k in ("verdict", "effect", "low", "high", "n_seeds", "n_clips", "dropped", "paper") if k in v}
    if "against" in v:  # ByteLoom against each baseline design
        keep["against"] = {o: _record(x) for o, x in v["against"].items()}
    return keep


def claims_summary(tables: dict[str, Table], scale: str) -> dict:
    """The content of metrics/tables.json from the main table and Tables 2-3 (`tables` by name):
    every claim's verdict record per metric, the sanity check of every trained design, the number
    of verdicts per kind, and the scale. A claim whose rows a profile does not train is left out."""
    claims = dict(CLAIMS)
    cache = [label for label in tables["table3"].verdicts if label.startswith("`byteloom` beats `byteloom_cache")]
    if len(cache) > 1:
        raise ValueError(f"table3 has {len(cache)} cache-size claims {cache}; metrics/tables.json keeps one")
    if cache:
        claims[CACHE_CLAIM] = ("table3", cache[0])
    claims = {k: v for k, v in claims.items() if v[1] in tables[v[0]].verdicts}
    summary = {k: {m: _record(v) for m, v in tables[t].verdicts[label].items()} for k, (t, label) in claims.items()}
    sanity = {}
    for t in ("main", "table2", "table3"):
        for label, v in tables[t].verdicts.items():
            if label.endswith("beats both sanity rows"):
                check = v[SANITY_METRIC]
                sanity[label.split("`")[1]] = {"passed": check["passed"],
                                               **{r: _record(x) for r, x in check["against"].items()}}
    counts = {k: {v: sum(x["verdict"] == v for x in d.values()) for v in ("holds", "reversed", "within noise")}
              for k, d in summary.items()}
    return {"verdicts": {**summary, "sanity": sanity}, "counts": counts, "scale": scale}


def paper_tables(paper: dict, scores: dict[str, dict], cache_rows: list[str]) -> dict[str, Table]:
    """The tables that carry the paper's claims: main, Table 2, Table 3."""
    return {"main": main_table(paper, scores), "table2": table2(paper, scores),
            "table3": table3(paper, scores, cache_rows)}


NO_MODEL_TOLERANCE = 1e-5  # measured: 2.4e-7 at most between an AMD EPYC and an Intel Xeon run (README)


def same_scores(a: dict, b: dict, tol: float = NO_MODEL_TOLERANCE) -> bool:
    """Whether two `per_clip` records hold the same seeds, clips and metrics, every value within
    `tol` (NaN, a metric without a face, only where the other is NaN too)."""
    if a.keys() != b.keys() or any(a[s].keys() != b[s].keys() for s in a):
        return False
    for s in a:
        for c in a[s]:
            if a[s][c].keys() != b[s][c].keys():
                return False
            x = np.array([a[s][c][m] for m in a[s][c]], float)
            y = np.array([b[s][c][m] for m in a[s][c]], float)
            if not np.allclose(x, y, rtol=0.0, atol=tol, equal_nan=True):
                return False
    return True


def pool_seeds(runs: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """One set of evaluations from complete runs with different seeds: `runs` = {run name:
    {variant: `metrics/eval/<variant>.json`}}, every run with the same variants. A trained row
    gets every run's seeds (per-clip values and per-seed means); a seed in two runs is an error.
    The rows without a model (ground truth, sanity rows) must agree in every run, which checks that
    the runs scored the same benchmark clips: the same clips and metrics, every value within
    `NO_MODEL_TOLERANCE` (runs on other CPUs differ by float rounding in the metrics' networks)."""
    names = list(runs)
    if len(names) < 2:
        raise ValueError("pool_seeds needs two or more runs")
    variants = list(runs[names[0]])
    for n in names[1:]:
        if set(runs[n]) != set(variants):
            raise ValueError(f"runs {names[0]!r} and {n!r} evaluated different variants: "
                             f"{sorted(set(variants) ^ set(runs[n]))}")
    pooled = {}
    for v in variants:
        rows = [runs[n][v] for n in names]
        if not rows[0].get("seeds"):  # no model: the same clips must give the same scores
            for n, r in zip(names[1:], rows[1:]):
                if not same_scores(r["per_clip"], rows[0]["per_clip"]):
                    raise ValueError(f"{v}: run {n!r} scored other clips or values than {names[0]!r}; "
                                     "pool only runs of the same benchmark")
            pooled[v] = rows[0]
            continue
        seeds, per_clip = [], {}
        for n, r in zip(names, rows):
            clash = set(r["per_clip"]) & set(per_clip)
            if clash:
                raise ValueError(f"{v}: run {n!r} repeats {sorted(clash)}; pool runs with different seeds")
            seeds += list(r["seeds"])
            per_clip.update(r["per_clip"])
        metrics = {m: summarise([x for r in rows for x in r["metrics"][m]["per_seed"]]) for m in rows[0]["metrics"]}
        scale = rows[0].get("scale", "")
        pooled[v] = {**rows[0], "seeds": seeds, "per_clip": per_clip, "metrics": metrics,
                     "scale": scale.replace(f"{len(rows[0]['seeds'])} seed(s)", f"{len(seeds)} seed(s)")}
    return pooled


def seed_effects(a: dict, b: dict, metric: str, higher: bool) -> dict[str, float]:
    """{seed: mean over clips of the paired difference a - b} (positive = a better): how far each
    training seed's verdict would go on its own."""
    p = stats.paired_differences(a, b, metric, higher)
    return {s: float(np.nanmean(row)) if np.isfinite(row).any() else float("nan") for s, row in zip(p.seeds, p.values)}


def compare_runs(runs: dict[str, dict]) -> Table:
    """The verdicts of several complete runs side by side (e.g. the committed seeds and a rerun with
    other seeds): `runs` = {name: a `metrics/tables.json`}. One row per claim and metric; a verdict
    is *reproduced* only when every run gives the same one. A claim against several baselines also
    gets a row per baseline (not counted in the note). Sanity checks are compared too."""
    names = list(runs)
    first = runs[names[0]]["verdicts"]
    t = Table("Verdicts across runs (paired 95 % intervals; a claim counts only where every run agrees)",
              ["claim", "metric", *names, "same in every run"], [])
    agree = total = 0
    for claim, per_metric in first.items():
        if claim == "sanity":
            continue
        for m in per_metric:
            recs = [runs[n]["verdicts"].get(claim, {}).get(m) for n in names]
            cells = ["—" if r is None else f"{r['verdict']} {stats.format_interval(r)}" for r in recs]
            same = all(r is not None for r in recs) and len({r["verdict"] for r in recs}) == 1
            agree, total = agree + same, total + 1
            t.rows.append([claim, m, *cells, "yes" if same else "**no**"])
            t.verdicts[f"{claim}/{m}"] = {"same": same, "verdicts": [None if r is None else r["verdict"] for r in recs]}
            for o in (recs[0] or {}).get("against", {}):  # ByteLoom against each baseline: shown, not counted
                sub = [None if r is None else r.get("against", {}).get(o) for r in recs]
                same_o = all(r is not None for r in sub) and len({r["verdict"] for r in sub}) == 1
                t.rows.append([f"{claim} (against `{o}`)", m, *["—" if r is None else f"{r['verdict']} "
                               f"{stats.format_interval(r)}" for r in sub], "yes" if same_o else "**no**"])
                t.verdicts[f"{claim}/{m}/{o}"] = {"same": same_o, "verdicts": [None if r is None else r["verdict"] for r in sub]}
    for design in first.get("sanity", {}):
        recs = [runs[n]["verdicts"].get("sanity", {}).get(design) for n in names]
        cells = ["—" if r is None else ("beats both" if r["passed"] else "model failed") for r in recs]
        same = all(r is not None for r in recs) and len({r["passed"] for r in recs}) == 1
        t.rows.append([f"`{design}` beats both sanity rows", "ssim_gt", *cells, "yes" if same else "**no**"])
        t.verdicts[f"sanity/{design}"] = {"same": same, "verdicts": [None if r is None else r["passed"] for r in recs]}
    t.notes = [f"{agree} of {total} claim verdicts are the same in every run."] + [
        f"{n}: {runs[n].get('scale', '')}" for n in names]
    return t


def main(argv=None) -> None:
    """`python -m byteloom.report compare NAME=tables.json NAME=tables.json --out file.md`."""
    import argparse

    ap = argparse.ArgumentParser(description="Compare the verdicts of complete runs (metrics/tables.json files).")
    ap.add_argument("command", choices=["compare"])
    ap.add_argument("runs", nargs="+", help="NAME=path/to/tables.json, two or more")
    ap.add_argument("--out", required=True, help="Markdown file to write (a .tex beside it)")
    args = ap.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).is_file():
            raise SystemExit(f"{item}: expected NAME=path to an existing metrics/tables.json")
        data = json.loads(Path(path).read_text())
        if "verdicts" not in data:
            raise SystemExit(f"{path}: not a metrics/tables.json (no 'verdicts')")
        runs[name] = data
    if len(runs) < 2:
        raise SystemExit("compare needs two or more runs")
    out = Path(args.out)
    write(compare_runs(runs), out.parent, out.stem)


if __name__ == "__main__":
    main()
