r"""Train the purification transformer f_W: ``python -m trainers.purify`` trains the configuration that
ships (the defaults are configs/pretrained.flags' values; purify_tf.hyperparameters PURIFY and SHIPPED),
``--flagfile=configs/paper.flags`` the paper's.

Content images come from the ``real`` renderer domain (or a dataset reader), the style set from the
``synthetic`` domain (``--style``: the renderer's set, one render, an image file or a folder);
masks for both come from the coarse FCN with the orphan-label fix (trained first when no
``--fcn_model`` is given) or, with ``--masks=oracle``, from the renderer; ``--masks=none`` trains
Johnson et al.'s plain perceptual loss (no FCN). The progress bar shows on a terminal, a log gets a
plain line every 10 s (``purify_tf.progress``). Rerunning the same command resumes from the last
checkpoint in ``--model_dir``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from absl import app, flags, logging

from purify_tf.hyperparameters import (
    GAZE_READERS,
    ILLUMINATION_CENTRES,
    ILLUMINATION_TONES,
    LAYER_WEIGHTINGS,
    PURIFY,
    SHIPPED,
)
from purify_tf.training.style_source import STYLE_EXPECTED, STYLE_WORDS, style_arguments
from trainers import common

FLAGS = flags.FLAGS
# TensorBoard's image grid and weight histograms follow --log_every at these multiples.
IMAGE_EVERY, HISTOGRAM_EVERY = 5, 10

flags.DEFINE_string("model_dir", "runs/purify", "Directory for checkpoints, TensorBoard logs and the final model.")
flags.DEFINE_enum("config", SHIPPED.config, ["paper", "reflect", "johnson"],
                  "Transformer architecture: 'reflect' (the paper's layers, each convolution reflection-padded, "
                  "so every layer runs at the eye's size: 2.3x fewer FLOPs at 48x72), the paper's (one 32 px "
                  "outer reflection pad eaten by valid convolutions) or Johnson et al.'s.")
flags.DEFINE_enum("upsample", SHIPPED.upsample, ["deconv", "resize"], "f_W's two x2 upsamplings: deconv = the paper's "
                  "4x4 stride-2 transposed convolutions; resize = nearest x2 then a 3x3 convolution (resize-convolution, "
                  "Odena et al.; pytorch/examples fast_neural_style), which cannot print a checkerboard.")
flags.DEFINE_string("init_model", None, "Start f_W from this trained purifier's weights (a .keras file, or "
                    "'pretrained' for the one shipped in the package) instead of from scratch: fine-tuning, e.g. on your "
                    "own unlabelled eyes with --content=folder --content_dir=... and a lower --learning_rate. The "
                    "architecture flags must match it; the front end's prior and centre come from this run's flags. "
                    "Read at step 0 only: a resumed run goes on from its checkpoint.")
flags.DEFINE_integer("train_steps", PURIFY.steps, "Total training iterations.")
common.define_purifier_flags(PURIFY)
flags.DEFINE_bool("illumination", SHIPPED.illumination, "Illumination-normalising front end before f_W (removes shadows, light "
                  "gradients and exposure with the style set's luminance prior; not in the paper).")
flags.DEFINE_enum("illumination_tone", SHIPPED.illumination_tone, list(ILLUMINATION_TONES), "The front end's tone "
                  "step after its smooth gain: log_contrast = log-luminance contrast and mean luminance moved to the "
                  "style set's; linear = each channel's mean and standard deviation set to the style set's (the "
                  "mean/contrast match; lowers SVR's real error but moves the pupil on real eyes: docs/DESIGN.md).")
flags.DEFINE_enum("illumination_centre", SHIPPED.illumination_centre, list(ILLUMINATION_CENTRES), "What the front "
                  "end's smooth gain pulls each eye's coarse luminance map towards: synthetic = the style set's mean "
                  "map; content = the mean map of the content eyes (--content), so the gain removes each eye's own "
                  "illumination and keeps what the domain's eyes share (docs/DESIGN.md, \"The front end's centre\").")
flags.DEFINE_bool("residual", SHIPPED.residual, "Residual output initialised to the identity (f_W predicts a correction of "
                  "its input; not in the paper): training starts from a purifier that keeps every gaze cue.")
flags.DEFINE_float("paired", SHIPPED.paired, "Weight of the paired term on renderer pairs (the content eyes and their twins with "
                   "--content=renderer, else a second batch of renderer pairs): L1 + VGG content error "
                   "(global content layers) of f_W(real-domain render) against its synthetic twin (0: off).")
flags.DEFINE_float("gaze", SHIPPED.gaze, "Weight of the gaze-consistency term (FP-GAN's; not in the paper): a frozen gaze CNN "
                   "fitted to synthetic renderer eyes (<model_dir>/gaze_reader.keras) reads f_W(real-domain render) and "
                   "its synthetic twin, and the term is their disagreement, 1 at 5 degrees (0: off; off with --paired=0, whose "
                   "twins it reads).")
flags.DEFINE_enum("gaze_readers", SHIPPED.gaze_readers, GAZE_READERS, "Who reads the purified eye against its twin in the "
                  "gaze-consistency term: cnn, the small gaze CNN; cnn+svr, beside it an RBF support vector regressor "
                  "fitted to other synthetic renderer eyes (<model_dir>/gaze_reader_svr.npz), the term averaged over both.")
flags.DEFINE_float("pupil", SHIPPED.pupil, "Weight of the pupil-shift term (not in the paper): the coarse FCN's soft pupil "
                   "centre on f_W's output against the content eye's, squared beyond a dead zone of 1 px (0: off; "
                   "needs --masks=fcn).")
flags.DEFINE_float("pupil_contrast", SHIPPED.pupil_contrast, "Weight of the pupil-contrast term (not in the "
                   "paper): the Weber contrast of the content eye's pupil (its mask) to its surround may not rise "
                   "(the pupil may not lighten) from the content eye to f_W's output; 1 at 0.1 lighter (0: off; needs masks).")
flags.DEFINE_integer("style_blocks", SHIPPED.style_blocks, "VGG blocks whose Grams enter the global and local style "
                     "terms: 5 = the paper's taps (block1-block5); 3, with --local_content_layers=block3_conv3, leaves VGG block "
                     "4 and 5 out of the step (block 5's maps are 2x4 at 40x64; docs/BENCHMARKS.md, \"VGG blocks 1-3\").",
                     lower_bound=1, upper_bound=5)
flags.DEFINE_list("local_content_layers", list(SHIPPED.local_content_layers), "VGG layers of the local (masked) "
                  "content term: block4_conv2 is the paper's; block3_conv3 with --style_blocks=3 leaves VGG block 4 "
                  "out of the step.")
flags.DEFINE_float("patch_nce", SHIPPED.patch_nce, "Weight of PatchNCE (CUT; not in the paper): each patch of f_W's "
                   "output must be told apart as the content eye's patch at the same place among that eye's others, on "
                   "VGG features through projection heads trained with f_W (0: off; with --alpha=0 it replaces the "
                   "content term).")
flags.DEFINE_integer("eval_every", 0, "Score gaze (kNN, SVR on rendered real eyes vs their synthetic twins) every "
                     "N steps into TensorBoard's gaze/ scalars (0: never).")
flags.DEFINE_enum(
    "layer_weighting", PURIFY.layer_weighting, list(LAYER_WEIGHTINGS),
    "Per-layer weights: balanced = each layer's term relative to the style image's energy at that "
    "layer (ImageNet VGG layers differ by orders of magnitude); unit = 1.0 for every layer.",
)
common.define_loss_network_flags()
common.define_content_flags()
common.define_style_set_flags(PURIFY)
common.define_fcn_flags(steps=SHIPPED.fcn_steps)
flags.DEFINE_string("style", SHIPPED.style, "Style target: renderer = the renderer's synthetic set (--style_set_size "
                    "eyes), render = one synthetic render of --style_seed (the paper's single style image), or a "
                    "path: an image file is the style image, a folder holds synthetic eye images.")
flags.DEFINE_enum("masks", "fcn", ["fcn", "oracle", "none"],
                  "The paper's semantic objective with its local (masked) terms, masks from the coarse FCN (fcn) or "
                  "the renderer's ground truth (oracle); none = Johnson et al.'s plain perceptual loss (no FCN).")
flags.DEFINE_string("fcn_model", None, "A trained FCN .keras file (default: train one into <model_dir>/fcn.keras).")
flags.DEFINE_integer("checkpoint_every", SHIPPED.checkpoint_every, "Save a checkpoint every N steps (and on SIGTERM / Ctrl-C).")
flags.DEFINE_integer("log_every", SHIPPED.log_every, f"Write scalar summaries every N steps, an image grid every {IMAGE_EVERY}N "
                     f"and weight histograms every {HISTOGRAM_EVERY}N.")
common.define_runtime_flags()

for _name in ("train_steps", "checkpoint_every", "log_every"):
    common.require_positive_int(_name)
common.require_non_negative("eval_every")
common.require_non_negative("paired")
common.require_non_negative("gaze")
common.require_non_negative("pupil")
common.require_non_negative("pupil_contrast")
common.require_non_negative("patch_nce")
common.require_not_a_file("model_dir")
flags.register_validator("init_model", lambda v: v is None or v == "pretrained" or os.path.isfile(v),
                         message="--init_model must be 'pretrained' or an existing .keras purifier file.")
flags.register_validator("style", lambda v: v in STYLE_WORDS or (bool(v) and os.path.exists(v)),
                         message=f"--style must be {STYLE_EXPECTED}.")
flags.register_multi_flags_validator(
    ["masks", "style"], lambda d: d["masks"] != "oracle" or d["style"] in STYLE_WORDS,
    message="--masks=oracle needs a rendered style set (--style=renderer or --style=render); "
            "use --masks=fcn with an image or folder --style.",
)
flags.register_validator(
    "local_content_layers", lambda names: bool(names) and all(re.fullmatch(r"block[1-5]_conv[1-4]", n) for n in names),
    message="--local_content_layers must name VGG convolutions as blockK_convJ, e.g. block4_conv2.")
flags.register_multi_flags_validator(
    ["masks", "pupil_contrast"], lambda d: d["pupil_contrast"] == 0 or d["masks"] != "none",
    message="--pupil_contrast > 0 reads the content eye's pupil mask: it needs --masks=fcn or oracle.",
)
flags.register_multi_flags_validator(
    ["masks", "pupil"], lambda d: d["pupil"] == 0 or d["masks"] == "fcn",
    message="--pupil > 0 reads the coarse FCN's pupil: it needs --masks=fcn.",
)


def gaze_weight() -> float:
    """--gaze where the paired term runs (the gaze term reads its twins), else 0: --paired=0 alone turns
    both off."""
    return FLAGS.gaze if FLAGS.paired > 0 else 0.0


def init_model_path() -> str | None:
    """--init_model as a file path ('pretrained': the package's purifier), None without one."""
    if FLAGS.init_model != "pretrained":
        return FLAGS.init_model
    from purify_tf.pretrained import pretrained_path

    return os.fspath(pretrained_path())


def init_model_provenance() -> dict:
    """What the fine-tuned network started from: the file, its sha256 and the datasets its card
    names (they are in the new weights too, and so is their licence)."""
    from purify_tf.model_io import read_card, sha256_file

    path = init_model_path()
    _, card = read_card(path)
    card = card or {}
    return {"path": path, "sha256": sha256_file(path),
            **({"trained_on": card["trained_on"]} if "trained_on" in card else {})}


def train_config_from_flags(model_dir: Path, style_description: str | None = None):
    """The PurifyTrainConfig (objective weights included) that the flags describe; the flags, the
    style source and the content dataset go into the saved purifier's metadata."""
    from purify_tf.losses.objective import LossWeights
    from purify_tf.training.purify_loop import PurifyTrainConfig

    weights = LossWeights.from_settings(FLAGS)
    return PurifyTrainConfig(
        model_dir=str(model_dir), config=FLAGS.config, upsample=FLAGS.upsample, batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
        train_steps=FLAGS.train_steps, weights=weights, use_masks=FLAGS.masks != "none",
        layer_weighting=FLAGS.layer_weighting, illumination=FLAGS.illumination,
        illumination_tone=FLAGS.illumination_tone, illumination_centre=FLAGS.illumination_centre,
        residual=FLAGS.residual, lr_schedule=FLAGS.lr_schedule, eval_every=FLAGS.eval_every, paired=FLAGS.paired, gaze=gaze_weight(),
        pupil=FLAGS.pupil, pupil_contrast=FLAGS.pupil_contrast, patch_nce=FLAGS.patch_nce,
        pair_eye_scale=FLAGS.content_eye_scale,
        checkpoint_every=FLAGS.checkpoint_every, log_every=FLAGS.log_every,
        image_every=IMAGE_EVERY * FLAGS.log_every, histogram_every=HISTOGRAM_EVERY * FLAGS.log_every,
        jit_compile=FLAGS.jit_compile, seed=FLAGS.seed, progress=common.PROGRESS, init_model=init_model_path(),
        provenance={**({"init_model": init_model_provenance()} if FLAGS.init_model else {}), "flags": common.flag_settings(), "style": style_description,
                    "content": {"content": FLAGS.content, "content_dir": FLAGS.content_dir, "masks": FLAGS.masks,
                                **({"eye_scale": FLAGS.content_eye_scale} if FLAGS.content == "renderer" else {})}},
    )


def main(argv: list[str]) -> int:
    del argv
    from purify_tf.errors import ConfigError
    from purify_tf.gaze.monitor import gaze_monitor
    from purify_tf.losses.layers import LOSS_LAYERS
    from purify_tf.training.purify_loop import (
        NonFiniteLossError,
        PurifyTrainer,
        describe_outputs,
        describe_training_time,
    )
    from purify_tf.training.segment_loop import TrainingStopped, predict_fn
    from purify_tf.training.style_source import load_style_set

    # Before the runtime is set up: a flag error costs no start-up.
    untapped = [name for name in FLAGS.local_content_layers if name not in LOSS_LAYERS]
    if untapped:
        print(f"error: --local_content_layers={','.join(FLAGS.local_content_layers)}: {untapped} are not among the "
              f"loss network's taps ({','.join(LOSS_LAYERS)})", file=sys.stderr)
        return 2
    runtime = common.setup_runtime()
    strategy = runtime.strategy
    # A weights file with the wrong layers is only found when it is loaded: do that before
    # anything is written or trained.
    try:
        loss_network = common.loss_network_from_flags()
    except ConfigError as err:
        print(f"error: --vgg_weights={FLAGS.vgg_weights} (--loss_network={FLAGS.loss_network}): {err}",
              file=sys.stderr)
        return 2
    logging.info("Loss network: %s", loss_network.info)
    model_dir = Path(FLAGS.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)

    source = common.content_source_from_flags(FLAGS.height, FLAGS.width, need_masks=FLAGS.masks == "oracle",
                                              twins=FLAGS.paired > 0)
    style = load_style_set(**style_arguments(FLAGS.style), height=FLAGS.height, width=FLAGS.width,
                           set_size=FLAGS.style_set_size, seed=FLAGS.style_seed)
    logging.info("Style: %s", style.description)
    style_mask = style.masks
    mask_fn, fcn = None, None
    use_masks = FLAGS.masks != "none"  # none: the plain perceptual loss, no FCN
    fcn_seconds = None  # wall time of the FCN stage (trained, resumed or loaded), for the closing line
    if FLAGS.masks == "fcn":
        started = time.perf_counter()
        try:
            fcn = common.fcn_from_flags(model_dir, strategy)
            mask_fn = predict_fn(fcn)
        except TrainingStopped as stopped:  # SIGTERM / Ctrl-C: the FCN checkpoint is saved
            print(stopped)
            return 0
        fcn_seconds = time.perf_counter() - started
        style_mask = None  # the trainer labels the style set with the FCN too

    gaze_reader, reader_seconds = None, None  # the gaze-consistency term's frozen reader, fitted once
    if FLAGS.gaze > 0 and not gaze_weight():
        logging.info("--gaze=%g is off with --paired=0: the term reads the paired term's twins", FLAGS.gaze)
    if gaze_weight() > 0:
        from purify_tf.training.gaze_reader import load_gaze_readers

        started = time.perf_counter()
        gaze_reader = load_gaze_readers(model_dir, FLAGS.height, FLAGS.width, FLAGS.seed, FLAGS.gaze_readers)
        reader_seconds = time.perf_counter() - started
    cfg = train_config_from_flags(model_dir, style.description)
    monitor = gaze_monitor(FLAGS.height, FLAGS.width, FLAGS.seed) if FLAGS.eval_every else None
    try:
        trainer = PurifyTrainer(cfg, strategy, loss_network, source, style.images, style_mask if use_masks else None,
                                mask_fn=mask_fn, style_stream=style.stream, prior_images=style.prior_images,
                                monitor=monitor, gaze_reader=gaze_reader,
                                pupil_network=fcn if FLAGS.pupil > 0 else None)
    except ConfigError as err:  # e.g. an --init_model of another architecture
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        history = trainer.train()
    except NonFiniteLossError as err:
        logging.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        return 3
    if int(trainer.step.numpy()) < cfg.train_steps:
        print(f"Stopped at step {int(trainer.step.numpy())}; rerun the same command to resume.")
        return 0
    if runtime.chief:
        paths = trainer.save_final()
        if history:
            last = history[-1]
            print("Final loss terms: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
        print(describe_outputs(paths, os.fspath(model_dir), describe_training_time(trainer.last_run, fcn_seconds, reader_seconds)))
    return 0


def run() -> None:
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
