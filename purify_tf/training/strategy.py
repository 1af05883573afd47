"""Distribution strategy and precision selection shared by every trainer.

One code path serves laptops and multi-GPU hosts: MirroredStrategy over the local devices when there
are several (GPUs, else logical CPUs), TensorFlow's default strategy on one device (the same
arithmetic; a one-replica MirroredStrategy ran the shipped step 1.03x slower on a 2-core AVX2 CPU and
waited seconds at a dataset's end: docs/BENCHMARKS.md, "Native AVX2"), and MultiWorkerMirroredStrategy when
``TF_CONFIG`` names a cluster.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf
from absl import logging

STRATEGIES = ("auto", "mirrored", "multiworker", "default")


def cluster_size_from_tf_config() -> int:
    """Number of workers ``TF_CONFIG`` names (0 when unset or without a cluster)."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from err
    return sum(len(v) for k, v in cluster.items() if k in ("worker", "chief"))


def select_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """Return the strategy for ``kind`` (see ``STRATEGIES``) and log what it spans."""
    if kind not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {STRATEGIES}, got {kind!r}")
    if kind == "multiworker" or (kind == "auto" and cluster_size_from_tf_config() > 0):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif kind == "default":
        strategy = tf.distribute.get_strategy()
    else:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        if kind == "auto" and len(devices) == 1:
            strategy = tf.distribute.get_strategy()  # same arithmetic, bit for bit; less overhead
        else:
            strategy = tf.distribute.MirroredStrategy(devices=devices)
    logging.info(
        "Strategy %s with %d replica(s) in sync", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy


def auto_mixed_precision() -> bool:
    """Mixed precision by default where the CPU computes bfloat16 natively (AVX512_BF16, AMX) and
    no GPU is used: there the step runs much faster and the demo's held-out gaze gap share stays
    within the float32 run's interval (docs/BENCHMARKS.md); float32 elsewhere."""
    from purify_tf.cpu import native_bf16

    return not tf.config.list_logical_devices("GPU") and native_bf16()


def configure_precision(mixed_precision: bool | None) -> str:
    """Set the Keras global dtype policy; mixed float16 only pays off on GPUs (bfloat16 on CPU).
    ``None``: :func:`auto_mixed_precision`."""
    if mixed_precision is None:
        mixed_precision = auto_mixed_precision()
    if not mixed_precision:
        keras.mixed_precision.set_global_policy("float32")
        return "float32"
    policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    logging.info("Mixed precision policy: %s", policy)
    return policy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes summaries and final artefacts."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0)


def worker_id(strategy: tf.distribute.Strategy) -> int:
    """This worker's task index (0 without a cluster): names its scratch checkpoint folder."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0) if resolver is not None else 0


def loss_scaled_adam(learning_rate, **kwargs) -> keras.optimizers.Optimizer:
    """Adam, wrapped in a LossScaleOptimizer under the mixed_float16 policy (f_W's, D's and the FCN's)."""
    optimizer = keras.optimizers.Adam(learning_rate, **kwargs)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def replica_loss(total: tf.Tensor, optimizer, replicas: int) -> tf.Tensor:
    """Each replica averages its share; dividing by the replica count makes the summed gradient
    the global-batch mean (and the loss is scaled under float16 loss scaling)."""
    loss = total / tf.cast(replicas, tf.float32)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        loss = optimizer.scale_loss(loss)
    return loss
