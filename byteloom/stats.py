"""Paired statistics for "design A beats design B" (paper section 4: every ordering the tables claim).

Every evaluated design is sampled on the same benchmark clips, with the same seeds and the same
sampling noise (`curriculum.sample_split` draws clip i's noise from seed + i), so two designs'
scores pair by (seed, clip): the difference on one pair removes what the clip and the noise
contribute to both. A verdict is read from a confidence interval of the mean paired difference:

    diffs = paired_differences(a, b, "obj_iou", higher=True)    # (n_seeds, n_clips), + = a better
    ci = verdict_interval(diffs)                                  # effect, low, high (95 %)
    paired_verdict(a, b, "obj_iou", True)["verdict"]              # holds / reversed / within noise

The interval is the wider of two (their union):

- a hierarchical bootstrap: each resample draws the seeds with replacement and, independently,
  the clips with replacement, and takes the mean over the grid of drawn (seed, clip) cells - so
  it is wide when either the seeds or the clips disagree;
- a two-way Student-t interval (`t_interval`): the standard error adds the spread of the per-seed
  means and of the per-clip means, with Welch-Satterthwaite degrees of freedom. With 3 seeds the
  bootstrap sees only 3 training runs and is too narrow (small-cluster bias: on a rerun with
  other seeds, verdicts whose bootstrap intervals both excluded 0 flipped sign); the t quantile
  with 2 degrees of freedom (4.30) is what 3 runs can support.

"holds" needs the whole interval above 0, "reversed" below 0; an interval that contains 0 is
"within noise".

Inputs are the evaluation files of `byteloom.score` (`metrics/eval/<variant>.json`):
`per_clip` = {"seed<k>": {clip_id: {metric: value}}} and `seeds` (the list of seeds). A row
scored without seeds (`seeds` = [], e.g. the ground truth and the sanity rows, one value per
clip) pairs its per-clip value with every seed of the other design.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["Paired", "per_clip_values", "paired_differences", "bootstrap_ci", "t_interval", "verdict_interval",
           "classify", "paired_verdict", "format_interval", "N_BOOT", "LEVEL"]

N_BOOT = 2000
LEVEL = 0.95


@dataclass
class Paired:
    """Oriented paired differences of one metric: values[s, c] = a - b (or b - a when lower is
    better) on seed `seeds[s]` and clip `clips[c]`; NaN marks a pair dropped for a NaN score."""

    a: str
    b: str
    metric: str
    seeds: list[str]
    clips: list[str]
    values: np.ndarray  # (n_seeds, n_clips) float, NaN = dropped pair
    dropped: int  # pairs dropped because a or b is NaN there

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def _name(scores: dict) -> str:
    return str(scores.get("variant", "?"))


def _unseeded(scores: dict) -> bool:
    """A row scored once per clip, without seeds (ground truth, sanity rows)."""
    return "seeds" in scores and not scores["seeds"]


def per_clip_values(scores: dict, metric: str) -> dict[str | None, dict[str, float]]:
    """{seed key: {clip id: value}} of `metric`; an unseeded row has the single key None."""
    per_clip = scores.get("per_clip") or {}
    if not per_clip:
        raise ValueError(f"{_name(scores)}: no per-clip scores (per_clip is empty)")
    if _unseeded(scores):
        if len(per_clip) != 1:
            raise ValueError(f"{_name(scores)}: scored without seeds but per_clip has {len(per_clip)} entries")
        per_clip = {None: next(iter(per_clip.values()))}
    out = {}
    for seed, clips in per_clip.items():
        missing = [c for c, m in clips.items() if metric not in m]
        if missing:
            raise KeyError(f"{_name(scores)}: no {metric!r} score for clip(s) {missing[:3]} of {seed or 'the row'}")
        out[seed] = {c: float("nan") if m[metric] is None else float(m[metric]) for c, m in clips.items()}
    return out


def paired_differences(a: dict, b: dict, metric: str, higher: bool) -> Paired:
    """Differences a - b of `metric` on every (seed, clip) both were scored on, oriented so that
    positive means `a` is better (`higher`: is a larger value better?).

    An unseeded row (one value per clip) pairs with every seed of the other; two unseeded rows
    give one row of differences. A pair where either value is NaN (a metric with nothing to
    score on that clip) is dropped: NaN in `values`, counted in `dropped`. No (seed, clip) in
    common is an error naming both designs.
    """
    va, vb = per_clip_values(a, metric), per_clip_values(b, metric)
    if None in va and None not in vb:
        va = {s: va[None] for s in vb}
    elif None in vb and None not in va:
        vb = {s: vb[None] for s in va}
    seeds = [s for s in va if s in vb]
    clips = sorted({c for s in seeds for c in va[s]} & {c for s in seeds for c in vb[s]})
    seeds = [s for s in seeds if any(c in va[s] and c in vb[s] for c in clips)]
    if not seeds or not clips:
        raise ValueError(f"{_name(a)} vs {_name(b)}: no (seed, clip) scored for both "
                         f"({_name(a)}: seeds {sorted(map(str, va))}, {_name(b)}: seeds {sorted(map(str, vb))})")
    sign = 1.0 if higher else -1.0
    nan = float("nan")
    grid = np.array([[sign * (va[s].get(c, nan) - vb[s].get(c, nan)) for c in clips] for s in seeds], float)
    both_present = np.array([[c in va[s] and c in vb[s] for c in clips] for s in seeds])
    dropped = int((both_present & ~np.isfinite(grid)).sum())
    return Paired(_name(a), _name(b), metric, ["-" if s is None else str(s) for s in seeds], clips, grid, dropped)


def _resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n): how often each of n units is drawn in each resample (n draws with replacement)."""
    idx = rng.integers(0, n, size=(n_boot, n))
    return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(float)


