"""Render a ``run_all`` JSON as the Markdown tables of docs/BENCHMARKS.md.

    python -m benchmarks.to_markdown --json=docs/benchmarks.json

Kept separate from the measurement so the document can be regenerated from a committed run
without re-running it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from absl import app, flags

flags.DEFINE_string("json", "docs/benchmarks.json", "A JSON file written by benchmarks.run_all.")

FLAGS = flags.FLAGS
PAPER_TABLE2_S = {"256x256": 0.015, "512x512": 0.05, "1024x1024": 0.21}


def _f(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"


def inference_table(inf: dict[str, Any]) -> list[str]:
    lines = [
        "| size (batch) | network | ms/image | images/s | graph ms | XLA ms | GFLOP/image | GFLOP/s | % of matmul | paper/johnson speed | paper Table 2 (Titan X) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, entry in inf["sizes"].items():
        for config in ("paper", "johnson"):
            e = entry[config]
            modes = e["modes"]
            ratio = f"**{entry['paper_vs_johnson_ratio']:.2f}x**" if config == "paper" else ""
            table2 = f"{1e3 * PAPER_TABLE2_S[key]:.0f} ms" if config == "paper" and key in PAPER_TABLE2_S else ""
            lines.append(
                f"| {key} ({e['batch']}) | {config} | **{_f(e['ms_per_image'])}** | {_f(e['images_per_s'])} | "
                f"{_f(modes.get('graph', {}).get('ms_per_image'))} | {_f(modes.get('xla', {}).get('ms_per_image'))} | "
                f"{_f(e['gflop_per_image'])} | {_f(e['gflops'])} | {100 * e['fraction_of_matmul']:.0f}% | {ratio} | {table2} |"
            )
    return lines


def training_table(t: dict[str, Any]) -> list[str]:
    """One row per size and variant; the per-op profile's top op types in the last column."""
    peaks = t.get("matmul_peaks_gflops", {})
    lines = [
        f"\n| training ({t['loss_network']}; {t.get('configuration', '')}) | variant | steps/s | images/s | "
        "GFLOP/step | GFLOP/s | % of fp32 peak | % of bf16 peak | % of round-robin fp32 matmul | pipeline / training | "
        "top ops (profile) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, e in t["sizes"].items():
        gflop = e.get("gflop_per_image", {}).get("step")
        for name, v in e.get("variants", {}).items():
            prof = e.get("profile", {}).get(name)
            top = ", ".join(f"{p['op']} {100 * p['share']:.0f}%" for p in prof["by_type"][:4]) if prof else ""
            ratio = e.get("pipeline_over_training_ratio")
            bf16_share = f"{100 * v['share_of_bf16_peak']:.0f}%" if "share_of_bf16_peak" in v else "not native"
            rr = f"{100 * v['share_of_fp32_matmul_round_robin']:.0f}%" if "share_of_fp32_matmul_round_robin" in v else "-"
            lines.append(
                f"| {key}, batch {e['batch']} | {name} | {_f(v['steps_per_s'])} | {_f(v['images_per_s'])} | "
                f"{_f(gflop * e['batch'] if gflop else None)} | {_f(v['gflops'])} | {100 * v['share_of_fp32_peak']:.0f}% | "
                f"{bf16_share} | {rr} | {_f(ratio)}x | {top} |"
            )
        for name, why in e.get("skipped", {}).items():
            lines.append(f"| {key}, batch {e['batch']} | {name} | skipped: {why} | | | | | | | | |")
    bf16_peak = f"{_f(peaks['best_bfloat16'])} GFLOP/s" if "best_bfloat16" in peaks else "not native (not measured)"
    lines.append(f"\nMatmul peaks of the run: float32 {_f(peaks.get('best_float32'))} GFLOP/s, bfloat16 "
                 f"{bf16_peak}; native bf16: {t.get('native_bf16')}. FLOPs: {t.get('flops_note', '')}.")
    return lines


def main(argv: list[str]) -> None:
    del argv
    r = json.loads(Path(FLAGS.json).read_text())
    out: list[str] = []
    inf = r.get("inference", {})
    if "sizes" in inf:
        out.append(f"Same-run `tf.matmul` peak: **{_f(inf['matmul_peak_gflops'])} GFLOP/s** "
                   f"({inf['matmul_start']['n']}x{inf['matmul_start']['n']} float32, best of graph/XLA at start and end).\n")
        out.extend(inference_table(inf))
        if "eye_batch_sweep" in inf:
            out.append("\n| eye crops 36x60, paper, batch | graph images/s | XLA images/s |\n|---|---|---|")
            for b, m in inf["eye_batch_sweep"].items():
                out.append(f"| {b} | {_f(m.get('graph', {}).get('images_per_s'))} | {_f(m.get('xla', {}).get('images_per_s'))} |")
        if inf.get("bfloat16"):
            out.append("\n| paper, mixed_bfloat16 | float32 ms/image | bfloat16 ms/image | speed-up | mean / max abs diff (0-255) |\n|---|---|---|---|---|")
            for key, b in inf["bfloat16"].items():
                out.append(f"| {key} (batch {b['batch']}) | {_f(b['float32_ms_per_image'])} | {_f(b['bfloat16_ms_per_image'])} "
                           f"[{b['bfloat16_best_mode']}] | {b['speedup']:.2f}x | {_f(b.get('parity_mean_abs_diff'), 2)} / "
                           f"{_f(b.get('parity_max_abs_diff'), 2)} |")
    exp = r.get("export", {})
    if "latency_ms" in exp:
        out.append(f"\n| format, {exp['size']}x{exp['size']} batch 1, CPU | ms | vs Keras float32 | mean / max abs diff vs Keras (0-255) |\n|---|---|---|---|")
        for name, ms in exp["latency_ms"].items():
            p = exp["parity"].get(name, {})
            par = f"{_f(p.get('mean_abs_diff'), 2)} / {_f(p.get('max_abs_diff'), 2)}" if p else ""
            out.append(f"| {name} | {_f(ms)} | {exp['speedup_vs_keras_float32'][name]:.2f}x | {par} |")
    elif exp:
        out.append(f"\nFormats: {exp.get('skipped') or exp.get('error')}")
    g = r.get("gatys", {})
    if "seconds_per_iteration" in g:
        out.append(f"\n| Gatys {g['size']}x{g['size']} ({g['loss_network']}) | value |\n|---|---|")
        out.append(f"| seconds per L-BFGS iteration | {_f(g['seconds_per_iteration'])} ({g['note']}) |")
        out.append(f"| 400 iterations (scaled) | {_f(g['gatys_400_iterations_s'])} s |")
        out.append(f"| paper feed-forward pass | {_f(1e3 * g['feed_forward_s'])} ms [{g['feed_forward_mode']}] |")
        out.append(f"| speed-up at 400 iterations | **{_f(g['speedup_at_400'])}x** |")
    t = r.get("training", {})
    if "sizes" in t:
        out.extend(training_table(t))
    m = r.get("memory", {})
    if "inference" in m:
        out.append("\n| peak RSS (fresh process) | after setup | peak |\n|---|---|---|")
        for kind in ("inference", "training"):
            e = m[kind]
            out.append(f"| {kind} {e['size']}x{e['size']}, batch {e['batch']} | {e['setup_hwm_mb']:.0f} MiB | **{e['peak_rss_mb']:.0f} MiB** |")
    if "targets" in r:
        out.append("\n| target | measured | met |\n|---|---|---|")
        for tg in r["targets"].values():
            met = "not measured" if tg["met"] is None else ("yes" if tg["met"] else "**no**")
            out.append(f"| {tg['target']} | {_f(tg.get('measured'))} {tg.get('unit', '')} | {met} |")
    print("\n".join(out))


if __name__ == "__main__":
    app.run(main)
