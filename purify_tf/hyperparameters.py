"""The defaults of the purifier's training hyperparameters, each defined once.

Why a module of its own: the config dataclasses (``LossWeights``, ``PurifyTrainConfig``, the
report's ``TrainSettings``) and the entry points' flags must agree, and flags are parsed before
TensorFlow is imported, so the values live here, free of TensorFlow. Three sets exist because
three things differ: ``PAPER``, the paper's section 4.1 (256x256, 50k steps, its alpha/beta/theta),
which the library's dataclasses ``LossWeights`` and ``PurifyTrainConfig`` default to;
``PURIFY`` with ``SHIPPED``, ``trainers.purify``'s flag defaults, the configuration that ships
(configs/pretrained.flags: a run with no flagfile trains it; configs/paper.flags states the paper's
values); and ``REPORT``, ``trainers.report``'s CPU-sized ablation with balanced weights, whose
alpha/beta/theta are ratios of relative errors (docs/DESIGN.md).
"""

from __future__ import annotations

import dataclasses

LAYER_WEIGHTINGS = ("unit", "balanced")  # see losses.objective.balanced_layer_weights
LR_SCHEDULES = ("constant", "cosine")
PAIRED_TARGETS = ("twin", "structure")  # the paired term's target (purify_tf.losses.paired)
GAZE_READERS = ("cnn", "cnn+svr")  # the gaze-consistency term's readers (training.gaze_reader.load_gaze_readers)
GAMMA = 0.0  # the luminance term: off (not in the paper)
LAMBDA_G = 1.0  # global terms (paper Eq. 18-19)
LAMBDA_L = 1.0  # local (masked) terms
USE_MASKS = True  # the paper's semantic objective; False: Johnson et al.'s perceptual loss
# The coarse FCN's batch: trainers.purify and the report train it at this size (no flag),
# SegmentTrainConfig and load_or_train_fcn default to it, trainers.segment's --fcn_batch_size too.
FCN_BATCH_SIZE = 16


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    """Default image size, optimiser, objective weights and style set of one training job."""

    height: int
    width: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    steps: int
    alpha: float
    beta: float
    theta: float
    layer_weighting: str
    style_set_size: int = 64
    style_seed: int = 7


# PurifyTrainConfig and LossWeights: the paper's section 4.1 values (but balanced layer weights, the
# library's default; configs/paper.flags sets the paper's unit weights).
PAPER = TrainingDefaults(height=256, width=256, batch_size=4, learning_rate=1e-4, lr_schedule="constant",
                         steps=50_000, alpha=1e2, beta=1e4, theta=1e-6, layer_weighting="balanced")
# trainers.purify's flags: the shipped purifier's training (configs/pretrained.flags). 40x64: the
# multiple of 8 nearest real MPIIGaze eyes (36x60); 1.17x (AVX2) to 1.4x (AMX) faster than 48x72 and
# as good on real eyes (docs/BENCHMARKS.md, "Training at the eye's size").
PURIFY = TrainingDefaults(height=40, width=64, batch_size=4, learning_rate=1e-3, lr_schedule="cosine",
                          steps=1500, alpha=10.0, beta=1.0, theta=0.1, layer_weighting="balanced")
# trainers.report and TrainSettings: configs/report.flags' CPU-sized ablation.
REPORT = TrainingDefaults(height=40, width=64, batch_size=4, learning_rate=1e-3, lr_schedule="cosine",
                          steps=300, alpha=10.0, beta=1.0, theta=0.1, layer_weighting="balanced")


@dataclasses.dataclass(frozen=True)
class DomainDefaults:
    """The terms beyond the perceptual objective (purify_tf.losses.objective, training.critic): a local adversarial
    critic, the identity term on synthetic eyes and the paired term on renderer twins. All are off
    by default, which keeps the perceptual objective's training exactly as it was."""

    adversarial: float = 0.0  # weight of the LSGAN generator term
    identity: float = 0.0  # weight of L1(f(x_syn), x_syn)
    paired: float = 0.0  # weight of L1 + VGG content of f(real render) against its synthetic twin
    paired_target: str = "twin"  # the exact twin, or "structure": the twin at the front end's colour moments
    gaze: float = 0.0  # weight of the gaze-consistency term (a frozen synthetic-trained gaze CNN on f(x) vs the twin)
    pupil: float = 0.0  # weight of the pupil-shift term (the FCN's soft pupil centre on f(x) vs x, beyond a dead zone)
    pupil_contrast: float = 0.0  # weight of the pupil-contrast term (the FCN pupil's Weber contrast on f(x) >= on x)
    patch_nce: float = 0.0  # weight of PatchNCE (CUT): each output patch matched to its own content patch
    critic_learning_rate: float = 2e-4  # Adam, beta_1 = 0.5 (the LSGAN / DCGAN setting)
    critic_filters: int = 32  # channels of the critic's first conv (doubled once)
    critic_layers: int = 4  # 3x3 convs before the 1x1 score map: a receptive field of 23 px
    history_size: int = 256  # SimGAN's buffer of earlier purified eyes (0: critic sees only the current batch)


