"""The report's claims: one sentence per claim of the paper, whether it holds on this run's
numbers and by how much, beside the paper's figures (the only constants).

Every verdict is computed from the results dict; nothing about the outcome is written in advance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The paper's figures (DESIGN.md): Table 2 (Titan X), Fig. 8, Table 3, pupil shift.
PAPER = {
    "speed_seconds": {256: 0.015, 512: 0.05, 1024: 0.21},
    "speed_gatys_over_paper": 1000.0,
    "speed_johnson_over_paper": (1.5, 1.7),
    "objective_match_iterations": (50, 100),
    "gaze": {  # estimator: (raw MPIIGaze, purified), degrees; CNN and kNN trained on UnityEyes
        "CNN": (9.9, 7.8),
        "kNN": (12.5, 9.9),
        "CNN (SynthesEyes)": (13.5, 8.8),
        "SVR": (16.5, 14.3),
        "RF": (15.4, 14.2),
        "ALR": (16.4, 13.9),
    },
    "pupil_shift_px": (0.8, 1.1),
}


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{max(digits - 1, 1)}f}"
    return str(v)


def _verdict(ok: bool | None) -> str:
    return {True: "**holds**", False: "**does not hold**", None: "**not measured**"}[ok]


# ----------------------------------------------------------------------------- claims
GAP_GOAL = 0.5  # share of the raw -> twin gap the report's purifier should close


def gaze_claims(gaze: dict[str, Any], best: str | None = None) -> list[dict[str, Any]]:
    """Per estimator, for the paper-faithful and the best purifier: is the error lower with a 95%
    interval that excludes zero, and what share of the raw -> twin gap is closed."""
    out = []
    names = [n for n in ("paper", best) if n]
    for est, by_name in gaze.get("gap_share", {}).items():
        paper = PAPER["gaze"].get(est)
        paper_txt = f"paper {paper[0]:.1f}° → {paper[1]:.1f}°" if paper else "no paper row"
        for name in dict.fromkeys(names):
            if name not in by_name:
                continue
            g = by_name[name]
            errs = gaze["errors"][est]
            ok = bool(g["delta_hi"] < 0)
            goal = " (goal ≥ 50%: " + ("met" if g["gap_share"] >= GAP_GOAL else "not met") + ")" if name == best else ""
            out.append({
                "claim": f"{est}: purification ({name}) lowers the gaze error",
                "holds": ok,
                "measured": g["gap_share"],
                "sentence": (
                    f"{est}, {name}: {errs['raw']:.2f}° raw → {errs[name]:.2f}° purified (twin {errs['twin']:.2f}°, "
                    f"in-domain {errs.get('in_domain', float('nan')):.2f}°); change {g['delta_deg']:+.2f}° "
                    f"[{g['delta_lo']:+.2f}, {g['delta_hi']:+.2f}], gap closed {100 * g['gap_share']:.0f}% "
                    f"[{100 * g['gap_share_lo']:.0f}, {100 * g['gap_share_hi']:.0f}]{goal}; {paper_txt}: {_verdict(ok)}."
                ),
            })
    return out


PUPIL_GOAL_RENDERER, PUPIL_GOAL_REAL = 0.8, 1.0  # px at eye width 55, raw vs purified


def pupil_claims(pupil: dict[str, Any], best: str | None = None) -> list[dict[str, Any]]:
    """Raw vs purified pupil centre (independent detector) within 0.8 px on the renderer."""
    out = []
    for name in dict.fromkeys(n for n in ("paper", best) if n):
        res = pupil.get(name)
        if not res:
            continue
        d, f = res["detector"]["raw_vs_purified"], res["fcn"]["raw_vs_purified"]
        ok = None if d["n"] == 0 else bool(d["mean"] <= PUPIL_GOAL_RENDERER)
        out.append({
            "claim": f"pupil centre kept ({name})", "holds": ok, "measured": d["mean"],
            "sentence": (
                f"Pupil centre raw → purified, {name}: {d['mean']:.2f} ± {d['std']:.2f} px (median "
                f"{d['median']:.2f}) with the FCN-independent detector, {f['mean']:.2f} ± {f['std']:.2f} px with "
                f"the FCN, at eye width 55 px (goal ≤ {PUPIL_GOAL_RENDERER} px; paper 0.8 ± 1.1 px): {_verdict(ok)}."),
        })
    return out


def objective_claims(curves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fig. 8: the feed-forward value is worth >= 50 Gatys iterations at every size."""
    lo, hi = PAPER["objective_match_iterations"]
    out = []
    for c in curves:
        size = f"{c['size'][0]}x{c['size'][1]}"
        matches = c["match_iteration"]
        reached = [m for m in matches if m is not None]
        n_iter = c["gatys_iterations"]
        # Images where Gatys never reached the feed-forward value count as "more than n_iter".
        med = float(np.median([float("inf") if m is None else m for m in matches]))
        if len(reached) == len(matches):
            ok = bool(med >= lo)
            how = f"Gatys first reaches the feed-forward objective at iteration {med:.0f} (median over {len(matches)} images)"
        else:
            ok = bool(med >= lo) if (math.isfinite(med) or n_iter >= lo) else None
            how = (f"Gatys does not reach the feed-forward objective within {n_iter} iterations on "
                   f"{len(matches) - len(reached)} of {len(matches)} images (median first match "
                   f"{'> ' + str(n_iter) if not math.isfinite(med) else f'{med:.0f}'})")
            if ok is None:
                how += f" (fewer than the paper's {lo} iterations were run, so this cannot decide)"
        ratio = c["feed_forward_mean"] / max(c["gatys_mean_curve"][-1], 1e-30)
        out.append({
            "claim": f"feed-forward objective ≈ Gatys after {lo}-{hi} iterations ({size})",
            "holds": ok,
            "measured": med,
            "sentence": (
                f"Objective at {size}: {how}; the paper reports {lo}-{hi}. Feed-forward mean "
                f"{c['feed_forward_mean']:.4g} vs Gatys {c['gatys_mean_curve'][-1]:.4g} after "
                f"{len(c['gatys_mean_curve']) - 1} iterations (ratio {ratio:.2f}): {_verdict(ok)}."
            ),
        })
    return out


