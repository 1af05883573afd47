"""The saved purifier and the metadata beside it: architecture, the whole objective, the data.

A purifier file outlives its run; ``<name>.json`` lets whoever holds it (and every export, which
copies these keys) tell how it was made: the transformer's configuration, every term of the
objective with its layer, weight and function, the masks, the style and content sources and
their sizes, the optimiser and the flags of the entry point that trained it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import cv2


def describe_source(source: Any) -> dict[str, Any]:
    """A content or style stream in words and numbers (renderer domain and seed, or array count)."""
    if source is None:
        return {}
    out: dict[str, Any] = {"kind": type(source).__name__, "size": [source.height, source.width]}
    for attr in ("domain", "seed", "has_masks", "eye_scale"):
        if hasattr(source, attr):
            out[attr] = getattr(source, attr)
    if hasattr(source, "images"):
        out["images"] = int(len(source.images))
    if hasattr(source, "sources"):
        out["parts"] = [describe_source(s) for s in source.sources]
    return out


def _mask_source(trainer: Any) -> str:
    if not trainer.cfg.use_masks:
        return "none (plain perceptual loss)"
    return "coarse FCN with the orphan-label fix" if trainer.mask_fn is not None else "oracle (the renderer's labels)"


def _domain_terms(trainer: Any) -> dict[str, Any] | None:
    """The weights of the terms beyond the perceptual objective, the paired target and the critic."""
    domain = trainer.objective.domain
    if not domain.active():
        return None
    out: dict[str, Any] = {"adversarial": domain.adversarial, "identity": domain.identity, "paired": domain.paired}
    if domain.paired > 0:
        out["paired_target"] = domain.paired_target
    if domain.gaze > 0:
        from purify_tf.losses.gaze_consistency import GAZE_TOLERANCE_DEG

        reader = "gaze CNN fitted to synthetic renderer eyes (no real gaze label)"
        if hasattr(trainer.objective.gaze_network, "readers"):
            reader = ("gaze CNN and RBF SVR, each fitted to synthetic renderer eyes (no real gaze label); the term is "
                      "the mean of their disagreements")
        out["gaze"] = {"weight": domain.gaze, "tolerance_deg": GAZE_TOLERANCE_DEG, "reader": reader}
    if domain.pupil > 0:
        from purify_tf.losses.pupil_shift import PUPIL_DEAD_ZONE_PX

        out["pupil"] = {"weight": domain.pupil, "dead_zone_px": PUPIL_DEAD_ZONE_PX,
                        "locator": "the coarse FCN's soft pupil centre, f_W's output against the content eye"}
    if domain.pupil_contrast > 0:
        from purify_tf.losses.pupil_contrast import PUPIL_CONTRAST_TOLERANCE, SURROUND_SIGMA_FRAC

        out["pupil_contrast"] = {"weight": domain.pupil_contrast, "tolerance": PUPIL_CONTRAST_TOLERANCE,
                                 "surround_sigma_frac": SURROUND_SIGMA_FRAC,
                                 "mask": "the coarse FCN's pupil on the content eye; f_W's output against the content"}
    if domain.patch_nce > 0:
        from purify_tf.losses.patch_nce import NCE_HEAD_UNITS, NCE_PATCHES, NCE_TEMPERATURE

        out["patch_nce"] = {"weight": domain.patch_nce, "layers": list(trainer.objective.nce_heads),
                            "patches": NCE_PATCHES, "temperature": NCE_TEMPERATURE, "head_units": NCE_HEAD_UNITS}
    if trainer.critic is not None:
        out["critic"] = trainer.critic.describe()
    return out


def training_metadata(trainer: Any) -> dict[str, Any]:
    """The JSON written beside the saved purifier (keys that exports copy as they are)."""
    cfg = trainer.cfg
    provenance = dict(cfg.provenance)
    return {
        "model": trainer.model.name,
        "config": cfg.config,
        "norm": cfg.norm,
        "upsample": cfg.upsample,
        "step": int(trainer.step.numpy()),
        "use_masks": cfg.use_masks,
        "layer_weighting": cfg.layer_weighting,
        "style_mode": cfg.style_mode,
        "style_images": int(len(trainer.style_image)),
        "style_image": provenance.pop("style", None),
        "illumination": cfg.illumination,
        "illumination_tone": cfg.illumination_tone,
        "illumination_centre": cfg.illumination_centre,
        "residual": cfg.residual,
        "raw_beside": cfg.raw_beside,
        "lr_schedule": cfg.lr_schedule,
        "train_steps": cfg.train_steps,
        "seed": cfg.seed,
        "luminance_prior": None if trainer.luminance_prior is None else trainer.luminance_prior.to_dict(),
        "loss_weights": dataclasses.asdict(trainer.objective.weights),
        "losses": {
            "terms": [dataclasses.asdict(t) for t in trainer.objective.terms()],
            "masks": _mask_source(trainer),
            "style_targets": "per content eye (per batch)" if cfg.style_mode == "per_batch" else "mean Grams of the style set",
        },
        "domain_terms": _domain_terms(trainer),
        "pair_stream": ({"kind": "content", "what": "the content eyes' own synthetic twins"}
                        if getattr(trainer, "pairs_in_content", False) else describe_source(trainer.pair_source)),
        "loss_network": getattr(trainer.objective.loss_network, "info", {}),
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "image_size": [trainer.source.height, trainer.source.width],
        "content_source": {**describe_source(trainer.source), **provenance.pop("content", {})},
        "style_stream": describe_source(trainer.style_stream),
        "flags": provenance.pop("flags", None),
        **provenance,
    }


def save_final(trainer: Any, name: str = "purifier") -> dict[str, Path]:
    """Write ``<name>.keras``, ``<name>.json`` (metadata) and ``<name>_grid.png`` atomically."""
    from purify_tf.atomic import atomic_path, atomic_write_bytes

    out = {}
    trainer.model_dir.mkdir(parents=True, exist_ok=True)
    keras_path = trainer.model_dir / f"{name}.keras"
    with atomic_path(keras_path) as tmp:
        trainer.model.save(str(tmp))
    out["model"] = keras_path
    meta_path = trainer.model_dir / f"{name}.json"
    atomic_write_bytes(meta_path, json.dumps(trainer.metadata(), indent=2, default=str).encode())
    out["metadata"] = meta_path
    grid = trainer.preview_grid(n=8)
    ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if ok:
        grid_path = trainer.model_dir / f"{name}_grid.png"
        atomic_write_bytes(grid_path, png.tobytes())
        out["grid"] = grid_path
    return out
