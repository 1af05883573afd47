"""Smoke test of the benchmark suite: ``--quick`` runs end to end and writes the expected JSON.

The shape of the results is checked (keys present, numbers positive) and the relations between
them (derived figures computed from the measured ones, what is skipped where bf16 is not native);
speed targets are for ``make bench`` on a quiet machine, never for tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_quick(tmp_path: Path, sections: str, *extra: str, env_extra: dict[str, str] | None = None,
              stdout: list[str] | None = None) -> dict:
    out = tmp_path / "bench.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    env.pop("PURIFY_VGG_WEIGHTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--quick", f"--sections={sections}", f"--out={out}", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "purify-tf benchmarks" in proc.stdout and "target" in proc.stdout
    if stdout is not None:
        stdout.append(proc.stdout)
    return json.loads(out.read_text())


def positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0


@pytest.mark.slow
def test_quick_suite_writes_expected_keys(tmp_path):
    results = run_quick(tmp_path, "inference,gatys")
    assert results["quick"] is True
    machine = results["machine"]
    assert machine["cpu_model"] and positive(machine["cores_available"]) and "onednn" in machine

    inference = results["inference"]
    assert positive(inference["matmul_peak_gflops"])
    eye = inference["sizes"]["36x60"]
    for config in ("paper", "johnson"):
        entry = eye[config]
        assert entry["best_mode"] in entry["modes"]
        for key in ("ms_per_image", "images_per_s", "gflops", "fraction_of_matmul"):
            assert positive(entry[key]), (config, key, entry[key])
        assert set(entry["modes"]) == {"graph", "xla"}
    assert positive(results["paper_vs_johnson_ratio"]["36x60"])
    assert positive(inference["eye_best_batch"])
    assert positive(inference["bfloat16"]["36x60"]["speedup"])

    gatys = results["gatys"]
    for key in ("seconds_per_iteration", "feed_forward_s", "speedup_at_400"):
        assert positive(gatys[key]), key

    t = results["targets"]
    assert t["eye_crops_per_s"]["measured"] == eye["paper"]["images_per_s"]
    assert t["gpu_512_mixed_precision"]["met"] is None


@pytest.mark.slow
def test_quick_training_section_without_native_bf16(tmp_path):
    """The real training step in float32 (tracing the step is most of the time; xla takes the same
    code path with jit_compile), as a CPU without native bf16 runs it: mixed_bfloat16 and the bf16
    peak are recorded as not native, never measured in emulation."""
    printed: list[str] = []
    results = run_quick(tmp_path, "training", "--train_variants=float32,mixed_bfloat16", "--train_profile=float32",
                        env_extra={"PURIFY_NATIVE_BF16": "0"}, stdout=printed)
    training = results["training"]
    assert "configs/demo.flags" in training["configuration"]
    assert training["native_bf16"] is False and training["bf16_peak"] == "not native"
    peaks = training["matmul_peaks_gflops"]
    assert positive(peaks["best_float32"]) and not any("bfloat16" in k for k in peaks)
    assert "bfloat16 not native" in printed[0]
    (entry,) = training["sizes"].values()
    assert set(entry["variants"]) == {"float32"}
    assert entry["skipped"]["mixed_bfloat16"].startswith("not native")
    flops = entry["gflop_per_image"]
    assert all(positive(flops[k]) for k in ("f_w_forward", "loss_network_forward", "fcn_forward"))
    # The demo trains what ships: the paired term on the content eyes' twins (one forward of the loss
    # network up to its content layers) and gaze consistency (3x the gaze reader's forward).
    assert positive(flops["loss_network_to_paired_layers"]) and positive(flops["gaze_reader_forward"])
    assert flops["step"] == pytest.approx(3 * flops["f_w_forward"] + 3 * flops["loss_network_forward"]
                                          + flops["fcn_forward"] + flops["loss_network_to_paired_layers"]
                                          + 3 * flops["gaze_reader_forward"])
    train = entry["variants"]["float32"]
    assert "share_of_bf16_peak" not in train
    assert train["steps_per_s"] == pytest.approx(1 / train["median_step_s"])
    assert train["gflops"] == pytest.approx(entry["batch"] * flops["step"] * train["steps_per_s"])
    assert train["share_of_fp32_peak"] == pytest.approx(train["gflops"] / peaks["best_float32"])
    assert train["share_of_fp32_matmul_round_robin"] == pytest.approx(train["gflops"] / entry["matmul_round_robin_gflops"])
    profile = entry["profile"]["float32"]
    assert profile["by_type"] and positive(profile["op_ms_total"])
    assert sum(r["share"] for r in profile["by_type"]) <= 1 + 1e-9
    ratio = entry["pipeline"]["images_per_s"] / train["images_per_s"]
    assert entry["pipeline_over_training_ratio"] == pytest.approx(ratio)
    assert results["targets"]["pipeline_over_training"]["measured"] == entry["pipeline_over_training_ratio"]
    sustained = entry["sustained"]  # steps in a row from the live pipeline, beside the round-robin median
    assert sustained["variant"] == "float32" and sustained["steps"] == 3 and positive(sustained["steps_per_s"])
    assert sustained["images_per_s"] == pytest.approx(entry["batch"] * sustained["steps_per_s"])
    assert any("float32 sustained" in line for line in printed)


@pytest.mark.slow
def test_quick_training_section_times_the_shipped_configuration(tmp_path):
    """--train_config=pretrained times the step with the paired term on the content eyes (one f_W
    pass; the loss network up to the paired layers over their twins only; the gaze reader over the
    outputs, forward and back, and over the twins), and separate_pairs the
    former step with a second batch of pairs (f_W and that part of the loss network 3x more), each
    counted in its own FLOPs; paper_layout (f_W with the paper's 32 px outer pad) costs more than one
    f_W forward of the three a step runs on top; block4_taps (the objective reading VGG block 4, the
    shipped step before its taps stopped at block 3) costs more; no per-op profile unless asked."""
    results = run_quick(tmp_path, "training", "--train_variants=float32,separate_pairs,paper_layout,block4_taps",
                        "--train_config=pretrained",
                        env_extra={"PURIFY_NATIVE_BF16": "0"})
    training = results["training"]
    assert "configs/pretrained.flags" in training["configuration"]
    (entry,) = training["sizes"].values()
    f = entry["gflop_per_image"]
    assert 0 < f["loss_network_to_paired_layers"] < f["loss_network_forward"]
    shared = 3 * f["f_w_forward"] + 3 * f["loss_network_forward"] + f["fcn_forward"] + 3 * f["gaze_reader_forward"]
    assert f["step"] == pytest.approx(shared + f["loss_network_to_paired_layers"])
    variants = entry["variants"]
    assert variants["float32"]["gflop_per_image_step"] == pytest.approx(f["step"])
    assert variants["separate_pairs"]["gflop_per_image_step"] == pytest.approx(
        shared + 3 * f["f_w_forward"] + 3 * f["loss_network_to_paired_layers"])
    assert variants["paper_layout"]["gflop_per_image_step"] > f["step"] + f["f_w_forward"]
    assert positive(variants["paper_layout"]["steps_per_s"])
    assert variants["block4_taps"]["gflop_per_image_step"] > f["step"] + 0.1 * f["loss_network_forward"]
    assert positive(variants["block4_taps"]["steps_per_s"])
    assert positive(entry["variants"]["float32"]["gflops"]) and entry["profile"] == {}


def test_mixed_bfloat16_is_timed_only_where_bf16_is_native():
    from benchmarks.bench_training import NOT_NATIVE, plan_variants

    assert plan_variants(["float32", "mixed_bfloat16", "xla"], native=True) == (
        ["float32", "mixed_bfloat16", "xla"], {})
    timed, skipped = plan_variants(["float32", "mixed_bfloat16", "xla"], native=False)
    assert timed == ["float32", "xla"] and list(skipped) == ["mixed_bfloat16"]
    assert skipped["mixed_bfloat16"].startswith(NOT_NATIVE)
    with pytest.raises(ValueError, match="float32_before"):
        plan_variants(["float32_before"], native=True)


def test_matmul_peaks_without_bf16_measure_float32_only(monkeypatch):
    from benchmarks import common

    monkeypatch.setattr(common, "repeats", lambda: 1)  # no flags parsed here
    peaks = common.matmul_peaks(64, bfloat16=False)
    assert positive(peaks["best_float32"]) and peaks["best_float32"] == max(peaks.values())
    assert not any("bfloat16" in key for key in peaks)


def test_training_configurations_match_the_flag_files():
    from benchmarks.bench_training import config_path, flag_settings

    demo = flag_settings(config_path("demo"))
    assert config_path("demo").name == "demo.flags"
    assert demo["height"] == "40" and demo["width"] == "64" and demo["batch_size"] == "4"
    assert demo["illumination"] == "true" and demo["residual"] == "true" and demo["masks"] == "fcn"
    assert demo["style"] == "renderer"
    assert demo["layer_weighting"] == "balanced"
    assert float(demo["paired"]) > 0
    shipped = flag_settings(config_path("pretrained"))
    # `make demo` trains what ships: every flag but where it writes and its gaze monitor
    where = ("model_dir", "eval_every")
    assert {k: v for k, v in demo.items() if k not in where} == {k: v for k, v in shipped.items() if k not in where}
    with pytest.raises(ValueError, match="demo"):
        config_path("paper")


def test_flag_settings_read_an_included_flagfile(tmp_path):
    from benchmarks.bench_training import flag_settings

    base = tmp_path / "base.flags"
    base.write_text("# base\n--height=48\n--illumination\n--paired=0\n")
    child = tmp_path / "child.flags"
    child.write_text(f"--flagfile={base}\n--paired=10\n--noresidual\n")
    assert flag_settings(child) == {"height": "48", "illumination": "true", "paired": "10", "residual": "false"}


@pytest.mark.slow
def test_quick_export_and_memory_sections(tmp_path):
    results = run_quick(tmp_path, "export,memory")
    export = results["export"]
    if "skipped" not in export:
        for name in ("keras_float32_graph", "saved_model_float32", "tflite_float32", "tflite_float16", "tflite_int8"):
            assert positive(export["latency_ms"][name]), name
        assert export["parity"]["tflite_int8"]["max_abs_diff"] >= 0
        trained = export["trained_int8"]
        assert "error" not in trained, trained
        if "skipped" not in trained:
            entry = trained["sizes"]["36x60"]
            assert positive(entry["default"]["ms_per_image"]) and entry["default"]["runtime"]
            for variant, v in entry["variants"].items():
                assert v["mean_abs_diff"] >= 0 and positive(v["speedup_vs_keras_float32"]), variant
                assert positive(v["speedup_vs_default"]), variant
            assert any(name.startswith("openvino_") for name in entry["variants"]) != ("openvino" in entry)
    for kind in ("inference", "training"):
        assert positive(results["memory"][kind]["peak_rss_mb"])
        assert results["memory"][kind]["peak_rss_mb"] >= results["memory"][kind]["setup_hwm_mb"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["inprocess", "subprocess"])
def test_quick_peers_section(tmp_path, mode):
    """Runs with or without the ``peers`` extra: a missing peer is recorded as skipped, never faked.
    ``subprocess``: each library in its own process on the same saved input and weights."""
    results = run_quick(tmp_path, "peers", f"--peers_mode={mode}")
    peers = results["peers"]
    assert peers["mode"] == mode
    entry = peers["sizes"]["36x60"]
    timed = entry["ms_per_image"]
    for case in ("tf_keras_fp32", "tf_folded_fp32", "litert_fp32"):
        assert timed[case] > 0
    for peer, case in (("torch", "torch_fp32"), ("onnxruntime", "onnxruntime_fp32"), ("openvino", "openvino_fp32")):
        assert (case in timed) != (peer in entry["skipped"]), (peer, entry["skipped"])
    assert entry["default"] == "tf_folded_fp32" or entry["default"].endswith("bf16")  # eye crops: the graph
    assert entry["default"] in timed
    assert peers["matmul_peaks_gflops"]["best_float32"] >= peers["matmul_peaks_gflops"]["tensorflow_float32"] > 0
    assert set(entry["share_of_peak"]) == set(timed)
    assert "vs_best_peer_36x60" in results["targets"]


@pytest.mark.slow
def test_quick_cli_section(tmp_path):
    results = run_quick(tmp_path, "cli")
    cli = results["cli"]
    assert cli["images"] == 64 and positive(cli["model_images_per_s"]) and positive(cli["cli_images_per_s"])
    assert cli["cli_over_model"] == pytest.approx(cli["cli_images_per_s"] / cli["model_images_per_s"])
    assert results["targets"]["cli_over_model"]["measured"] == cli["cli_over_model"]


@pytest.mark.parametrize("cpu_class, default", [("amx", "openvino_bf16"), ("avx2", "tf_folded_fp32")])
def test_peer_ratio_is_against_another_library_than_our_default(monkeypatch, cpu_class, default):
    """Where ``--runtime=auto`` runs OpenVINO (AMX), OpenVINO is our default, not a peer."""
    from benchmarks import bench_peers
    from purify_tf import cpu
    from purify_tf.inference import runtimes

    monkeypatch.setenv(cpu.ENV_CPU_CLASS, cpu_class)
    monkeypatch.setattr(runtimes, "runtime_installed", lambda r: True)
    monkeypatch.setattr(bench_peers, "has_native_bf16", lambda: cpu_class == "amx")
    assert bench_peers.default_case(36, 60) == default
    ms = {"tf_folded_fp32": 5.0, "tf_folded_bf16": 2.0, "openvino_bf16": 1.0, "openvino_fp32": 4.0,
          "torch_bf16": 2.5, "onnxruntime_fp32": 4.5}
    entry = bench_peers._entry(ms, {}, 64, default)
    assert entry["best_peer"] == ("torch_bf16" if cpu_class == "amx" else "openvino_bf16")
    assert entry["ratio_vs_best_peer"] == pytest.approx(ms[entry["best_peer"]] / ms[default])
