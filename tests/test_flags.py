"""Bad flags and configs stop the trainer before any work starts, with a message naming the flag.

Each case runs ``python -m trainers.purify`` in a subprocess, as a user would. Flag errors are
caught while parsing (before TensorFlow is even imported), so they must fail within seconds,
create no model directory and write no checkpoint. A weights file with the wrong layers can only
be found by loading it, which the trainer does before creating anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from purify_tf.hyperparameters import SHIPPED

REPO = Path(__file__).resolve().parents[1]
# Parsing fails before TensorFlow is imported; generous for a loaded shared machine.
PARSE_SECONDS = 15.0

pytestmark = pytest.mark.timeout(120)


def run_trainer(*args: str, cwd: Path, module: str = "trainers.purify") -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PURIFY_OFFLINE="1")
    env.pop("PURIFY_VGG_WEIGHTS", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, capture_output=True, text=True, timeout=110, env=env,
    )
    return proc, time.monotonic() - start


def assert_nothing_written(model_dir: Path) -> None:
    if model_dir.is_file():
        return  # the "model_dir is a file" case: the file itself must be untouched (checked there)
    assert not model_dir.exists(), f"{model_dir} was created by a rejected command"


# (flags, words that must all appear in the error: the flag and what it allows)
CASES = {
    "unknown flag": (["--bogus_flag=1"], ["bogus_flag", "Unknown command line flag"]),
    "misspelt flag": (["--batchsize=4"], ["batchsize", "Unknown command line flag"]),
    "wrong type int": (["--batch_size=four"], ["--batch_size", "int"]),
    "wrong type float": (["--learning_rate=fast"], ["--learning_rate", "float"]),
    "wrong type bool": (["--illumination=maybe"], ["--illumination", "boolean"]),
    "negative learning rate": (["--learning_rate=-1e-4"], ["--learning_rate", "> 0"]),
    "zero learning rate": (["--learning_rate=0"], ["--learning_rate", "> 0"]),
    "batch 0": (["--batch_size=0"], ["--batch_size", "positive integer"]),
    "height not a multiple of 8": (["--height=30"], ["--height", "multiple of 8"]),
    "height negative": (["--height=-64"], ["--height", "positive integer"]),
    "height not an integer": (["--height=64.5"], ["--height", "int"]),
    "width zero": (["--width=0"], ["--width", "positive integer"]),
    "train_steps zero": (["--train_steps=0"], ["--train_steps", "positive integer"]),
    "negative beta": (["--beta=-1"], ["--beta", ">= 0"]),
    "enum out of range": (["--loss_network=vgg11"], ["--loss_network", "auto|vgg19|vgg16"]),
    "bad masks": (["--masks=magic"], ["--masks", "fcn|oracle|none"]),
    "bad layer weighting": (["--layer_weighting=equal"], ["--layer_weighting", "unit|balanced"]),
    "retired --adversarial (a report variant)": (["--adversarial=1"], ["adversarial", "Unknown command line flag"]),
    "retired --loss": (["--loss=plain"], ["loss", "Unknown command line flag"]),
    "retired --style_mode": (["--style_mode=per_batch"], ["style_mode", "Unknown command line flag"]),
    "retired --style_image (now --style)": (["--style_image=eye.png"], ["style_image", "Unknown command line flag"]),
    "retired --dropout_rate (a report variant)": (["--dropout_rate=0.5"], ["dropout_rate", "Unknown command line flag"]),
    "retired --use_masks (now --masks=none)": (["--nouse_masks"], ["nouse_masks", "Unknown command line flag"]),
    "retired --style_source (now --style)": (["--style_source=folder"], ["style_source", "Unknown command line flag"]),
    "retired --progress (a bar on a terminal)": (["--noprogress"], ["noprogress", "Unknown command line flag"]),
    "retired --fcn_batch_size (FCN_BATCH_SIZE)": (["--fcn_batch_size=4"], ["fcn_batch_size", "Unknown command line flag"]),
    "--style path missing": (["--style=no/such/folder"], ["--style", "renderer", "render", "image file", "folder"]),
    "--style empty": (["--style="], ["--style", "renderer", "render", "image file", "folder"]),
    "--masks=oracle with a style folder": (["--masks=oracle", "--style=."], ["--masks=oracle", "--style=renderer"]),
    "--init_model file missing": (["--init_model=no/such/purifier.keras"], ["--init_model", "pretrained", ".keras"]),
    "missing flagfile": (["--flagfile=does_not_exist.flags"], ["flagfile", "does_not_exist.flags"]),
    "missing vgg_weights file": (
        ["--vgg_weights=no/such/vgg.weights.h5"], ["--vgg_weights", "auto", "imagenet", "random"]
    ),
    "content_dir missing": (
        ["--content=folder", "--content_dir=no/such/folder"], ["--content_dir", "existing"]
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_flag_is_rejected_before_any_work(tmp_path, name):
    args, words = CASES[name]
    model_dir = tmp_path / "run"
    proc, seconds = run_trainer(f"--model_dir={model_dir}", *args, cwd=tmp_path)
    assert proc.returncode != 0, proc.stdout
    for word in words:
        assert word in proc.stderr, (word, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert seconds < PARSE_SECONDS, f"rejection took {seconds:.1f}s: work started before validation?"
    assert_nothing_written(model_dir)
    assert not list(tmp_path.rglob("checkpoint"))


# The other trainers: no --progress either (a bar on a terminal); trainers.segment alone sets the FCN's batch.
OTHER_TRAINERS = {
    "segment --noprogress": ("trainers.segment", ["--noprogress"], ["noprogress", "Unknown command line flag"]),
    "segment --progress": ("trainers.segment", ["--progress"], ["progress", "Unknown command line flag"]),
    "segment keeps --fcn_batch_size": ("trainers.segment", ["--fcn_batch_size=0"],
                                       ["--fcn_batch_size", "positive integer"]),
    "report --noprogress": ("trainers.report", ["--noprogress"], ["noprogress", "Unknown command line flag"]),
    "report --fcn_batch_size": ("trainers.report", ["--fcn_batch_size=16"],
                                ["fcn_batch_size", "Unknown command line flag"]),
}


@pytest.mark.parametrize("name", list(OTHER_TRAINERS))
def test_other_trainers_flags(tmp_path, name):
    module, args, words = OTHER_TRAINERS[name]
    proc, seconds = run_trainer(*args, cwd=tmp_path, module=module)
    assert proc.returncode != 0, proc.stdout
    for word in words:
        assert word in proc.stderr, (word, proc.stderr[-2000:])
    assert seconds < PARSE_SECONDS
    assert not any(tmp_path.iterdir())


# trainers.purify's main() in process with the heavy parts stubbed (runtime, loss network, FCN,
# PurifyTrainer): for each argument list, what reaches the trainer. The style set is built for real.
WIRING = """
import json, sys, types
from absl import flags
import trainers.purify as entry
from trainers import common
import purify_tf.training.purify_loop as loop

