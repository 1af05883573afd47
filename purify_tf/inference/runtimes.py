"""Where a purifier runs on CPU: TensorFlow's graph, LiteRT (XNNPACK) or OpenVINO.

TensorFlow is the default (``Purifier(runtime="tensorflow")``). The exported float32 TFLite graph
runs as fast or faster in LiteRT and OpenVINO on some CPUs (docs/BENCHMARKS.md, ``peers``), so
both are offered: ``TFLiteRunner`` converts the inference graph (``fold_for_inference``) once per
input shape and keeps the last few compiled, since a folder of mixed sizes needs one graph each.
Outputs match TensorFlow's to within one grey level (``tests/test_runtimes.py``).

``auto_precision`` picks bfloat16 where the CPU computes it natively (AVX512_BF16 or AMX) and the
model's bfloat16 outputs stay within ``BF16_PARITY_LEVELS`` of float32 on a check batch; elsewhere
bfloat16 is emulated and slower than float32. OpenVINO follows the same rule on its own outputs
(``openvino_precision``: its bf16 inference precision hint, else f32).
"""

from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from purify_tf.cpu import ENV_NATIVE_BF16, cpu_class, native_bf16  # noqa: F401 (ENV_NATIVE_BF16: public here too)
from purify_tf.errors import ConfigError, DataError
from purify_tf.inference.serving import MIN_SIDE
from purify_tf.models.transformer import SIZE_MULTIPLE

RUNTIMES = ("tensorflow", "litert", "openvino")
# ``runtime="auto"``: the fastest runtime per CPU class (``purify_tf.cpu.cpu_class``), as measured by
# ``python -m benchmarks.run_all --sections=peers`` at 36x60 batch 64, 256x256 and 512x512
# (docs/BENCHMARKS.md, "Which runtime --runtime=auto picks"). On AMX, OpenVINO in bf16 on our exported
# graph was ahead of TensorFlow's bf16 graph at 36x60 and 256x256 in every run and at 512x512 in the
# quiet one; with AVX512_BF16 but no AMX, and on AVX-512 / AVX2, TensorFlow's default path was ahead.
# A runtime that is not installed is passed over for the next one.
AUTO_RUNTIMES: dict[str, tuple[str, ...]] = {
    "amx": ("openvino", "tensorflow"),
    "avx512_bf16": ("tensorflow",),
    "avx512": ("tensorflow",),
    "avx2": ("tensorflow",),
    "baseline": ("tensorflow",),
}
RUNTIME_CHOICES = ("auto", *RUNTIMES)
# Compiled graphs kept per runner (one per distinct batch shape).
MAX_CACHED_SHAPES = 8
# bfloat16 is chosen automatically only if its mean |difference| from float32 is within this.
BF16_PARITY_LEVELS = 1.0
# OpenVINO's inference precision hint per precision it may run in.
OPENVINO_HINTS = {"float32": "f32", "bfloat16": "bf16"}
OPENVINO_PRECISIONS = ("auto", *OPENVINO_HINTS)


def runtime_installed(runtime: str) -> bool:
    """Whether ``runtime`` can run here (TensorFlow always; OpenVINO / LiteRT when importable)."""
    if runtime == "tensorflow":
        return True
    import importlib.util

    if runtime == "openvino":
        return importlib.util.find_spec("openvino") is not None
    return importlib.util.find_spec("ai_edge_litert") is not None or hasattr(tf, "lite")


def auto_runtime() -> str:
    """The measured-fastest installed runtime for this CPU (``AUTO_RUNTIMES``); TensorFlow on a GPU."""
    if tf.config.list_physical_devices("GPU"):
        return "tensorflow"
    return next(r for r in AUTO_RUNTIMES[cpu_class()] if runtime_installed(r))


def auto_precision(model: Any, check_images: np.ndarray | None = None) -> str:
    """``bfloat16`` where the CPU has native bf16 and the outputs keep parity, else ``float32``."""
    if tf.config.list_physical_devices("GPU") or not native_bf16():
        return "float32"
    from purify_tf.models.transformer import with_precision

    if check_images is None:
        check_images = np.random.default_rng(0).uniform(0, 255, (2, 36, 60, 3)).astype(np.float32)
    reference = model(check_images, training=False).numpy()
    bf16 = with_precision(model, "bfloat16")(check_images, training=False).numpy()
    return "bfloat16" if float(np.abs(bf16 - reference).mean()) <= BF16_PARITY_LEVELS else "float32"


def make_interpreter(
    model_content: bytes | None = None, model_path: str | None = None, num_threads: int | None = None
) -> Any:
    """A LiteRT interpreter when ``ai_edge_litert`` is importable, else ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter  # noqa: N806
    interpreter = Interpreter(model_content=model_content, model_path=model_path, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def to_tflite(model: Any, shape: tuple[int, ...]) -> bytes:
    """A float32 TFLite flatbuffer of ``model`` for one input shape (N, H, W, 3), H and W divisible by 4."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    holder = tf.Module()
    holder.model = model
    holder.fn = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32, name="image")]
    )
    frozen = convert_variables_to_constants_v2(holder.fn.get_concrete_function())
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen], holder).convert()


