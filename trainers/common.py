"""Flags and set-up shared by the trainers: validation before any work starts, runtime, data, FCN."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from absl import flags, logging

from purify_tf.data.readers import KINDS as READER_KINDS
from purify_tf.hyperparameters import FCN_BATCH_SIZE, LR_SCHEDULES, SHIPPED, TrainingDefaults
from purify_tf.inference.onednn import request_onednn

# oneDNN's CPU kernels for training as for inference: TensorFlow turns them on by itself only on
# AVX512_VNNI / AVX512_BF16 / AMX CPUs, and an AVX2 CPU then trains on Eigen's kernels, 1.8x slower
# (docs/BENCHMARKS.md). Every trainer imports this module before TensorFlow; the environment wins.
request_onednn("auto")

FLAGS = flags.FLAGS

CONTENT_KINDS = ["renderer", *READER_KINDS]
VGG_WEIGHT_WORDS = ("auto", "imagenet", "random")
# Training progress has no flag: purify_tf.progress draws a bar when stderr is a terminal and writes a
# plain line every 10 s into a log (what the retired --progress, on by default, did).
PROGRESS = True


# ----------------------------------------------------------------------------- flag groups
def define_loss_network_flags() -> None:
    flags.DEFINE_enum(
        "loss_network", "auto", ["auto", "vgg19", "vgg16"],
        "Loss network: vgg19 (the paper), vgg16, or auto (the architecture of the weights file, else vgg19).",
    )
    flags.DEFINE_string(
        "vgg_weights", "auto",
        "Loss-network weights: auto ($PURIFY_VGG_WEIGHTS, the Keras cache, download, else random), "
        "imagenet, random (seeded, lower quality), or a path to a Keras weights file.",
    )
    flags.register_validator(
        "vgg_weights",
        lambda v: v in VGG_WEIGHT_WORDS or os.path.isfile(v),
        message=f"--vgg_weights must be one of {VGG_WEIGHT_WORDS} or an existing weights file.",
    )


def define_content_flags() -> None:
    flags.DEFINE_enum("content", "renderer", CONTENT_KINDS, "Where content (real) eye images come from.")
    flags.DEFINE_string("content_dir", None, "Dataset directory for --content other than renderer.")
    flags.DEFINE_integer("max_images", 20_000, "At most this many content images are loaded from a dataset reader.")
    flags.DEFINE_list("content_subjects", None, "With --content=labelled: only these subjects' images (e.g. the "
                      "training subjects of a subject-disjoint split; their labels are never read into the loss).")
    flags.DEFINE_float("content_eye_scale", SHIPPED.content_eye_scale, "The renderer's eyes of the training stream "
                       "(--content=renderer, or the paired term's renderer pairs beside a dataset's content): their "
                       "size in the crop, times the renderer's (below 1 a smaller eye, as real MPIIGaze crops show; "
                       "their twins alike; 1 for the renderer's own).")
    flags.register_validator(
        "content_eye_scale", lambda v: v is not None and 0 < v < float("inf"),
        message="--content_eye_scale must be a positive number.",
    )
    flags.register_validator(
        "max_images", lambda v: v is not None and v > 0,
        message="--max_images must be a positive integer.",
    )
    flags.register_multi_flags_validator(
        ["content", "content_dir"],
        lambda d: d["content"] == "renderer" or (d["content_dir"] and os.path.exists(d["content_dir"])),
        message="--content_dir must name an existing dataset path when --content is not renderer.",
    )


def define_purifier_flags(defaults: TrainingDefaults, images: str = "Training image") -> None:
    """Image size, optimiser and objective weights of purifier training (``defaults``: the job's,
    from purify_tf.hyperparameters, which the config dataclasses share)."""
    flags.DEFINE_integer("height", defaults.height, f"{images} height (divisible by 8).")
    flags.DEFINE_integer("width", defaults.width, f"{images} width (divisible by 8).")
    flags.DEFINE_integer("batch_size", defaults.batch_size, "Global batch size of the purifier, split across replicas.")
    flags.DEFINE_float("learning_rate", defaults.learning_rate, "Adam learning rate (the start of the schedule).")
    flags.DEFINE_enum("lr_schedule", defaults.lr_schedule, list(LR_SCHEDULES),
                      "Learning-rate schedule: constant (the paper) or cosine decay to 1% at the last step.")
    flags.DEFINE_float("alpha", defaults.alpha, "Weight alpha of the content terms (balanced layer weights: of the "
                       "mean relative feature error).")
    flags.DEFINE_float("beta", defaults.beta, "Weight beta of the style terms (balanced layer weights: of the mean "
                       "relative Gram error).")
    flags.DEFINE_float("theta", defaults.theta, "Weight theta of the total-variation term (paper: 1e-7 to 1e-5; "
                       "balanced layer weights: relative to a synthetic eye's own TV).")
    for name in ("height", "width", "batch_size"):
        require_positive_int(name)
    require_multiple("height", 8)
    require_multiple("width", 8)
    require_positive("learning_rate")
    for name in ("alpha", "beta", "theta"):
        require_non_negative(name)


def define_style_set_flags(defaults: TrainingDefaults) -> None:
    flags.DEFINE_integer("style_set_size", defaults.style_set_size, "Synthetic renderer eyes in the style set.")
    flags.DEFINE_integer("style_seed", defaults.style_seed, "Renderer seed of the synthetic style image(s).")
    require_positive_int("style_set_size")


def define_fcn_flags(steps: int) -> None:
    """--fcn_steps; the FCN trains at batch ``hyperparameters.FCN_BATCH_SIZE`` (no flag)."""
    flags.DEFINE_integer("fcn_steps", steps, "Coarse-FCN training steps (when no trained FCN is found).")
    require_positive_int("fcn_steps")


ESTIMATORS = ("cnn", "knn", "svr", "rf", "alr")


def define_estimator_flags() -> None:
    flags.DEFINE_list("estimators", list(ESTIMATORS), f"Gaze estimators, of {', '.join(ESTIMATORS)}.")
    flags.DEFINE_integer("cnn_epochs", 30, "Gaze-CNN epochs (early stopping on the angular error of a held-out 10%).")
    flags.DEFINE_integer("cnn_batch_size", 512, "Gaze-CNN batch size (paper: 512).")
    require_positive_int("cnn_epochs")
    require_positive_int("cnn_batch_size")
    flags.register_validator(
        "estimators", lambda v: bool(v) and all(e.lower() in ESTIMATORS for e in v),
        message=f"--estimators must list some of {', '.join(ESTIMATORS)}.",
    )


def define_runtime_flags(jit_compile: bool = True) -> None:
    """Distribution, precision and seed; ``jit_compile``: also --jit_compile (for the entry points
    that read it). Progress has no flag (``PROGRESS``)."""
    flags.DEFINE_enum("strategy", "auto", ["auto", "mirrored", "multiworker", "default"],
                      "Distribution: auto = MultiWorkerMirrored when TF_CONFIG names a cluster, else Mirrored over "
                      "several local devices (GPUs, or --cpu_replicas), else TF's default strategy on the one device.")
    flags.DEFINE_integer("cpu_replicas", 1, "Split the CPU into N logical devices (MirroredStrategy without GPUs).")
    flags.DEFINE_bool("mixed_precision", None, "Mixed precision (float16 on GPU, bfloat16 on CPU). Unset: on "
                      "where the CPU computes bfloat16 natively (AVX512_BF16, AMX) and no GPU is used, else "
                      "off; --nomixed_precision for float32 everywhere.")
    if jit_compile:
        flags.DEFINE_bool("jit_compile", False, "XLA-compile the gradient computation.")
    flags.DEFINE_integer("seed", 0, "Random seed for weights, data order and dropout.")
    require_positive_int("cpu_replicas")


# ----------------------------------------------------------------------------- validators
def require_positive_int(name: str) -> None:
    flags.register_validator(name, lambda v: v is not None and v > 0, message=f"--{name} must be a positive integer.")


def require_positive(name: str) -> None:
    flags.register_validator(name, lambda v: v is not None and v > 0, message=f"--{name} must be > 0.")


def require_non_negative(name: str) -> None:
    flags.register_validator(name, lambda v: v is not None and v >= 0, message=f"--{name} must be >= 0.")


def require_multiple(name: str, k: int) -> None:
    flags.register_validator(name, lambda v: v is None or v % k == 0, message=f"--{name} must be a multiple of {k}.")


def require_not_a_file(name: str) -> None:
    flags.register_validator(
        name, lambda v: not v or not os.path.isfile(v),
        message=f"--{name} must be a directory (or not exist yet), not an existing file.",
    )


# ----------------------------------------------------------------------------- runtime
@dataclasses.dataclass
class Runtime:
    strategy: object
    chief: bool
    policy: str


def setup_runtime() -> Runtime:
    """Seeds, logical CPU devices, precision policy and the distribution strategy, in that order."""
    import keras
    import tensorflow as tf

    from purify_tf.training.strategy import configure_precision, is_chief, select_strategy

    if FLAGS.cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.cpu_replicas
        )
    keras.utils.set_random_seed(FLAGS.seed)
    policy = configure_precision(FLAGS.mixed_precision)
    strategy = select_strategy(FLAGS.strategy)
    return Runtime(strategy=strategy, chief=is_chief(strategy), policy=policy)


def loss_network_from_flags():
    from purify_tf.losses.layers import LOSS_LAYERS
    from purify_tf.models.vgg import build_loss_network

    return build_loss_network(loss_network=FLAGS.loss_network, vgg_weights=FLAGS.vgg_weights, layers=LOSS_LAYERS,
                              seed=FLAGS.seed)


def flag_settings() -> dict:
    """Every flag of the entry point (not absl's own) with its value, for the saved metadata."""
    return {name: FLAGS[name].value for name in sorted(FLAGS)
            if not FLAGS.find_module_defining_flag(name, "").startswith("absl")}


# ----------------------------------------------------------------------------- data
def content_source_from_flags(height: int, width: int, need_masks: bool = False, twins: bool = False):
    """The training content stream named by --content (renderer by default; with ``twins``, the
    renderer's eyes come with their synthetic twins, which the paired term then reads)."""
    from purify_tf.training.inputs import ArraySource, renderer_content

    if FLAGS.content == "renderer":
        print("Content eyes: the built-in renderer's real domain (no dataset needed; "
              "--content=labelled|folder|... --content_dir=DIR trains on your own unlabelled eyes)")
        return renderer_content(height, width, seed=FLAGS.seed, twins=twins, eye_scale=FLAGS.content_eye_scale)
    data = read_content(FLAGS.content, FLAGS.content_dir, limit=FLAGS.max_images,
                        subjects=FLAGS.content_subjects)
    masks = data.get("mask")
    if need_masks and masks is None:
        from absl import app

        raise app.UsageError(f"--content={FLAGS.content} has no masks; use --masks=fcn")
    logging.info("Loaded %d content images from %s (%s)", len(data["image"]), FLAGS.content_dir, FLAGS.content)
    print(f"Content eyes: {len(data['image'])} images from {FLAGS.content_dir} ({FLAGS.content}"
          + (f", subjects {', '.join(FLAGS.content_subjects)}" if FLAGS.content_subjects else "") + "; images only)")
    return ArraySource(data["image"], height, width, masks=masks, seed=FLAGS.seed)


def read_content(kind: str, path: str, limit: int | None = None, subjects: list[str] | None = None) -> dict:
    """Images from the dataset reader that ``kind`` names (see ``CONTENT_KINDS``); a labelled
    folder's gaze labels are dropped here, so that no label can reach the purifier's loss."""
    from purify_tf.data.readers import detect_kind, read_dataset

    if subjects and (kind if kind != "auto" else detect_kind(path)) != "labelled":
        raise ValueError(f"--content_subjects needs --content=labelled, got --content={kind}")
    data = read_dataset(kind, path, limit=limit, **({"subjects": subjects} if subjects else {}))
    if kind == "labelled" or "subject" in data:
        data = {"image": data["image"]}
    return data


def fcn_from_flags(model_dir: Path, strategy):
    """Load --fcn_model, or <model_dir>/fcn.keras from an earlier run, or train and save one."""
    from purify_tf.training.segment_loop import load_or_train_fcn

    if FLAGS.fcn_model and not Path(FLAGS.fcn_model).exists():
        raise FileNotFoundError(f"--fcn_model={FLAGS.fcn_model} does not exist")
    path = Path(FLAGS.fcn_model) if FLAGS.fcn_model else model_dir / "fcn.keras"
    fcn, iou = load_or_train_fcn(path, FLAGS.height, FLAGS.width, FLAGS.fcn_steps, FCN_BATCH_SIZE,
                                 FLAGS.seed, strategy, progress=PROGRESS)
    print("FCN held-out IoU: " + ", ".join(f"{k}={v:.3f}" for k, v in iou.items()))
    return fcn