FLAGS = flags.FLAGS
seen = {}
common.setup_runtime = lambda: types.SimpleNamespace(strategy=None, chief=False, policy="float32")
common.loss_network_from_flags = lambda: types.SimpleNamespace(info={})

def fcn_from_flags(model_dir, strategy):
    seen["fcn"] = True
    return "fcn"

common.fcn_from_flags = fcn_from_flags
import purify_tf.training.gaze_reader as gaze_reader

def load_or_train_gaze_reader(model_dir, height, width, seed):
    seen["gaze_reader"] = True
    return "reader"

gaze_reader.load_or_train_gaze_reader = load_or_train_gaze_reader
gaze_reader.load_or_fit_kernel_reader = lambda model_dir, height, width, seed: "kernel"

class Trainer:
    def __init__(self, cfg, strategy, loss_network, source, style_images, style_masks, mask_fn=None, **kw):
        seen.update(use_masks=cfg.use_masks, style_masks=style_masks is not None, mask_fn=mask_fn is not None,
                    style_images=len(style_images), style=cfg.provenance["style"], progress=cfg.progress,
                    recorded_masks=cfg.provenance["content"]["masks"], gaze=cfg.gaze,
                    reader_passed=kw.get("gaze_reader") == "reader", pupil=cfg.pupil,
                    readers=getattr(kw.get("gaze_reader"), "readers", None), patch_nce=cfg.patch_nce, alpha=cfg.weights.alpha,
                    global_style=list(cfg.weights.layers["global_style"]), local_style=list(cfg.weights.layers["local_style"]),
                    local_content=list(cfg.weights.layers["local_content"]), upsample=cfg.upsample,
                    fcn_passed=kw.get("pupil_network") == "fcn", eye_scale=getattr(source, "eye_scale", None),
                    pupil_contrast=cfg.pupil_contrast, pair_eye_scale=cfg.pair_eye_scale)
        self.step = types.SimpleNamespace(numpy=lambda: cfg.train_steps)

    def train(self):
        return []