def speed_claims(speed: dict[str, Any]) -> list[dict[str, Any]]:
    """~1000x faster than Gatys, 1.5-1.7x faster than Johnson, at each size."""
    out = []
    j_lo, _ = PAPER["speed_johnson_over_paper"]
    for row in speed.get("rows", []):
        size = f"{row['size'][0]}x{row['size'][1]}"
        if "gatys_over_paper" in row:
            r = row["gatys_over_paper"]
            ok = bool(r >= PAPER["speed_gatys_over_paper"])
            out.append({
                "claim": f"~1000x faster than Gatys ({size})", "holds": ok, "measured": r,
                "sentence": (f"Speed vs Gatys at {size}: f_W is {r:.0f}x faster than 400 Gatys "
                             f"iterations (paper ~1000x): {_verdict(ok)}."),
            })
        if "johnson_over_paper" in row:
            r = row["johnson_over_paper"]
            ok = bool(r >= j_lo)
            out.append({
                "claim": f"1.5-1.7x faster than Johnson ({size})", "holds": ok, "measured": r,
                "sentence": (f"Speed vs Johnson at {size}: f_W is {r:.2f}x as fast as Johnson's "
                             f"network (paper 1.5-1.7x): {_verdict(ok)}."),
            })
    return out


def real_eye_claims(real: dict[str, Any]) -> list[dict[str, Any]]:
    if not real or "skipped" in real:
        return []
    before, after = real["gram_distance_before"]["mean"], real["gram_distance_after"]["mean"]
    ok = bool(after < before)
    p = real["detector"]["raw_vs_purified"]
    f = real["pupil"]["raw_vs_purified"]
    ok_p = None if p["n"] == 0 else bool(p["mean"] <= PUPIL_GOAL_REAL)
    return [
        {
            "claim": "purified real eyes are closer to synthetic eyes (VGG Gram statistics)",
            "holds": ok, "measured": after - before,
            "sentence": (f"Real eyes: the Gram distance to synthetic eyes goes {before:.3f} → "
                         f"{after:.3f} ({100 * (after - before) / max(before, 1e-12):+.1f}%): {_verdict(ok)}."),
        },
        {
            "claim": "pupil centre kept on real eyes", "holds": ok_p, "measured": p["mean"],
            "sentence": (f"Real eyes: pupil centre raw → purified {p['mean']:.2f} ± {p['std']:.2f} px (median "
                         f"{p['median']:.2f}) with the FCN-independent detector ({f['mean']:.2f} ± {f['std']:.2f} px "
                         f"with the FCN) at eye width 55 px over {p['n']} eyes (goal ≤ {PUPIL_GOAL_REAL} px): "
                         f"{_verdict(ok_p)}."),
        },
    ]


def all_claims(results: dict[str, Any]) -> list[dict[str, Any]]:
    claims = []
    best = results.get("settings", {}).get("best")
    if "gaze" in results:
        claims += gaze_claims(results["gaze"], best)
    if "pupil" in results:
        claims += pupil_claims(results["pupil"], best)
    if "objective" in results:
        claims += objective_claims(results["objective"]["curves"])
    if "speed" in results:
        claims += speed_claims(results["speed"])
    if "real_eyes" in results:
        claims += real_eye_claims(results["real_eyes"])
    return claims


# ----------------------------------------------------------------------------- tables