def _prepare(diffs, level: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """The checked (n_seeds, n_clips) grid without seeds / clips that have no pair, its finite-cell
    mask, and the interval record with effect, low and high still None."""
    d = np.atleast_2d(np.asarray(diffs, float))
    if d.ndim != 2:
        raise ValueError(f"differences must be (n_seeds, n_clips), got shape {d.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    ok = np.isfinite(d)
    dropped = diffs.dropped if isinstance(diffs, Paired) else int((~ok).sum())
    d = d[ok.any(1)][:, ok.any(0)]  # seeds / clips without any pair carry no information
    out = {"effect": None, "low": None, "high": None, "n_seeds": int(d.shape[0]), "n_clips": int(d.shape[1]),
           "dropped": dropped}
    return d, np.isfinite(d), out


def bootstrap_ci(diffs, n_boot: int = N_BOOT, level: float = LEVEL, rng_seed: int = 0) -> dict:
    """Mean paired difference and its hierarchical-bootstrap percentile interval.

    diffs: (n_seeds, n_clips) array or `Paired`; NaN cells are left out of every mean. Each of
    `n_boot` resamples draws n_seeds seeds and n_clips clips with replacement (with one seed,
    the clips only) and averages the drawn grid. Deterministic for a fixed `rng_seed`.
    Returns {"effect", "low", "high", "n_seeds", "n_clips", "dropped"}; effect, low and high
    are None when no pair is left.
    """
    d, ok, out = _prepare(diffs, level)
    if not ok.any():
        return out
    x, w = np.where(ok, d, 0.0), ok.astype(float)
    rng = np.random.default_rng(rng_seed)
    n_s, n_c = d.shape
    seeds = _resample_counts(rng, n_s, n_boot) if n_s > 1 else np.ones((n_boot, 1))
    clips = _resample_counts(rng, n_c, n_boot)
    total = np.einsum("bs,sc,bc->b", seeds, x, clips)
    weight = np.einsum("bs,sc,bc->b", seeds, w, clips)
    means = total[weight > 0] / weight[weight > 0]  # a resample of only dropped cells has no mean
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    out.update(effect=float(x.sum() / w.sum()), low=float(low), high=float(high))
    return out


def t_interval(diffs, level: float = LEVEL) -> dict:
    """Mean paired difference and a two-way Student-t interval over seeds and clips.

    se² = var(per-seed means) / n_seeds + var(per-clip means) / n_clips (sample variances; a
    single seed or clip contributes no term), degrees of freedom by Welch-Satterthwaite, so with
    few seeds the seed term dominates and the quantile is wide (3 seeds: t(2) = 4.30 at 95 %).
    NaN cells are left out. Same keys as `bootstrap_ci`.
    """
    d, ok, out = _prepare(diffs, level)
    if not ok.any():
        return out
    effect = float(d[ok].mean())
    terms = []  # (variance of the mean, degrees of freedom) per factor
    for axis in (1, 0):  # per-seed means (over clips), per-clip means (over seeds)
        m = np.nanmean(d, axis=axis)
        if len(m) > 1:
            terms.append((float(np.var(m, ddof=1)) / len(m), len(m) - 1))
    var = sum(v for v, _ in terms)
    if var <= 0:
        return {**out, "effect": effect, "low": effect, "high": effect}
    df = var ** 2 / sum(v ** 2 / k for v, k in terms if v > 0)
    half = float(sps.t.ppf(1 - (1 - level) / 2, df)) * var ** 0.5
    return {**out, "effect": effect, "low": effect - half, "high": effect + half}


def verdict_interval(diffs, n_boot: int = N_BOOT, level: float = LEVEL, rng_seed: int = 0) -> dict:
    """The interval a verdict is read from: the union of `bootstrap_ci` and `t_interval`
    (module docstring); `bootstrap` and `t` keep both."""
    boot, t = bootstrap_ci(diffs, n_boot, level, rng_seed), t_interval(diffs, level)
    out = {**boot, "bootstrap": [boot["low"], boot["high"]], "t": [t["low"], t["high"]]}
    if boot["effect"] is not None:
        out.update(low=min(boot["low"], t["low"]), high=max(boot["high"], t["high"]))
    return out


def classify(ci: dict) -> str:
    """holds (interval above 0) / reversed (below 0) / within noise (contains 0) / n/a (no pairs)."""
    if ci["effect"] is None:
        return "n/a"
    return "holds" if ci["low"] > 0 else "reversed" if ci["high"] < 0 else "within noise"


def paired_verdict(a: dict, b: dict, metric: str, higher: bool, n_boot: int = N_BOOT, level: float = LEVEL,
                   rng_seed: int = 0) -> dict:
    """Does "a beats b" on `metric` hold? `verdict_interval` of `paired_differences`, plus
    {"verdict", "a", "b", "metric"}: identical scores give effect 0, interval [0, 0], within noise."""
    ci = verdict_interval(paired_differences(a, b, metric, higher), n_boot, level, rng_seed)
    return {"verdict": classify(ci), "a": _name(a), "b": _name(b), "metric": metric, **ci}


def format_interval(v: dict, digits: int = 3) -> str:
    """'+0.031 [+0.012, +0.050]' (effect [low, high]); '—' when there are no pairs."""
    if v["effect"] is None:
        return "—"
    f = lambda x: f"{round(x, digits) + 0.0:+.{digits}f}".replace("-", "−")  # noqa: E731  (+0.0: no "−0.000")
    return f"{f(v['effect'])} [{f(v['low'])}, {f(v['high'])}]"