loop.PurifyTrainer = Trainer
for line in sys.argv[1:]:
    FLAGS.unparse_flags()
    FLAGS(["prog", "--height=32", "--width=48", "--style_set_size=3", *json.loads(line)])
    seen.clear()
    seen["fcn"] = seen["gaze_reader"] = False
    seen["rc"] = entry.main([])
    print("WIRING " + json.dumps(seen))
"""


@pytest.mark.slow
def test_merged_flags_reach_the_trainer(tmp_path):
    """--masks=none: the plain perceptual loss (use_masks False) and no FCN trained or loaded; --style:
    the renderer's set, one render, an image file or a folder of synthetic eyes."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "synthetic"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (35, 55, 3), dtype=np.uint8)).save(folder / f"eye{i}.png")
    image = folder / "eye0.png"
    cases = {
        "default": [],
        "masks none": ["--masks=none", "--style=render"],  # configs/johnson.flags
        "masks oracle": ["--masks=oracle"],
        "style render": ["--style=render"],
        "style file": [f"--style={image}"],
        "style folder": [f"--style={folder}"],
        "no paired term": ["--paired=0"],  # the gaze term reads the paired term's twins: off with it
        "pupil term": ["--pupil=5"],
        "PatchNCE in place of the content term": ["--patch_nce=2", "--alpha=0"],
        "two gaze readers": ["--gaze_readers=cnn+svr"],
        "paper's style taps": ["--style_blocks=5"],
        "VGG blocks 1-3": ["--style_blocks=3", "--local_content_layers=block3_conv3"],
        "resize-convolution": ["--upsample=resize"],
        "smaller content eyes": ["--content_eye_scale=0.8"],
        "pupil contrast": ["--pupil_contrast=5"],
        "folder content, renderer pairs": ["--content=folder", f"--content_dir={folder}", "--content_eye_scale=0.8"],
    }
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO), PURIFY_OFFLINE="1",
               CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", WIRING, *(json.dumps(a) for a in cases.values())], cwd=tmp_path,
                          capture_output=True, text=True, timeout=110, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("WIRING ")]
    assert len(runs) == len(cases), proc.stdout[-3000:]
    got = dict(zip(cases, runs, strict=True))
    assert all(run["rc"] == 0 and run["progress"] for run in got.values())
    default, none, oracle = got["default"], got["masks none"], got["masks oracle"]
    assert default["use_masks"] and default["fcn"] and default["mask_fn"] and not default["style_masks"]
    assert default["style"].startswith("renderer synthetic domain (3 eyes") and default["style_images"] == 3
    assert not none["use_masks"] and not none["fcn"] and not none["mask_fn"] and not none["style_masks"]
    assert none["recorded_masks"] == "none" and none["style"] == "one style image: synthetic render of seed 7"
    assert oracle["use_masks"] and not oracle["fcn"] and oracle["style_masks"] and not oracle["mask_fn"]
    assert got["style render"]["style"] == "one style image: synthetic render of seed 7"
    assert got["style file"]["style"] == f"one style image: image {image}" and got["style file"]["style_images"] == 1
    assert got["style folder"]["style"] == f"folder {folder} (3 images)" and got["style folder"]["style_images"] == 3
    assert got["style folder"]["fcn"]  # an image or folder style set has no masks: the FCN labels it
    # The shipped gaze-consistency term: its frozen reader is fitted (or loaded) and handed to the trainer.
    assert default["gaze"] > 0 and default["gaze_reader"] and default["reader_passed"]
    off = got["no paired term"]
    assert off["gaze"] == 0 and not off["gaze_reader"] and not off["reader_passed"]
    # The pupil-shift term reads the FCN the masks come from; off by default, and then no FCN is handed over for it.
    assert got["pupil term"]["pupil"] == 5 and got["pupil term"]["fcn_passed"]
    assert default["pupil"] == 0 and not default["fcn_passed"]
    assert got["two gaze readers"]["readers"] == ["reader", "kernel"] and default["readers"] is None
    nce = got["PatchNCE in place of the content term"]
    assert nce["patch_nce"] == 2 and nce["alpha"] == 0 and default["patch_nce"] == 0
    # The shipped style taps stop at VGG block 3; --style_blocks=5 is the paper's.
    assert default["global_style"][-1] == "block3_conv3" and default["local_style"][-1] == "block3_conv1"
    # --content_eye_scale reaches the renderer's content pairs (by default the shipped 0.87: real crops' eye size).
    assert got["smaller content eyes"]["eye_scale"] == 0.8 and default["eye_scale"] == 0.87
    # Beside a dataset's content (no twins) the paired term's renderer pairs are drawn at --content_eye_scale.
    assert got["folder content, renderer pairs"]["pair_eye_scale"] == 0.8 and default["pair_eye_scale"] == 0.87
    assert got["pupil contrast"]["pupil_contrast"] == 5 and default["pupil_contrast"] == 0
    paper = got["paper's style taps"]
    assert paper["global_style"][-1] == "block5_conv3" and paper["local_style"][-1] == "block5_conv1"
    three = got["VGG blocks 1-3"]
    assert three["global_style"][-1] == "block3_conv3" and three["local_content"] == ["block3_conv3"]
    assert default["local_content"] == list(SHIPPED.local_content_layers)
    assert got["resize-convolution"]["upsample"] == "resize" and default["upsample"] == SHIPPED.upsample


