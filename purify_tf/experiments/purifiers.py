"""The purifiers the report trains: the paper-faithful one, each change on its own, and the best.

Every variant is the paper's transformer trained on real-domain renders with the masked
objective; a variant changes only what its row of the ablation table says (style source and
mode, luminance term, illumination front end). The same step budget, learning rate, seed and
FCN are used for all, so that the gaze gap shares are comparable.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from purify_tf.errors import ConfigError
from purify_tf.hyperparameters import REPORT, SHIPPED
from purify_tf.losses.layers import LOCAL_CONTENT_LAYERS, STYLE_BLOCKS, style_layers
from purify_tf.losses.objective import DomainWeights, LossWeights
from purify_tf.models.illumination import DEFAULT_TONE
from purify_tf.training.inputs import ArraySource, renderer_content
from purify_tf.training.style_source import load_style_set


@dataclasses.dataclass(frozen=True)
class Variant:
    """One purifier of the ablation: what differs from the paper-faithful configuration."""

    name: str
    label: str
    style_source: str = "image"  # image | renderer (see training.style_source)
    style_mode: str = "mean"
    illumination: bool = False
    illumination_tone: str = DEFAULT_TONE  # the front end's tone step (models.illumination)
    gamma: float = 0.0
    residual: bool = True
    config: str = SHIPPED.config  # f_W's layout: the product's, unless the row is the paper's or Johnson's
    use_masks: bool = True
    adversarial: float = 0.0  # weight of the patch critic's term
    identity: float = 0.0  # weight of the identity term (a synthetic eye should pass unchanged)
    paired: float = 0.0  # weight of the paired term (a real-domain render -> its synthetic twin)
    perceptual: bool = True  # False: the masked content and style terms off (alpha = beta = 0), TV kept
    raw_beside: bool = False  # f_W reads the raw eye beside the front end's output
    paired_target: str = "twin"  # the paired term's target (losses.paired): "twin" | "structure"
    content: str = "renderer"  # content eyes: real-domain renders, or "real": the training subjects' real eyes
    gaze: float = 0.0  # weight of the gaze-consistency term (a frozen synthetic-trained gaze CNN; needs paired)
    style_blocks: int = STYLE_BLOCKS  # VGG blocks of the style taps (losses.layers.style_layers): the paper's 5
    local_content_layers: tuple[str, ...] = LOCAL_CONTENT_LAYERS  # the local content taps: the paper's
    content_eye_scale: float = 1.0  # renderer content drawn at this eye size (the shipped: real crops' 0.87)


PAPER = Variant("paper", "paper-faithful: one style image, absolute output", residual=False, config="paper")
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    PAPER,
    Variant("johnson", "Johnson et al.: plain loss, one style image", config="johnson", use_masks=False,
            residual=False),
    # From here on the rows use the shipped f_W layout (each convolution reflection-padded).
    Variant("residual", "+ residual output (identity at start), f_W at the eye's size"),
    Variant("style_set", "+ residual + style set (mean Grams of synthetic eyes)", style_source="renderer"),
    Variant("style_per_batch", "+ residual + style set (a new synthetic eye per content eye)",
            style_source="renderer", style_mode="per_batch"),
    Variant("luminance_loss", "+ residual + style set + luminance term", style_source="renderer", gamma=1.0),
    Variant("front_end", "+ residual + style set + illumination front end", style_source="renderer",
            illumination=True),
    Variant("front_end_luminance", "+ residual + style set + front end + luminance term",
            style_source="renderer", illumination=True, gamma=1.0),
    # The learned part with a signal that sees local structure (../shared/DESIGN.md, 2026-12).
    Variant("critic", "front_end + patch critic (synthetic vs purified patches)", style_source="renderer",
            illumination=True, adversarial=1.0),
    Variant("critic_identity", "front_end + patch critic + identity on synthetic eyes", style_source="renderer",
            illumination=True, adversarial=1.0, identity=1.0),
    Variant("paired", "front_end + paired L1 to the synthetic twins", style_source="renderer",
            illumination=True, paired=1.0),
    Variant("paired_critic", "front_end + paired L1 to the twins + patch critic", style_source="renderer",
            illumination=True, paired=1.0, adversarial=1.0),
    Variant("paired_strong", "front_end + paired L1 to the twins at weight 10", style_source="renderer",
            illumination=True, paired=10.0),
    Variant("paired_only", "front end + paired L1 to the twins, no content/style terms", style_source="renderer",
            illumination=True, paired=1.0, perceptual=False),
    # f_W with the raw eye beside the front end's output; the paired term on the twins' structure.
    Variant("critic_identity_raw", "critic_identity, f_W also reads the raw eye", style_source="renderer",
            illumination=True, adversarial=1.0, identity=1.0, raw_beside=True),
    Variant("paired_structure", "paired_strong against the twins' structure (their colour moments set to "
            "the front end's)", style_source="renderer", illumination=True, paired=10.0, paired_target="structure"),
    # Content from real unlabelled eyes of the training subjects (the paper's setup), style from synthetic eyes.
    Variant("real_paired", "paired_strong with real eyes of the training subjects as content (the renderer's "
            "pairs as the auxiliary term)", style_source="renderer", illumination=True, paired=10.0, content="real"),
    # FP-GAN's gaze consistency: a frozen gaze CNN fitted to synthetic eyes reads f_W's output as it reads the twin.
    Variant("paired_gaze", "paired_strong + gaze consistency (a frozen synthetic-trained gaze CNN reads the "
            "purified eye as it reads the twin), the loss network read to VGG block 3, content eyes at real crops' size",
            style_source="renderer", illumination=True, illumination_tone=SHIPPED.illumination_tone,
            paired=10.0, gaze=SHIPPED.gaze, style_blocks=SHIPPED.style_blocks,
            local_content_layers=SHIPPED.local_content_layers, content_eye_scale=SHIPPED.content_eye_scale),
)}


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """What every variant shares (the report's flags)."""

    height: int
    width: int
    steps: int
    batch_size: int = REPORT.batch_size
    learning_rate: float = REPORT.learning_rate
    lr_schedule: str = REPORT.lr_schedule
    alpha: float = REPORT.alpha
    beta: float = REPORT.beta
    theta: float = REPORT.theta
    layer_weighting: str = REPORT.layer_weighting
    style_seed: int = REPORT.style_seed
    style_set_size: int = REPORT.style_set_size
    eval_every: int = 0
    seed: int = 0
    progress: bool = False


def objective_weights(variant: Variant, settings: TrainSettings) -> tuple[LossWeights, DomainWeights]:
    """The objective's weights that ``variant``'s row trains with (alpha = beta = 0 without the
    perceptual terms): the trainer's and Fig. 8's."""
    zeroed = {} if variant.perceptual else {"alpha": 0.0, "beta": 0.0}
    layers = {**style_layers(variant.style_blocks), "local_content": variant.local_content_layers}
    weights = LossWeights.from_settings(settings, gamma=variant.gamma, layers=layers, **zeroed)
    return weights, DomainWeights.from_settings(variant)


def train_variant(
    variant: Variant, settings: TrainSettings, loss_network: Any, strategy: Any, mask_fn: Any,
    out_dir: Path, monitor: Any = None, real_content: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """Train (or resume, or reload) one variant under ``out_dir/<name>``; returns (model, summary).
    On SIGTERM / Ctrl-C it checkpoints and raises ``TrainingStopped`` (the report's rerun resumes).

    The summary has the settings, the seconds trained, the final loss terms and the gaze
    history (``monitor`` scores every ``eval_every`` steps), and is also written to
    ``training_summary.json`` so that a rerun of a finished report reuses it. ``real_content``
    (uint8 real eyes, no labels) is the content of a variant with ``content="real"``.
    """
    from purify_tf.training.checkpoints import TrainingStopped
    from purify_tf.training.purify_loop import PurifyTrainConfig, PurifyTrainer

    s = settings
    style = load_style_set(variant.style_source, s.height, s.width, set_size=s.style_set_size, seed=s.style_seed)
    weights, _ = objective_weights(variant, s)
    model_dir = Path(out_dir) / variant.name
    cfg = PurifyTrainConfig(
        model_dir=str(model_dir), config=variant.config, batch_size=s.batch_size, learning_rate=s.learning_rate,
        lr_schedule=s.lr_schedule, train_steps=s.steps, weights=weights, use_masks=variant.use_masks,
        layer_weighting=s.layer_weighting, style_mode=variant.style_mode, illumination=variant.illumination,
        illumination_tone=variant.illumination_tone, residual=variant.residual, raw_beside=variant.raw_beside,
        checkpoint_every=max(s.steps // 4, 1), log_every=max(1, s.steps // 20), image_every=max(s.steps, 1),
        histogram_every=0, eval_every=s.eval_every, seed=s.seed, progress=s.progress,
        provenance={"style": style.description, "report_variant": variant.name,
                    "content": {"content": "real eyes of the training subjects (images only)" if variant.content == "real"
                                else "renderer", "eye_scale": variant.content_eye_scale}},
        adversarial=variant.adversarial, identity=variant.identity, paired=variant.paired,
        paired_target=variant.paired_target, gaze=variant.gaze,
    )
    if variant.content == "real":
        if real_content is None:
            raise ConfigError(f"variant {variant.name!r} trains on real eyes: pass real_content")
        source = ArraySource(real_content, s.height, s.width, seed=s.seed)
    else:
        source = renderer_content(s.height, s.width, s.seed, twins=variant.paired > 0,
                                  eye_scale=variant.content_eye_scale)
    gaze_reader = None
    if variant.gaze > 0:
        from purify_tf.training.gaze_reader import load_or_train_gaze_reader

        gaze_reader = load_or_train_gaze_reader(model_dir, s.height, s.width, s.seed)
    trainer = PurifyTrainer(
        cfg, strategy, loss_network, source, style.images,
        style.masks if variant.use_masks and mask_fn is None else None,
        mask_fn=mask_fn if variant.use_masks else None, style_stream=style.stream, monitor=monitor,
        prior_images=style.prior_images, gaze_reader=gaze_reader,
    )
    summary_path = model_dir / "training_summary.json"
    start = time.perf_counter()
    history = trainer.train()
    stopped_at = int(trainer.step.numpy())
    if stopped_at < s.steps:  # SIGTERM / Ctrl-C: checkpointed; a half-trained purifier is not scored
        raise TrainingStopped(stopped_at, f"training the purifier {variant.name!r}")
    if history:
        summary = {"seconds": time.perf_counter() - start, "final_terms": history[-1],
                   "history": history, "gaze_history": trainer.gaze_history}
        summary_path.write_text(json.dumps(summary))
    elif summary_path.is_file():  # a finished run: report what it logged then
        summary = json.loads(summary_path.read_text())
    else:
        summary = {"seconds": None, "final_terms": {}, "history": [], "gaze_history": []}
    trainer.save_final()
    summary.update({"variant": dataclasses.asdict(variant), "steps": s.steps, "style": style.description,
                    "loss_weights": {k: v for k, v in trainer.objective.weights.to_dict().items()
                                     if isinstance(v, float)}})
    return trainer.model, summary
