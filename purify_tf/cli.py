"""The ``purify-tf`` console command (also ``python -m purify_tf.cli``).

    purify-tf purify --input=eyes/ --output=purified/ [--model=transformer.keras] \\
        [--batch_size=N] [--precision=auto] [--runtime=auto] [--jit=auto] [--onednn=auto] [--overwrite] [--format=png] [--quiet] [--verbose]
    purify-tf info [--model=transformer.keras] [--json]
    purify-tf evaluate --labels=eyes/ [--model=transformer.keras ...] [--train_subjects=p00,p01] [--json=out.json]
    purify-tf centre --eyes=my_eyes/ --out=centred.keras [--model=transformer.keras] [--subjects=p00,p01]
    purify-tf symmetric --out=symmetric.keras [--model=transformer.keras]

``--model`` is a ``.keras`` file or a SavedModel directory (``saved_model.pb`` inside, or a TF
Serving ``<name>/`` directory: the latest version is used); without it the pretrained purifier
shipped in ``purify_tf/pretrained/`` is used. ``--input`` is an image, a video, or a folder
(recursive; outputs mirror the tree). Exit status: 0 when every file was purified or skipped, 1
when any failed (one ``failed:`` line each on stderr), 2 for bad arguments or an unusable model.

TensorFlow's start-up chatter (CUDA probing, CPU-feature notices) is kept off stderr unless
``--verbose``: a user's log should hold progress, failures and the summary, nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from purify_tf.hyperparameters import (  # TensorFlow-free
    DEFAULT_PIXEL_NORM,
    LABEL_HEAD_PITCH_SIGN,
    PIXEL_NORMS,
    REAL_CROP_EYE_SCALE,
)
from purify_tf.inference.onednn import MODES as ONEDNN_MODES  # TensorFlow-free: parsing stays fast

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EPILOG = """examples:
  purify-tf purify --input=eye.png --output=eye_purified.png
  purify-tf purify --model=runs/demo/purifier.keras --input=eyes/ --output=purified/ --batch_size=32
  purify-tf purify --model=serving/purifier --input=clip.mp4 --output=out/ --overwrite
  purify-tf purify --input=eyes/ --output=purified/ 2> purify.log   # plain progress lines in the log
  purify-tf info                                  # the pretrained purifier shipped with the package
  purify-tf info --model=runs/demo/purifier.keras --json
  purify-tf evaluate --labels=my_eyes/            # does purification help gaze on my labelled eyes?
  purify-tf centre --eyes=my_eyes/ --out=mine.keras   # the front end centred on my (unlabelled) eyes
  purify-tf symmetric --out=sym.keras             # mirrored eyes purified into mirrored eyes

dataset scale (Apache Beam, pip install 'purify-tf[beam]'):
  python -m trainers.purify_beam --input='eyes/*.png' --output=purified/

