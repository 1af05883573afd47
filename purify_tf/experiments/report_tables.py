"""The report's ablation, difference and real-eye tables (Markdown), from the results dict.

The ablation puts the renderer's gaze gap shares beside the real-eye columns, so that a purifier
that wins on the renderer but not on real eyes shows it in one row.
"""

from __future__ import annotations

from typing import Any

from purify_tf.experiments.claims import KID_GOAL, real_eye_targets_met


def _pct(v: float, lo: float, hi: float, unit: str = "%") -> str:
    return f"{100 * v:+.0f}{unit} [{100 * lo:+.0f}, {100 * hi:+.0f}]"


def _shift(s: dict[str, Any] | None, with_std: bool = True) -> str:
    if not s or not s.get("n"):
        return "-"
    std = f" ± {s['std']:.2f}" if with_std else ""
    return f"{s['mean']:.2f}{std} (median {s['median']:.2f})"


def _real_cells(real: dict[str, Any] | None, name: str) -> list[str]:
    row = ((real or {}).get("rows") or {}).get(name)
    if not row:
        return ["-", "-"]
    vs = row.get("kid_vs_baseline")
    return ["-" if vs is None else f"{100 * vs:+.0f}%", _shift(row.get("pupil"), with_std=False)]


def ablation_table(gaze: dict[str, Any], real: dict[str, Any] | None = None) -> str:
    """Gap share per purifier (rows) and estimator (columns), with 95% bootstrap intervals, and,
    when the real-eye section ran, its KID change vs the mean/contrast match and pupil shift."""
    shares = gaze["gap_share"]
    ests = list(shares)
    names = list(dict.fromkeys(n for by_name in shares.values() for n in by_name))
    labels = gaze.get("labels", {})
    with_real = bool(real and real.get("rows"))
    extra = ["real eyes: KID vs mean/contrast", "real eyes: pupil shift (px)"] if with_real else []
    lines = ["| purifier | what changes | " + " | ".join(ests + extra) + " |",
             "|---|---|" + "---|" * (len(ests) + len(extra))]
    for n in names:
        cells = []
        for e in ests:
            g = shares[e].get(n)
            cells.append("-" if g is None else _pct(g["gap_share"], g["gap_share_lo"], g["gap_share_hi"]))
        if with_real:
            cells += _real_cells(real, n)
        lines.append(f"| {n} | {labels.get(n, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def difference_table(gaze: dict[str, Any]) -> str:
    """Each purifier's gap share minus the reference's (the front end alone), per estimator, in
    percentage points with the 95% paired-bootstrap interval (same resampled eyes for both)."""
    vs = gaze.get("vs_reference") or {}
    by_est = vs.get("by_estimator") or {}
    if not by_est:
        return ""
    ests = list(by_est)
    names = list(dict.fromkeys(n for by_name in by_est.values() for n in by_name))
    lines = [f"| purifier − {vs['reference']} | " + " | ".join(ests) + " |", "|---|" + "---|" * len(ests)]
    for n in names:
        cells = []
        for e in ests:
            d = by_est[e].get(n)
            cells.append("-" if d is None else _pct(d["share_diff"], d["share_diff_lo"], d["share_diff_hi"], " pp"))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_eyes_table(real: dict[str, Any], pupil: dict[str, Any] | None = None) -> str:
    """One row per image set on the real crops: KID to synthetic eyes, its change vs the
    mean/contrast match, pupil shift on real crops and (same metric) on the renderer's test eyes."""
    agreement = any("pupil_agreement" in row for row in real["rows"].values())
    clear = any("pupil_clear" in row for row in real["rows"].values())
    extra = (" detector disagreement, real crops (px) |" if agreement else "") + (
        " pupil shift, real crops with a clear raw pupil (px) |" if clear else "")
    lines = ["| row | KID to synthetic (mean ± std) | vs mean/contrast match | pupil shift, real crops (px) "
             f"| pupil shift, renderer (px) |{extra} real-eye targets |", "|---|---|---|---|---|---|"
             + ("---|" if agreement else "") + ("---|" if clear else "")]
    for name, row in real["rows"].items():
        k = row["kid"]
        vs = row.get("kid_vs_baseline")
        renderer = ((pupil or {}).get(name) or {}).get("detector", {}).get("raw_vs_purified")
        met = real_eye_targets_met(row)
        cell = (f" {_shift(row.get('pupil_agreement'), with_std=False)} |" if agreement else "") + (
            f" {_clear(row.get('pupil_clear'))} |" if clear else "")
        lines.append(f"| {name} | {k['kid']:.4g} ± {k['std']:.2g} | {'-' if vs is None else f'{100 * vs:+.1f}%'} "
                     f"| {_shift(row.get('pupil'))} | {_shift(renderer, with_std=False)} |{cell} "
                     f"{'-' if met is None else ('met' if met else 'not met')} |")
    lines += ["", f"Real-eye targets: KID at least {100 * KID_GOAL:.0f}% below the mean/contrast match and a mean "
              "pupil shift ≤ 1.0 px on the real crops."]
    return "\n".join(lines)


def _clear(stats: dict[str, float] | None) -> str:
    """A clear-raw-pupil shift cell: mean (median) over n eyes."""
    return "-" if not stats or not stats.get("n") else f"{_shift(stats, with_std=False)}, n {stats['n']}"


def not_worse_on_real_eyes(row: dict[str, Any], reference: dict[str, Any]) -> bool:
    """A row no worse than ``reference`` (the front end alone) on the real crops, by the label-free
    measures that follow the truth where it is known: KID relative to the mean/contrast match and,
    when measured, the FCN-vs-detector pupil disagreement (a raw -> purified shift is not one of
    them: on the renderer the ideal purifier shifts the detected pupil most, docs/DESIGN.md)."""
    vs, ref_vs = row.get("kid_vs_baseline"), reference.get("kid_vs_baseline")
    if vs is None or ref_vs is None or vs > ref_vs:
        return False
    a, ref_a = row.get("pupil_agreement"), reference.get("pupil_agreement")
    return not (a and ref_a and a["mean"] > ref_a["mean"])


# How the default was chosen (``default_candidates``): by both real-eye targets; by being no worse
# than the front end alone on the real crops; no row qualifies; or no front-end row to compare with.
BY_REAL_EYE_TARGETS, NO_WORSE_THAN_FRONT_END, NO_CANDIDATE, NO_REFERENCE = (
    "real_eye_targets", "no_worse_than_front_end", "none", "no_reference")


def default_candidates(real: dict[str, Any], gaze: dict[str, Any] | None) -> tuple[str, list[tuple[str, float | None]]]:
    """(rule, [(row, mean renderer gap share or None)], best first): which rows may be the default.

    Those meeting both real-eye targets (rule :data:`BY_REAL_EYE_TARGETS`), ranked by their mean gap
    share over the estimators on the renderer (a renderer win alone does not qualify). When none
    meets them, the trained rows no worse on the real crops than the front end alone
    (:data:`NO_WORSE_THAN_FRONT_END`), ranked alike; else none (:data:`NO_CANDIDATE`, or
    :data:`NO_REFERENCE` without a front-end row)."""
    from purify_tf.experiments.common import FRONT_END_CENTRED, FRONT_END_ONLY, MEAN_CONTRAST
    from purify_tf.experiments.real_eyes import RAW

    shares = (gaze or {}).get("gap_share", {})

    def mean_share(name: str) -> float | None:
        vals = [by[name]["gap_share"] for by in shares.values() if name in by]
        return sum(vals) / len(vals) if vals else None

    def ranked(names: list[str]) -> list[tuple[str, float | None]]:
        order = sorted(names, key=lambda n: -(mean_share(n) if mean_share(n) is not None else float("-inf")))
        return [(n, mean_share(n)) for n in order]

    rows = real["rows"]
    ok = [n for n, row in rows.items() if real_eye_targets_met(row)]
    if ok:
        return BY_REAL_EYE_TARGETS, ranked(ok)
    reference = rows.get(FRONT_END_ONLY)
    if reference is None:
        return NO_REFERENCE, []
    fair = [n for n, row in rows.items() if n not in (RAW, MEAN_CONTRAST, FRONT_END_ONLY, FRONT_END_CENTRED)
            and mean_share(n) is not None and not_worse_on_real_eyes(row, reference)]
    return (NO_WORSE_THAN_FRONT_END, ranked(fair)) if fair else (NO_CANDIDATE, [])


def default_sentence(real: dict[str, Any], gaze: dict[str, Any] | None) -> str:
    """:func:`default_candidates` as the report's sentence."""
    rule, candidates = default_candidates(real, gaze)
    listed = ", ".join(n if share is None else f"{n} (mean renderer gap share {100 * share:+.0f}%)"
                       for n, share in candidates)
    if rule == BY_REAL_EYE_TARGETS:
        return "Meet both real-eye targets: " + listed + "; the first is the candidate default."
    out = "No row meets both real-eye targets, so none has earned the default by them."
    if rule == NO_REFERENCE:
        return out + " Renderer gap shares alone do not decide it."
    if rule == NO_CANDIDATE:
        return out + " No trained row is as good as the front end alone on the real crops either."
    return (out + " No worse than the front end alone on the real crops (KID vs the mean/contrast match and "
            "detector disagreement no higher): " + listed + "; the first is the candidate default.")