def test_pupil_term_needs_the_fcn(tmp_path):
    proc, seconds = run_trainer("--pupil=5", "--masks=oracle", f"--model_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode != 0 and "--pupil > 0" in proc.stderr and "--masks=fcn" in proc.stderr
    assert seconds < PARSE_SECONDS


def test_pupil_contrast_term_needs_masks(tmp_path):
    proc, seconds = run_trainer("--pupil_contrast=5", "--masks=none", f"--model_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode != 0 and "--pupil_contrast > 0" in proc.stderr and "--masks=fcn or oracle" in proc.stderr
    assert seconds < PARSE_SECONDS
    assert_nothing_written(tmp_path / "run")


@pytest.mark.slow
def test_local_content_layers_must_be_loss_network_taps(tmp_path):
    """A malformed name fails at parsing; a VGG layer the loss network does not tap fails before anything is
    written, both naming the flag."""
    proc, seconds = run_trainer("--local_content_layers=conv9", f"--model_dir={tmp_path / 'a'}", cwd=tmp_path)
    assert proc.returncode != 0 and "--local_content_layers" in proc.stderr and "blockK_convJ" in proc.stderr
    assert seconds < PARSE_SECONDS
    proc, _ = run_trainer("--local_content_layers=block5_conv2", f"--model_dir={tmp_path / 'b'}", cwd=tmp_path)
    assert proc.returncode == 2 and "--local_content_layers=block5_conv2" in proc.stderr
    assert "not among the loss network's taps" in proc.stderr and "Traceback" not in proc.stderr
    assert_nothing_written(tmp_path / "b")


def test_model_dir_that_is_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    proc, seconds = run_trainer(f"--model_dir={target}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "--model_dir" in proc.stderr and "not an existing file" in proc.stderr
    assert seconds < PARSE_SECONDS
    assert target.read_text() == "keep me"


def test_flagfile_values_are_validated_too(tmp_path):
    flagfile = tmp_path / "bad.flags"
    flagfile.write_text("--height=64\n--batch_size=-2\n")
    proc, seconds = run_trainer(f"--flagfile={flagfile}", f"--model_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode != 0 and "--batch_size" in proc.stderr and "positive integer" in proc.stderr
    assert seconds < PARSE_SECONDS
    assert_nothing_written(tmp_path / "run")


@pytest.mark.slow
def test_weights_file_with_wrong_layers_names_vgg_weights(tmp_path):
    """Only loading finds this: the trainer must do it before creating or training anything."""
    import keras

    tiny = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="block1_conv1"), keras.layers.Dense(2)]
    )
    weights = tmp_path / "tiny.weights.h5"
    tiny.save_weights(str(weights))
    model_dir = tmp_path / "run"
    proc, seconds = run_trainer(
        f"--model_dir={model_dir}", f"--vgg_weights={weights}", "--masks=fcn", cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--vgg_weights=" in proc.stderr and "tiny.weights.h5" in proc.stderr
    assert "VGG16 (13 conv layers) or VGG19 (16 conv layers)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert seconds < 90
    assert_nothing_written(model_dir)


def test_weights_file_that_is_not_hdf5_is_a_config_error(tmp_path):
    from purify_tf.errors import ConfigError
    from purify_tf.losses.layers import LOSS_LAYERS
    from purify_tf.models.vgg import build_loss_network

    text = tmp_path / "vgg.weights.h5"
    text.write_text("not HDF5")
    with pytest.raises(ConfigError, match=r"vgg\.weights\.h5.*not a readable Keras HDF5"):
        build_loss_network("auto", str(text), layers=LOSS_LAYERS)


MAX_PURIFY_FLAGS = 47  # --init_model (fine-tuning from a trained purifier, e.g. the shipped one on your own eyes) since 2026-12-05 (latest); --illumination_centre (the front end centred on the content eyes' mean map) since 2026-12-05 (later); --pupil_contrast (the pupil kept as dark on real content eyes) since 2026-12-05; --illumination_tone (the front end's linear tone step, an ablation) since 2026-12-04 (night); --upsample (resize-convolution against the checkerboard) since 2026-12-04 (evening); --local_content_layers (with --style_blocks=3, VGG block 4 leaves the step) since 2026-12-04 (evening); --content_eye_scale (the renderer content eyes at the size real crops show) since 2026-12-04 (latest); --patch_nce (CUT's contrastive term) and --gaze_readers (a kernel reader beside the CNN), ablation rows, since 2026-12-04 (later); --style_blocks (the shipped style taps stop at block 4), --pupil (the pupil-shift term, an ablation row) and --gaze (the shipped gaze-consistency term) since 2026-12-04; issue 29 item 3: --masks=none was --nouse_masks, --style took in --style_source,
# the progress bar follows the terminal (no --progress), the FCN's batch is FCN_BATCH_SIZE


def test_purify_defines_few_flags():
    """trainers.purify's own flags (absl's --flagfile, --helpfull, ... not counted) stay few."""
    code = ("from absl import flags; import trainers.purify; "
            "print(len([n for n in flags.FLAGS if not flags.FLAGS.find_module_defining_flag(n, '').startswith('absl')]))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=110, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) <= MAX_PURIFY_FLAGS


# The flags' defaults: trainers.purify's are the shipped configuration (a run with no flagfile trains
# what configs/pretrained.flags trains, in another folder); trainers.report's are its config dataclass's
# (one definition each, purify_tf.hyperparameters).
DEFAULTS = {
    "trainers.purify": """
import dataclasses
from absl import flags
import trainers.purify as entry
FLAGS = flags.FLAGS

def parse(*args):
    FLAGS.unparse_flags()
    FLAGS(["prog", *args])
    cfg = dataclasses.asdict(entry.train_config_from_flags("m"))
    del cfg["provenance"]
    return {name: FLAGS[name].value for name in FLAGS}, cfg

default_flags, default_cfg = parse()
shipped_flags, shipped_cfg = parse("--flagfile=configs/pretrained.flags")
print([n for n in default_flags if n not in ("model_dir", "flagfile") and default_flags[n] != shipped_flags[n]]
      + [f for f in default_cfg if default_cfg[f] != shipped_cfg[f]])
""",
    "trainers.report": """
import dataclasses
from absl import flags
import trainers.report as entry
flags.FLAGS(["prog"])
from purify_tf.experiments.pipeline import ReportConfig
got, want = entry.config_from_flags().train, ReportConfig(out_dir="x").train
skip = {"eval_every", "progress"}  # the report's own choices for its runs
print([f.name for f in dataclasses.fields(want) if f.name not in skip and getattr(got, f.name) != getattr(want, f.name)])
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(DEFAULTS))
def test_flag_defaults_are_the_config_defaults(module):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", DEFAULTS[module]], cwd=REPO, capture_output=True, text=True,
                          timeout=110, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", f"{module}: flag defaults differ in {proc.stdout}"