exit status: 0 all inputs purified or skipped, 1 some inputs failed, 2 bad usage or unusable model.
"""

# Environment that silences TensorFlow's C++, gRPC and OpenCV logging (a corrupt file would
# otherwise be reported twice: by libpng through OpenCV, and by our one ``failed:`` line).
_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3",
    "OPENCV_LOG_LEVEL": "ERROR",
}


def _per_subject(text: str) -> int | None:
    """``--per_subject``: a positive count, or 'all' (None: every eye of each subject)."""
    return None if text.strip().lower() == "all" else _positive_int(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="purify-tf",
        description="Purify real eye images towards the synthetic style (Zhao et al.).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    purify = commands.add_parser(
        "purify",
        help="Purify an image, a folder of images and videos, or a video.",
        description="Purify an image, a folder (recursively, mirroring the tree) or a video.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_purify_arguments(purify)
    _add_verbose(purify)
    info = commands.add_parser(
        "info",
        help="Describe a purifier: its card (training, scores), parameters, size, sha256.",
        description="Describe a purifier model; without --model, the pretrained one.",
    )
    info.add_argument(
        "--model", default=None,
        help="A .keras file or SavedModel directory (default: the pretrained purifier).",
    )
    info.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    _add_verbose(info)
    evaluate = commands.add_parser(
        "evaluate",
        help="Does purification help gaze estimation on your labelled eyes? (the real-eye table)",
        description="Gaze estimators trained on synthetic renderer eyes (gaze drawn from your training "
        "subjects' labels) are tested on your evaluation subjects' eyes: raw, mean/contrast matched, the "
        "illumination front end alone and each purifier, against predicting the mean gaze and the same "
        "estimators trained on your training subjects' real eyes (the floor). Subject-disjoint.",
    )
    _add_evaluate_arguments(evaluate)
    _add_verbose(evaluate)
    centre = commands.add_parser(
        "centre",
        help="Centre a purifier's illumination front end on your own unlabelled eyes (writes a copy).",
        description="The front end's gain pulls each eye's coarse luminance map towards a centre. This writes "
        "a copy of the purifier whose centre is the mean map of your eyes (images only; no label is read), "
        "so that the gain removes each eye's own lighting and keeps what all your eyes share. Use eyes of "
        "the people and camera you will purify, not the ones you evaluate on.",
    )
    centre.add_argument("--eyes", required=True,
                        help="A folder of eye images (any reader's layout; a labelled folder's labels are not read).")
    centre.add_argument("--out", required=True, help="Where to write the centred copy (.keras; its card beside it).")
    centre.add_argument("--model", default=None,
                        help="The .keras purifier to centre (default: the pretrained purifier).")
    centre.add_argument("--subjects", default=None,
                        help="With a labelled folder: only these comma-separated subjects' images.")
    centre.add_argument("--asymmetric", action="store_true",
                        help="Keep the eyes' mean map as measured, its left-right asymmetry included (default: made "
                        "mirror-symmetric, so that the gain keeps no asymmetry that synthetic eyes lack).")
    _add_verbose(centre)
    symmetric = commands.add_parser(
        "symmetric",
        help="Write a flip-symmetric copy of a purifier (its residual averaged with its mirror image's).",
        description="A purifier has no reason to prefer left over right. This writes a copy whose network is "
        "applied to the eye and to its mirror image and averages the two corrections, so that mirrored eyes "
        "are purified into mirrored eyes and a sideways pupil move shared by every eye cancels (one more "
        "network pass per eye). Same weights; the copy's card keeps the original's scores apart.",
    )
    symmetric.add_argument("--out", required=True, help="Where to write the copy (.keras; its card beside it).")
    symmetric.add_argument("--model", default=None,
                           help="The .keras purifier to copy (default: the pretrained purifier).")
    _add_verbose(symmetric)
    return parser


def symmetric_command(args: argparse.Namespace) -> int:
    """``purify-tf symmetric``: a flip-symmetric copy of the purifier."""
    from purify_tf.errors import ConfigError

    if args.model is not None and not Path(args.model).is_file():
        _error(f"--model: {args.model} is not a .keras file")
        return EXIT_USAGE
    start_tensorflow(args.verbose)
    from purify_tf.inference.symmetric import symmetric_file

    try:
        symmetric_file(_model_path(args.model), args.out)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    print(f"purify-tf: wrote {args.out}: flip-symmetric copy of {args.model or 'the pretrained purifier'} "
          "(its card keeps the original's scores as scores_before_flip_symmetry)")
    return EXIT_OK


def centre_command(args: argparse.Namespace) -> int:
    """``purify-tf centre``: a copy of the purifier centred on ``--eyes`` (images only)."""
    from purify_tf.errors import ConfigError, DataError

    if args.model is not None and not Path(args.model).is_file():
        _error(f"--model: {args.model} is not a .keras file")
        return EXIT_USAGE
    if not Path(args.eyes).exists():
        _error(f"--eyes: {args.eyes} does not exist")
        return EXIT_USAGE
    start_tensorflow(args.verbose)
    from purify_tf.inference.centre import CENTRE_KEY, centre_file

    try:
        card = centre_file(_model_path(args.model), args.eyes, args.out, subjects=_names(args.subjects),
                           symmetric=not args.asymmetric)
    except (ConfigError, DataError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    record = card[CENTRE_KEY]
    how = "mirror-symmetric mean map" if record.get("mirror_symmetric") else "mean map as measured"
    print(f"purify-tf: wrote {args.out}: front end centred ({how}) on {record['n_eyes']} eyes from {args.eyes} "
          f"(images only); licence of the copy: {card['trained_on']['licence']}")
    return EXIT_OK


def _add_evaluate_arguments(evaluate: argparse.ArgumentParser) -> None:
    """The options of ``purify-tf evaluate``."""
    evaluate.add_argument(
        "--labels", required=True,
        help="A labelled folder: labels.csv with a 'file' column, gaze as 'pitch','yaw' (radians) or "
        "'gaze_x','gaze_y','gaze_z', and a 'subject' column (optional: 'eye', 'flipped', 'head_pitch', "
        "'head_yaw'); e.g. ../shared/data/mpiigaze-gaze.",
    )
    evaluate.add_argument(
        "--model", action="append", default=None,
        help="A .keras purifier (repeatable; default: the pretrained purifier).",
    )
    evaluate.add_argument("--train_subjects", default=None,
                          help="Comma-separated training subjects (default: the first half of the sorted subjects).")
    evaluate.add_argument("--eval_subjects", default=None,
                          help="Comma-separated evaluation subjects (default: the subjects not trained on).")
    evaluate.add_argument("--test_set", default="left", choices=("left", "right_flipped"),
                          help="Test on unflipped eyes (left) or on the flipped right eyes.")
    evaluate.add_argument("--per_subject", type=_per_subject, default=200,
                          help="Test eyes drawn per evaluation subject, at most (default 200); 'all' (or a number "
                               "at least a subject's eye count) tests every eye, which removes the draw's noise "
                               "from a decision (about 3x the time; the model card's table tests every eye).")
    evaluate.add_argument("--synthetic_n", type=_positive_int, default=4000,
                          help="Synthetic training eyes rendered for the estimators (default 4000).")
    evaluate.add_argument("--estimators", default="cnn,knn,svr,rf,alr",
                          help="Comma-separated gaze estimators among cnn, knn, svr, rf, alr.")
    evaluate.add_argument("--cnn_epochs", type=_positive_int, default=10,
                          help="Gaze-CNN epochs at batch 128 (early stopping; default 10, as make report).")
    evaluate.add_argument("--synthetic_draws", type=_positive_int, default=1,
                          help="Synthetic training sets to fit the estimators on, each a new draw of the renderer; "
                               "each row's error is the mean over them (a single set is one sample: SVR's raw error "
                               "alone moves by up to a degree between draws). Costs the estimators' fits that many times.")
    evaluate.add_argument("--synthetic_eye_scale", type=_positive_float, default=REAL_CROP_EYE_SCALE,
                          help=f"The synthetic training eyes' size in the crop, times the renderer's (default "
                               f"{REAL_CROP_EYE_SCALE:g}, the smaller eye real MPIIGaze crops show; 1 for the "
                               "renderer's own).")
    evaluate.add_argument("--head_pitch_sign", type=float, choices=(-1.0, 1.0), default=LABEL_HEAD_PITCH_SIGN,
                          help=f"Times the labels' head pitch before the synthetic eyes are drawn with it (default "
                               f"{LABEL_HEAD_PITCH_SIGN:g}: MPIIGaze as GazeHub writes it has head pitch positive "
                               "downwards, the opposite of its gaze pitch; 1 for labels whose head pitch is positive "
                               "upwards like the gaze).")
    evaluate.add_argument("--pixel_norm", default=DEFAULT_PIXEL_NORM, choices=PIXEL_NORMS,
                          help="What kNN, SVR, RF and ALR make each eye's pixels invariant to, as your own "
                               "estimator does: exposure ('unit', the default and the model card's measure), "
                               "exposure and contrast ('standard': per-eye standardised pixels) or the histogram "
                               "('histeq', MPIIGaze's own preprocessing). The CNN reads the pixels as they are.")
    evaluate.add_argument("--seed", type=int, default=0, help="Seed of the test-eye draw, renders and bootstrap.")
    evaluate.add_argument("--json", default=None, help="Also write the whole result (per-eye errors included) here.")


def _add_purify_arguments(purify: argparse.ArgumentParser) -> None:
    """The options of ``purify-tf purify``."""
    purify.add_argument(
        "--model", default=None,
        help="Trained transformer: a .keras file or a SavedModel directory (latest version is used). "
        "Default: the pretrained purifier shipped with the package.",
    )
    purify.add_argument("--input", required=True, help="Image file, video file, or folder of them.")
    purify.add_argument(
        "--output", required=True,
        help="Output file (for one image or video) or folder (for a folder input, or to keep the name).",
    )
    purify.add_argument(
        "--batch_size", "--batch-size", type=_positive_int, default=None,
        help="Images (or video frames) per forward pass (default: by size, 64 eye crops of 36x60 "
        "down to one 512x512 image).",
    )
    purify.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "bfloat16", "mixed_bfloat16", "mixed_float16"),
        help="Compute precision for a .keras model. auto (default): bfloat16, weights included, on "
        "CPUs with native bf16 (AVX512_BF16, AMX) when it keeps parity with float32, else float32; "
        "mixed_bfloat16 keeps float32 weights (slower: a cast per kernel per call); mixed_float16 "
        "is for GPUs.",
    )
    purify.add_argument(
        "--runtime", default="auto", choices=("auto", "tensorflow", "litert", "openvino"),
        help="What runs a .keras model. auto (default): the runtime measured fastest on this CPU class "
        "among those installed (OpenVINO on AMX CPUs when installed, else TensorFlow; TensorFlow for a "
        "SavedModel, on a GPU or with --jit=on). Or TensorFlow, or its float32 TFLite graph in LiteRT "
        "(XNNPACK, float32) or OpenVINO (pip install 'purify-tf[openvino]'; with --precision=auto it "
        "computes in bfloat16 where the CPU has it natively and parity holds); the closing line says "
        "which runtime ran in which precision; see docs/BENCHMARKS.md.",
    )
    purify.add_argument(
        "--jit", default="auto", choices=("auto", "on", "off"),
        help="XLA compilation of the network (TensorFlow runtime). auto (default): float32 only, "
        "images of 128x128 or more, compiled for a size once it repeats (a compile takes seconds, "
        "then runs faster; docs/BENCHMARKS.md); on: always; off: never.",
    )
    purify.add_argument(
        "--onednn", default="auto", choices=ONEDNN_MODES,
        help="TensorFlow's oneDNN CPU kernels. auto (default): on, unless TF_ENABLE_ONEDNN_OPTS "
        "is set (batches of eye crops run faster on AVX2 CPUs, docs/BENCHMARKS.md; large images go "
        "through XLA, see --jit); off: TF's Eigen kernels.",
    )
    purify.add_argument(
        "--overwrite", action="store_true", help="Replace existing outputs (default: skip them)."
    )
    purify.add_argument(
        "--format", default=None, choices=("png", "jpg", "jpeg", "bmp", "tif", "tiff"),
        help="Image output format (default: the input's format). Videos keep their container.",
    )
    purify.add_argument(
        "--quiet", action="store_true",
        help="No progress (failed files and the summary are still printed).",
    )


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true",
        help="Show TensorFlow's start-up and device logs (hidden by default).",
    )


@contextlib.contextmanager
def _stderr_swallowed() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; replay it if the block raises.

    TensorFlow's native code logs to fd 2 before Python-level settings can apply (CUDA stubs,
    cuInit), so only an fd-level redirect keeps it off the user's terminal.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def start_tensorflow(verbose: bool = False, onednn: str = "auto") -> None:
    """Import TensorFlow and probe devices once, quietly (OpenCV too) unless ``verbose``, with
    oneDNN set first (``purify_tf.inference.onednn``: it cannot change once TensorFlow is loaded)."""
    from absl import logging

    from purify_tf.inference.onednn import request_onednn

    if not request_onednn(onednn) and onednn != "auto":
        logging.warning("--onednn=%s has no effect: TensorFlow was already imported", onednn)

    if verbose:
        import tensorflow as tf

        tf.config.list_physical_devices()
        logging.set_verbosity(logging.INFO)
        return
    for key, value in _QUIET_ENV.items():
        os.environ[key] = value
    with _stderr_swallowed():
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA probing (cuInit) happens here
    tf.get_logger().setLevel("ERROR")
    logging.set_verbosity(logging.WARNING)
    import cv2

    # Errors only: OPENCV_LOG_LEVEL is read once, when OpenCV is first imported.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _error(message: str) -> None:
    print(f"purify-tf: error: {message}", file=sys.stderr)


def _model_path(model: str | None) -> Path:
    """The --model path, or the verified pretrained purifier (PretrainedModelError if unusable)."""
    if model is not None:
        return Path(model)
    from purify_tf.pretrained import verified_path

    return verified_path()


def _check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    src = Path(args.input)
    if args.model is not None:
        model = Path(args.model)
        if not model.exists():
            parser.error(f"--model: {model} does not exist")
        if model.is_file() and model.suffix != ".keras":
            parser.error(f"--model: {model} is not a .keras file or a SavedModel directory")
    if not src.exists():
        parser.error(f"--input: {src} does not exist")
    if not os.access(src, os.R_OK):
        parser.error(f"--input: {src} is not readable")


def purify_command(args: argparse.Namespace) -> int:
    from purify_tf.errors import ConfigError

    try:
        model = _model_path(args.model)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    start_tensorflow(args.verbose, args.onednn)
    from purify_tf.inference.files import purify_path
    from purify_tf.inference.purifier import Purifier
    from purify_tf.progress import Reporter

    reporter = Reporter(progress=not args.quiet)
    try:
        if args.model is None:  # a damaged archive is reported as the pretrained model's damage
            from purify_tf.pretrained import load_pretrained

            model = load_pretrained()
        purifier = Purifier(
            model, batch_size=args.batch_size, precision=args.precision, runtime=args.runtime, jit=args.jit
        )
        started = time.perf_counter()
        summary = purify_path(
            purifier, args.input, args.output, overwrite=args.overwrite, fmt=args.format,
            batch_size=args.batch_size, reporter=reporter,
        )
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _error(str(exc))
        return EXIT_FAILED
    finally:
        reporter.close()
    seconds = time.perf_counter() - started
    rate = summary.images / max(seconds, 1e-9)
    print(f"purify-tf: {summary.line()}; {summary.images} images in {seconds:.1f} s "
          f"({rate:.1f} images/s, {purifier.runtime} in {purifier.precision}); outputs in {args.output}")
    return EXIT_FAILED if summary.failed else EXIT_OK


def info_command(args: argparse.Namespace) -> int:
    from purify_tf.model_io import describe_model, format_description
    from purify_tf.pretrained import is_installed, pretrained_path

    if args.model is None and not is_installed():
        _error(f"the pretrained purifier is not installed (expected {pretrained_path()}); "
               "create it with `make pretrained` or pass --model=PATH")
        return EXIT_FAILED
    path = Path(args.model) if args.model is not None else pretrained_path()
    if not path.exists():
        _error(f"--model: {path} does not exist")
        return EXIT_USAGE
    start_tensorflow(args.verbose)
    facts = describe_model(path, pretrained=args.model is None)
    print(json.dumps(facts, indent=2, sort_keys=True, default=str) if args.json else format_description(facts))
    return EXIT_OK if facts.get("usable") else EXIT_FAILED


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None


def evaluate_command(args: argparse.Namespace) -> int:
    from purify_tf.errors import ConfigError, DataError

    estimators = _names(args.estimators) or ()
    unknown = [e for e in estimators if e not in ("cnn", "knn", "svr", "rf", "alr")]
    if unknown or not estimators:
        _error(f"--estimators: expected some of cnn, knn, svr, rf, alr, got {args.estimators!r}")
        return EXIT_USAGE
    for model in args.model or ():
        if not Path(model).is_file():
            _error(f"--model: {model} is not a .keras file")
            return EXIT_USAGE
    start_tensorflow(args.verbose)
    from purify_tf.experiments.real_gaze import (
        OFFSET_HEADING,
        evaluate_labelled,
        offset_markdown,
        real_gaze_markdown,
        summary_line,
    )
    from purify_tf.model_io import load_keras_model

    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"purify-tf evaluate [{time.perf_counter() - started:5.0f} s]: {line}", file=sys.stderr, flush=True)

    try:
        if args.model:
            stems = [Path(m).stem for m in args.model]  # a row per file: its stem, or its path where stems repeat
            purifiers = {(s if stems.count(s) == 1 else m): load_keras_model(m) for s, m in zip(stems, args.model,
                                                                                               strict=True)}
        else:
            from purify_tf.pretrained import load_pretrained

            purifiers = {"pretrained purifier": load_pretrained()}
        result = evaluate_labelled(
            args.labels, purifiers, estimators=estimators, cnn_epochs=args.cnn_epochs, progress=progress,
            train_subjects=_names(args.train_subjects), eval_subjects=_names(args.eval_subjects),
            test_set=args.test_set, test_per_subject=args.per_subject, n_synthetic=args.synthetic_n, seed=args.seed,
            synthetic_draws=args.synthetic_draws, synthetic_eye_scale=args.synthetic_eye_scale,
            head_pitch_sign=args.head_pitch_sign, pixel_norm=args.pixel_norm)
    except (ConfigError, DataError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    print(result["split"])
    print(real_gaze_markdown(result))
    print(f"\n{OFFSET_HEADING}:\n{offset_markdown(result)}\n")
    if args.json:
        from purify_tf.atomic import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(result, indent=1, default=str).encode())
    for name in purifiers:
        print(f"purify-tf: {summary_line(result, name)}; {time.perf_counter() - started:.0f} s")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "purify":
        _check_paths(parser, args)
        return purify_command(args)
    if args.command == "info":
        return info_command(args)
    if args.command == "evaluate":
        return evaluate_command(args)
    if args.command == "centre":
        return centre_command(args)
    if args.command == "symmetric":
        return symmetric_command(args)
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
