r"""README's "What works" table, filled from the shipped model's card (purify_tf/pretrained/purifier.json).

    python -m tools.readme_figures          # rewrite the block between the markers in README.md
    python -m tools.readme_figures --check  # exit 1 when README.md disagrees with the card

The README states only what the card measured; tests/test_readme.py fails when the two differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from purify_tf.inference.centre import RECENTRE_SCORES_KEY
from purify_tf.inference.symmetric import ORIGINAL_SCORES_KEY, SYMMETRY_KEY

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CARD = ROOT / "purify_tf" / "pretrained" / "purifier.json"
START, END = "<!-- what-works:start -->", "<!-- what-works:end -->"
ESTIMATORS = ("CNN", "kNN", "SVR", "RF", "ALR")
PURIFIED = "purified"
# An earlier row's cell for an estimator whose settings changed since (e.g. SVR's C): not comparable.
OTHER_SETTINGS = "other settings"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def what_works_table(card: dict[str, Any]) -> str:
    """The block: one column per estimator; real labelled eyes first (the measure that decides)."""
    scores = card.get("scores", {})
    symmetric = bool((card.get(SYMMETRY_KEY) or {}).get("enabled"))
    real = scores.get("real_gaze")
    lines = ["| measured on the shipped purifier (`purify-tf info`) | " + " | ".join(ESTIMATORS) + " |",
             "|---|" + "---|" * len(ESTIMATORS)]
    if real:
        rows = {r["row"]: r for r in real["rows"]}
        raw, pur = rows["raw"]["mean_error_deg"], rows[PURIFIED]
        floor, mean = rows["trained on real eyes (the floor)"]["mean_error_deg"], rows["predicting the mean gaze"]

        def cell(est: str, text: Any) -> str:
            return text(est) if est in raw else "-"

        n, subjects = real["n_test"], ", ".join(real["eval_subjects"])
        draws = real.get("synthetic_draws", 1)
        trained = (f"estimators trained on {draws} synthetic sets, errors their mean" if draws > 1
                   else "estimators trained on synthetic eyes")
        scale = real.get("config", {}).get("synthetic_eye_scale", 1.0)
        if scale != 1.0:
            trained += f"; synthetic eyes at {scale:g} of the renderer's size"
        every = "every eye: " if "every eye" in real.get("split", "") else ""
        lines.append(f"| real eyes ({every}{n} MPIIGaze left eyes of {subjects}, {trained}): "
                     "error raw → purified (°) | " + " | ".join(
                         cell(e, lambda e: f"{raw[e]:.2f} → {pur['mean_error_deg'][e]:.2f}") for e in ESTIMATORS) + " |")
        lines.append("| change, 95% interval (°) | " + " | ".join(cell(e, lambda e: (
            f"{pur['vs_raw'][e]['delta_deg']:+.2f} [{pur['vs_raw'][e]['delta_lo']:+.2f}, "
            f"{pur['vs_raw'][e]['delta_hi']:+.2f}]")) for e in ESTIMATORS) + " |")
        lines.append("| share of the raw → real-trained floor gap closed | " + " | ".join(
            cell(e, lambda e: f"{_pct(pur['vs_raw'][e]['gap_share'])} (floor {floor[e]:.2f})") for e in ESTIMATORS)
            + " |")
        if "vs_mean" in pur:  # purified against predicting the mean gaze, paired over the same eyes
            lines.append("| predicting the mean gaze (°); purified minus it, 95% interval | " + " | ".join(
                cell(e, lambda e: (f"{mean['mean_error_deg'][e]:.2f}; {pur['vs_mean'][e]['delta_deg']:+.2f} "
                                   f"[{pur['vs_mean'][e]['delta_lo']:+.2f}, {pur['vs_mean'][e]['delta_hi']:+.2f}]"))
                for e in ESTIMATORS) + " |")
        else:
            lines.append("| predicting the mean gaze (°) | " + " | ".join(
                cell(e, lambda e: f"{mean['mean_error_deg'][e]:.2f}") for e in ESTIMATORS) + " |")
    # Earlier states of the shipped file on the same real eyes, from the scores kept apart.
    if symmetric and real:
        lines += _earlier_real_row((card.get(ORIGINAL_SCORES_KEY) or {}).get("real_gaze"), real,
                                   "the same eyes, f_W as trained (before flip symmetry): purified error, change (°)")
    if real:
        lines += _earlier_real_row((card.get(RECENTRE_SCORES_KEY) or {}).get("real_gaze"), real,
                                   "the same eyes, the centre as measured (before the mirror-symmetric centre): "
                                   "purified error, change (°)")
    lines += _renderer_row(scores, "renderer ({n} fresh eyes): share of the raw → twin gap closed")
    lines += _renderer_row(card.get(RECENTRE_SCORES_KEY) or {}, "renderer, the centre as measured (before the "
                           "mirror-symmetric centre): the same share", scores)
    if symmetric:
        lines += _renderer_row(card.get(ORIGINAL_SCORES_KEY) or {}, "renderer, f_W as trained (before flip symmetry): "
                               "the same share", scores)
    # A front end centred on real eyes: the renderer's eyes as purified with the centre it was trained with.
    lines += _renderer_row(card.get("scores_before_centre") or {}, "renderer, the front end's centre as trained "
                           "(before `--centre_dir`" + (" and flip symmetry" if symmetric else "") + "): the same share",
                           scores)
    extra = []
    shift = scores.get("pupil_shift_px_real")
    if isinstance(shift, dict) and "mean" in shift:
        extra.append(f"pupil shift on {scores.get('real_eyes', {}).get('n_real', '?')} real crops "
                     f"{shift['mean']:.2f} px (median {shift.get('median', float('nan')):.2f})")
    move = next((r.get("pupil_move_px") for r in (scores.get("real_gaze") or {}).get("rows", [])
                 if r["row"] == PURIFIED), None)
    if move and move.get("n"):
        extra.append(f"pupil moved on the {move['n']} real test eyes (darkest-blob detector, median): "
                     f"dx {move['dx_median']:+.2f} px, dy {move['dy_median']:+.2f} px (mean {move['dx']:+.2f} ± "
                     f"{move['dx_se']:.2f}, {move['dy']:+.2f} ± {move['dy_se']:.2f}; +x right, +y down; 0.2 px is "
                     "about 1° of gaze)")
    svr = (scores.get("estimator_settings") or {}).get("svr")
    if svr:
        text = "\n".join(lines)
        extra.append(f"SVR at C = {svr['C']:g}, chosen by cross-validation on synthetic eyes (`python -m tools.select_svr`)"
                     + ("; \"other settings\": that figure was measured with another SVR (C = 10 before the choice)"
                        if OTHER_SETTINGS in text else ""))
    if symmetric:
        extra.append("f_W flip-symmetric: its correction averaged with the mirrored eye's (one more network pass "
                     "per eye; `purify-tf symmetric`)")
    trained = card.get("trained_on")
    if isinstance(trained, dict):
        extra.append(f"trained on: {'; '.join(trained.get('datasets', []))} (licence {trained.get('licence')})")
    return "\n".join(lines + ([""] + [f"- {e}" for e in extra] if extra else []))


def _earlier_real_row(before: dict[str, Any] | None, real: dict[str, Any], label: str) -> list[str]:
    """One row: an earlier state's purified error and change against raw on the card's real eyes
    (none without it); an estimator measured with other settings since shows no figure."""
    rows_before = {r["row"]: r for r in (before or {}).get("rows", [])}
    if PURIFIED not in rows_before:
        return []
    old = rows_before[PURIFIED]

    def old_cell(e: str) -> str:
        if e not in old.get("vs_raw", {}):
            return "-"
        if not _comparable(before, real, e):
            return OTHER_SETTINGS
        return (f"{old['mean_error_deg'][e]:.2f}, {old['vs_raw'][e]['delta_deg']:+.2f} "
                f"[{old['vs_raw'][e]['delta_lo']:+.2f}, {old['vs_raw'][e]['delta_hi']:+.2f}]")

    return [f"| {label} | " + " | ".join(old_cell(e) for e in ESTIMATORS) + " |"]


def _comparable(earlier: dict[str, Any], current: dict[str, Any], estimator: str) -> bool:
    """Whether ``estimator`` was the same estimator in both tables: their recorded settings agree
    (a table from before settings were recorded had SVR at C=10)."""
    key = estimator.lower()
    return (earlier.get("estimator_settings") or {}).get(key) == (current.get("estimator_settings") or {}).get(key)


def _renderer_row(scores: dict[str, Any], label: str, current: dict[str, Any] | None = None) -> list[str]:
    """The renderer gap-share row of ``scores`` (none when it has no gap shares); against the
    ``current`` scores, an estimator measured with other settings shows no figure."""
    gap = scores.get("gap_share", {})
    if not gap:
        return []

    def cell(e: str) -> str:
        if e not in gap:
            return "-"
        if current is not None and not _comparable(scores, current, e):
            return OTHER_SETTINGS
        return f"{_pct(gap[e]['gap_share'])} [{_pct(gap[e]['gap_share_lo'])}, {_pct(gap[e]['gap_share_hi'])}]"

    return [f"| {label.format(n=scores.get('test_eyes'))} | " + " | ".join(cell(e) for e in ESTIMATORS) + " |"]


def rendered_readme(readme: str, card: dict[str, Any]) -> str:
    """README text with the block between the markers replaced by :func:`what_works_table`."""
    if START not in readme or END not in readme:
        raise ValueError(f"README.md has no {START} ... {END} block")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{what_works_table(card)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    card = json.loads(CARD.read_text())
    text = README.read_text()
    new = rendered_readme(text, card)
    if "--check" in argv:
        if new != text:
            print("README.md's What works table disagrees with purifier.json: run python -m tools.readme_figures")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