def _litert_callable(flat: bytes, num_threads: int | None) -> Any:
    interpreter = make_interpreter(flat, num_threads=num_threads)
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run


def _openvino_callable(flat: bytes, num_threads: int | None, precision: str = "float32") -> Any:
    """OpenVINO's CPU plugin on the float32 graph, computing in ``precision`` (its inference
    precision hint: f32, or bf16 with float32 inputs and outputs)."""
    import openvino as ov

    core = ov.Core()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "purifier.tflite")
        Path(path).write_bytes(flat)
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision]}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = int(num_threads)
        compiled = core.compile_model(core.read_model(path), "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})[0]


def openvino_precision(model: Any, precision: str = "auto", num_threads: int | None = None,
                       check_images: np.ndarray | None = None) -> str:
    """What OpenVINO computes in: ``auto`` is bfloat16 where the CPU has native bf16 and OpenVINO's
    bf16 outputs stay within ``BF16_PARITY_LEVELS`` of its float32 ones on a check batch, else
    float32; ``float32`` / ``bfloat16`` as asked (bfloat16 then without the check)."""
    if precision not in OPENVINO_PRECISIONS:
        raise ConfigError(f"runtime 'openvino' runs float32 or bfloat16 (precision one of "
                          f"{OPENVINO_PRECISIONS}), got precision {precision!r}")
    if precision != "auto":
        return precision
    if not native_bf16():
        return "float32"
    if check_images is None:
        check_images = np.random.default_rng(0).uniform(0, 255, (2, 36, 60, 3)).astype(np.float32)
    flat = to_tflite(model, check_images.shape)
    reference = _openvino_callable(flat, num_threads, "float32")(check_images)
    bf16 = _openvino_callable(flat, num_threads, "bfloat16")(check_images)
    return "bfloat16" if float(np.abs(bf16 - reference).mean()) <= BF16_PARITY_LEVELS else "float32"


class TFLiteRunner:
    """uint8 (N, H, W, 3) -> uint8 through the exported float32 graph in LiteRT or OpenVINO.

    Any H, W >= 4 (reflect-padded to a multiple of 4 and cropped back, as the TF graph does).
    ``precision``: LiteRT runs float32 (``auto`` or ``float32``); OpenVINO ``auto`` (bfloat16 where
    native and within parity, :func:`openvino_precision`), ``float32`` or ``bfloat16``.
    ``self.precision`` is what it runs.
    """

    def __init__(self, model: Any, runtime: str = "litert", num_threads: int | None = None,
                 precision: str = "auto") -> None:
        if runtime not in RUNTIMES[1:]:
            raise ConfigError(f"runtime must be one of {RUNTIMES[1:]} here, got {runtime!r}")
        from purify_tf.models.inference_graph import fold_for_inference

        if runtime == "litert" and precision not in ("auto", "float32"):
            raise ConfigError(f"runtime 'litert' runs float32, got precision {precision!r}")
        if runtime == "openvino":
            try:
                import openvino  # noqa: F401
            except ImportError as exc:
                raise ConfigError("--runtime=openvino needs OpenVINO: pip install 'purify-tf[openvino]'") from exc
        self.runtime = runtime
        self.num_threads = num_threads
        self._model = fold_for_inference(model)
        self.precision = "float32"
        if runtime == "openvino":
            self.precision = openvino_precision(self._model, precision, num_threads)
        self._compiled: collections.OrderedDict[tuple[int, ...], Any] = collections.OrderedDict()

    def _graph(self, shape: tuple[int, ...]) -> Any:
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        flat = to_tflite(self._model, shape)
        if self.runtime == "litert":
            self._compiled[shape] = _litert_callable(flat, self.num_threads)
        else:
            self._compiled[shape] = _openvino_callable(flat, self.num_threads, self.precision)
        if len(self._compiled) > MAX_CACHED_SHAPES:
            self._compiled.popitem(last=False)
        return self._compiled[shape]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        n, h, w, c = images.shape
        if c != 3 or min(h, w) < MIN_SIDE:
            raise DataError(f"images must be (N, H, W, 3) with sides >= {MIN_SIDE}, got shape {images.shape}")
        # The same split as transformer.pad_amounts: the extra pixel goes after.
        top, left = (-h % SIZE_MULTIPLE) // 2, (-w % SIZE_MULTIPLE) // 2
        pads = ((0, 0), (top, -h % SIZE_MULTIPLE - top), (left, -w % SIZE_MULTIPLE - left), (0, 0))
        x = np.pad(images.astype(np.float32), pads, mode="reflect")
        y = self._graph(x.shape)(x)[:, top : top + h, left : left + w]
        return np.clip(np.round(y), 0, 255).astype(np.uint8)