DOMAIN = DomainDefaults()


# The eye's size in real MPIIGaze crops, times the renderer's: the synthetic eyes of the real-eye gaze
# table and the shipped purifier's content renders are drawn at it. At 0.87 every raw synthetic-trained
# estimator reads real eyes better than at 1.0 on three test-eye draws, and purifiers trained on such
# renders do better on real eyes (docs/DESIGN.md, "Which synthetic eyes the estimators learn from").
REAL_CROP_EYE_SCALE = 0.87
# The sign that turns a labels.csv head pitch into the renderer's convention (positive = up, like the
# gaze pitch). For MPIIGaze as GazeHub writes it (the shared set) that is -1: its mean head pitch is
# +12 deg against a mean gaze pitch of -9 deg (people below a laptop camera look, and mostly face, down),
# its per-subject correlation with the gaze pitch is negative for 9 of 10 subjects where yaw's is
# positive, and read as written the synthetic pupils sat about 6 px lower in the crop than real ones
# (3 px flipped). Flipped, every raw estimator reads the training subjects' eyes 0.25-0.7 degree better
# (docs/DESIGN.md, "The head pitch of the labels").
LABEL_HEAD_PITCH_SIGN = -1.0

# The illumination front end's tone steps (models.illumination): the log-luminance contrast and mean
# luminance moved to the synthetic set's, or each channel's mean and std set to the synthetic set's.
ILLUMINATION_TONES = ("log_contrast", "linear")
# What the front end's smooth gain pulls each eye's coarse log-luminance map towards (models.illumination):
# the synthetic set's mean map, or the mean map of the eyes being purified (the content domain's).
ILLUMINATION_CENTRES = ("synthetic", "content")


@dataclasses.dataclass(frozen=True)
class ShippedDefaults:
    """trainers.purify's defaults beyond ``PURIFY``: the rest of the shipped configuration
    (configs/base.flags and configs/paired.flags; docs/DESIGN.md says why each part is there)."""

    config: str = "reflect"  # f_W: the paper's layers, each convolution reflection-padded (models.transformer)
    upsample: str = "deconv"  # f_W's upsampling: the paper's transposed convolutions
    illumination: bool = True  # the illumination-normalising front end
    # Its tone step (ILLUMINATION_TONES): log-luminance contrast and exposure. "linear" lowers SVR's real
    # error below raw but its purifiers move the pupil on real eyes (docs/DESIGN.md, "The front end's tone step").
    illumination_tone: str = "log_contrast"
    # What its gain pulls towards (ILLUMINATION_CENTRES): the synthetic set's mean coarse map (docs/DESIGN.md).
    illumination_centre: str = "synthetic"
    residual: bool = True  # identity-initialised residual output
    paired: float = 10.0  # the paired term on the renderer's twins
    gaze: float = 3.0  # gaze consistency on the same twins (a frozen synthetic-trained gaze CNN; docs/DESIGN.md)
    gaze_readers: str = "cnn"  # who reads for the gaze term: the small CNN alone (docs/DESIGN.md, "A kernel reader")
    pupil: float = 0.0  # the pupil-shift term with its dead zone (docs/DESIGN.md, "Pupil shift")
    pupil_contrast: float = 0.0  # the pupil kept as dark against its surround (docs/DESIGN.md, "Pupil contrast")
    patch_nce: float = 0.0  # PatchNCE beside or in place of the content term (docs/DESIGN.md, "PatchNCE")
    # The objective reads VGG blocks 1-3 only: style Grams of blocks 1-3 (the paper's reach block 5: 2x4
    # maps at 40x64) and the local content at block3_conv3 (the paper's block4_conv2), so block 4 leaves the step.
    style_blocks: int = 3
    local_content_layers: tuple[str, ...] = ("block3_conv3",)
    style: str = "renderer"  # --style: mean Grams of the renderer's synthetic eyes
    content_eye_scale: float = REAL_CROP_EYE_SCALE  # --content_eye_scale: content renders with real crops' eye size
    fcn_steps: int = 300  # the coarse FCN trained first
    log_every: int = 10
    checkpoint_every: int = 250


SHIPPED = ShippedDefaults()
# What the classical gaze estimators make each eye's pixels invariant to before their unit-norm
# scaling (purify_tf.gaze.estimators): exposure ("unit", the model card's measure), exposure and
# contrast ("standard"), or the histogram ("histeq", MPIIGaze's own preprocessing).
PIXEL_NORMS = ("unit", "standard", "histeq")
DEFAULT_PIXEL_NORM = "unit"
