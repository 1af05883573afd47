"""Every benchmark in one run: one combined table on stdout and one JSON file (``make bench``).

    python -m benchmarks.run_all [--quick] [--out=benchmarks/results/latest.json] [--sections=...]

Sections run one after another in this process (the memory section starts its own children).
A section that fails is recorded with its error and the others still run; the exit status is
then non-zero. The ``targets`` block compares the numbers with the issue's targets; timings on a
shared or loaded machine are noisy, so the load average at the start and end is recorded too.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import traceback
from typing import Any

from absl import app, flags

from benchmarks import (
    bench_cli,
    bench_export,
    bench_gatys,
    bench_inference,
    bench_memory,
    bench_peers,
    bench_training,
    common,
)

SECTIONS = {
    "inference": bench_inference,
    "export": bench_export,
    "gatys": bench_gatys,
    "training": bench_training,
    "memory": bench_memory,
    "peers": bench_peers,
    "cli": bench_cli,
}
flags.DEFINE_list("sections", list(SECTIONS), f"Which of {', '.join(SECTIONS)} to run.")

FLAGS = flags.FLAGS


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _target(description: str, measured: float | None, threshold: float, unit: str = "") -> dict[str, Any]:
    return {
        "target": description,
        "threshold": threshold,
        "measured": measured,
        "unit": unit,
        "met": None if measured is None else bool(measured >= threshold),
    }


def targets(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against this run (``met`` is None where this run did not measure it)."""
    out: dict[str, Any] = {}
    for size in ("256x256", "512x512", "1024x1024"):
        out[f"paper_vs_johnson_{size}"] = _target(
            f"paper >= 1.15x faster than johnson at {size}",
            _get(results, "inference", "sizes", size, "paper_vs_johnson_ratio"), 1.15, "x")
    out["gatys_speedup_256"] = _target(
        "feed-forward >= 1000x faster than Gatys (400 iterations) at 256x256",
        _get(results, "gatys", "speedup_at_400") if _get(results, "gatys", "size") == 256 else None, 1000.0, "x")
    out["matmul_fraction_512"] = _target(
        "paper transformer >= 70% of same-run tf.matmul GFLOP/s at 512x512",
        _get(results, "inference", "sizes", "512x512", "paper", "fraction_of_matmul"), 0.70, "fraction")
    out["tflite_int8_speedup_256"] = _target(
        "TFLite int8 >= 2x faster than Keras float32 at 256x256 (CPU)",
        _get(results, "export", "speedup_vs_keras_float32", "tflite_int8")
        if _get(results, "export", "size") == 256 else None, 2.0, "x")
    out["eye_crops_per_s"] = _target(
        "paper >= 200 eye crops (36x60) per second on this CPU",
        _get(results, "inference", "sizes", "36x60", "paper", "images_per_s"), 200.0, "images/s")
    bf16_eye = _get(results, "inference", "bfloat16", "36x60")
    fp32_eye = _get(results, "inference", "sizes", "36x60", "paper", "ms_per_image")
    out["eye_crops_per_s_bfloat16"] = _target(
        "same with mixed_bfloat16 (informational: the issue's target is not tied to a precision)",
        1e3 / bf16_eye["bfloat16_ms_per_image"] if bf16_eye and fp32_eye else None, 200.0, "images/s")
    ratios = [
        e["pipeline_over_training_ratio"] for e in (_get(results, "training", "sizes") or {}).values()
        if "pipeline_over_training_ratio" in e
    ]
    out["pipeline_over_training"] = _target(
        "input pipeline >= 5x the training consumption (smallest ratio over sizes)",
        min(ratios) if ratios else None, 5.0, "x")
    for size in ("36x60", "256x256", "512x512"):
        entry = _get(results, "peers", "sizes", size) or {}
        out[f"vs_best_peer_{size}"] = _target(
            f"purify-tf's default CPU path >= 1.0x the best peer at {size}", entry.get("ratio_vs_best_peer"), 1.0, "x")
        out[f"fp32_vs_torch_fp32_{size}"] = _target(
            f"purify-tf fp32 >= 0.9x PyTorch fp32 at {size}", entry.get("fp32_vs_torch_fp32"), 0.9, "x")
        out[f"bf16_share_of_peak_{size}"] = _target(
            f"bf16 path >= 50% of the bf16 matmul peak at {size} (needs native bf16)",
            (entry.get("share_of_peak") or {}).get("tf_folded_bf16"), 0.5, "fraction")
    out["cli_over_model"] = _target(
        "purify-tf purify on a folder of 36x60 crops >= 80% of the model's batched throughput",
        _get(results, "cli", "cli_over_model"), 0.8, "fraction")
    out["gpu_512_mixed_precision"] = {
        "target": "512x512 throughput with mixed precision on a GPU (paper: 20 FPS on a Titan X; aim 500+ on an H100)",
        "measured": None,
        "met": None,
        "note": "no GPU in this run" if not _get(results, "machine", "gpus") else "GPU present but not measured",
    }
    return out


def target_rows(t: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for name, r in t.items():
        if r["met"] is None:
            verdict = "not measured" + (f" ({r['note']})" if r.get("note") else "")
        else:
            verdict = f"{'MET' if r['met'] else 'NOT MET'}: {common.fmt(r['measured'])} vs {common.fmt(r['threshold'])} {r['unit']}"
        rows.append(("target", name, verdict))
    return rows


def main(argv: list[str]) -> None:
    del argv
    common.configure_tf()
    unknown = [s for s in FLAGS.sections if s not in SECTIONS]
    if unknown:
        raise app.UsageError(f"--sections: unknown {unknown}; expected some of {list(SECTIONS)}")
    started = time.time()
    results: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": FLAGS.quick,
        "settings": {"repeats": common.repeats(), "warmup": common.warmup(), "sections": list(FLAGS.sections)},
        "machine": common.machine_info(),
    }
    failed = []
    for name in FLAGS.sections:
        t0 = time.time()
        try:
            results[name] = SECTIONS[name].run(FLAGS.quick)
        except Exception as exc:  # keep the other sections' numbers
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(name)
        results.setdefault("section_seconds", {})[name] = time.time() - t0
    results["load_average_end"] = list(os.getloadavg())
    results["total_seconds"] = time.time() - started
    if "inference" in results and "paper_vs_johnson_ratio" in results["inference"]:
        results["paper_vs_johnson_ratio"] = results["inference"]["paper_vs_johnson_ratio"]
    results["targets"] = targets(results)

    m = results["machine"]
    rows = [("machine", "cpu", f"{m['cpu_model']}, {m['cores_available']} cores, TF {m['tensorflow']}, "
             f"oneDNN {'on' if m['onednn'] else 'off'}, load average {m['load_average'][0]:.2f} -> "
             f"{results['load_average_end'][0]:.2f}")]
    for name in FLAGS.sections:
        section = results[name]
        if "error" in section:
            rows.append((name, "FAILED", section["error"]))
        else:
            rows.extend(SECTIONS[name].rows(section))
    rows.extend(target_rows(results["targets"]))
    common.print_rows("purify-tf benchmarks" + (" (--quick: not meaningful)" if FLAGS.quick else ""), rows)
    path = common.write_json(results, FLAGS.out)
    print(f"\nJSON: {path}")
    if failed:
        sys.exit(f"sections failed: {failed}")


if __name__ == "__main__":
    app.run(main)
