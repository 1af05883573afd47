"""Model files: loading a ``.keras`` purifier, finding a SavedModel, and the cards that seal them.

A purifier file travels (shipped inside the package, copied between machines), and a truncated
or swapped file fails late with an obscure Keras error. The card is the JSON written beside it:
the file's sha256 and size next to how it was made (objective, data, steps, seed, measured
scores), so ``purify-tf info`` can describe a model and loaders can refuse a damaged one with a
message that says so.

A leaf of the library: the shipped model (``purify_tf.pretrained``), inference, exports and the
command all load and sign models here, so none of them needs another. No TensorFlow at import:
reading a card or hashing a file must stay cheap.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from purify_tf.atomic import atomic_write_bytes
from purify_tf.errors import ConfigError

SHA_OK, SHA_MISMATCH, SHA_UNRECORDED = "ok", "MISMATCH", "not recorded"
RENDERER_DATASET = "purify-tf built-in renderer"  # how a card's dataset list names the built-in data
CENTRE_DATASET_PREFIX = "the front end's centre:"  # a card's dataset entry that only the front end's centre saw
_VERSION_DIR = re.compile(r"^\d+$")


def load_keras_model(path: str | os.PathLike) -> Any:
    """Load a ``.keras`` transformer (custom layers registered by importing the builder)."""
    import keras

    import purify_tf.models.symmetry  # noqa: F401  (registers the flip-symmetric purifier's layer)
    import purify_tf.models.transformer  # noqa: F401  (registers the custom layers)

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ConfigError(f"cannot load the Keras model {path}: {exc}") from exc


def resolve_saved_model_dir(path: str | os.PathLike) -> Path:
    """A SavedModel directory: ``path`` itself if it holds ``saved_model.pb``, else its highest
    numeric version subdirectory (the TF Serving layout ``<name>/<version>/``)."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted(
        (int(p.name), p)
        for p in (path.iterdir() if path.is_dir() else [])
        if p.is_dir() and _VERSION_DIR.match(p.name) and (p / "saved_model.pb").is_file()
    )
    if not versions:
        raise ConfigError(
            f"{path} is neither a SavedModel directory (no saved_model.pb) nor a TF Serving model "
            "directory with numeric version subdirectories"
        )
    return versions[-1][1]


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_candidates(model_path: str | os.PathLike) -> list[Path]:
    """Where a card may sit: ``<model>.json`` (e.g. ``purifier.keras.json``), then ``<stem>.json``."""
    path = Path(model_path)
    return [path.with_name(path.name + ".json"), path.with_suffix(".json")]


def read_card(model_path: str | os.PathLike) -> tuple[Path | None, dict[str, Any] | None]:
    """(card path, card dict) for a model file, or (None, None) when it has no readable card."""
    for candidate in card_candidates(model_path):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                return candidate, data
    return None, None


# What write_model_metadata seals a card with: facts of one file, stale on a card copied to another.
SIGNATURE_KEYS = ("model_file", "sha256", "file_bytes", "signed_at", "purify_tf_version")


def unsigned(card: dict[str, Any]) -> dict[str, Any]:
    """``card`` without its signature (:data:`SIGNATURE_KEYS`): to carry it over to a new file."""
    return {k: v for k, v in card.items() if k not in SIGNATURE_KEYS}


def write_model_metadata(
    model_path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    card_path: str | os.PathLike | None = None,
) -> Path:
    """Sign ``model_path``: write its card (default ``<stem>.json``) with sha256 and size.

    ``metadata`` holds how the model was made (objective, data, steps, seed, scores, ...); an
    existing card at ``card_path`` (e.g. the trainer's ``purifier.json``) is kept and updated, so
    training facts survive. Call it after the model file is final. Written atomically.
    """
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot sign {path}: the model file does not exist")
    out = Path(card_path) if card_path is not None else path.with_suffix(".json")
    card: dict[str, Any] = {}
    if out.is_file():
        try:
            old = json.loads(out.read_text())
            card = old if isinstance(old, dict) else {}
        except ValueError:
            card = {}
    import purify_tf

    card.update(metadata or {})
    card.update({
        "model_file": path.name,
        "sha256": sha256_file(path),
        "file_bytes": path.stat().st_size,
        "signed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "purify_tf_version": purify_tf.__version__,
    })
    atomic_write_bytes(out, (json.dumps(card, indent=2, sort_keys=True, default=str) + "\n").encode())
    return out


sign = write_model_metadata


def sha256_status(model_path: str | os.PathLike, card: dict[str, Any] | None) -> str:
    """``ok``, ``MISMATCH`` or ``not recorded``: the file against the sha256 in its card."""
    expected = (card or {}).get("sha256")
    if not expected:
        return SHA_UNRECORDED
    return SHA_OK if sha256_file(model_path) == expected else SHA_MISMATCH


# Card fields shown first by ``purify-tf info`` (the rest of the card follows as JSON).
HEADLINE_KEYS = ("objective", "data", "steps", "step", "seed", "scores", "image_size", "flip_symmetric")


def _saved_model_card(directory: Path) -> tuple[Path | None, dict[str, Any] | None]:
    meta = resolve_saved_model_dir(directory) / "assets.extra" / "purify_tf.json"
    try:
        return meta, json.loads(meta.read_text())
    except (OSError, ValueError):
        return None, None


def _count_parameters(path: Path) -> int:
    """Parameters of a .keras file, or of a SavedModel (read off its variables checkpoint)."""
    if path.is_file():
        return int(load_keras_model(path).count_params())
    import numpy as np
    import tensorflow as tf

    prefix = resolve_saved_model_dir(path) / "variables" / "variables"
    return int(sum(
        np.prod(shape) for name, shape in tf.train.list_variables(str(prefix))
        if name.endswith("VARIABLE_VALUE")
    ))


def describe_model(path: str | os.PathLike, pretrained: bool = False) -> dict[str, Any]:
    """What ``purify-tf info`` prints: file facts, sha256 status, parameters and the card.

    ``usable`` is False when the file fails its sha256 or cannot be loaded.
    """
    path = Path(path)
    facts: dict[str, Any] = {"model": str(path), "pretrained": pretrained, "usable": True}
    if path.is_file():
        facts["file_bytes"] = path.stat().st_size
        card_file, card = read_card(path)
        facts["sha256"] = sha256_file(path)
        facts["sha256_status"] = sha256_status(path, card)
        if facts["sha256_status"] == SHA_MISMATCH:
            facts["usable"] = False
    else:
        card_file, card = _saved_model_card(path)
        facts["file_bytes"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        facts["sha256_status"] = "not applicable (SavedModel directory)"
    facts["card"] = str(card_file) if card_file else None
    facts["metadata"] = card or {}
    size = (card or {}).get("image_size")
    facts["training_size"] = f"{size[0]}x{size[1]} (H x W)" if isinstance(size, list) and len(size) == 2 else None
    try:
        facts["parameters"] = _count_parameters(path)
    except Exception as exc:  # a damaged archive: say so instead of a stack trace
        facts["parameters"] = None
        facts["load_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        facts["usable"] = False
    return facts


def format_description(facts: dict[str, Any]) -> str:
    """``describe_model`` as aligned text lines, the card's JSON at the end."""
    card = facts.get("metadata") or {}
    params = facts.get("parameters")
    lines = [
        f"model:          {facts['model']}" + ("  (pretrained, shipped with purify-tf)" if facts.get("pretrained") else ""),
        f"file size:      {facts.get('file_bytes', 0) / 1e6:.2f} MB ({facts.get('file_bytes', 0)} bytes)",
        f"sha256:         {facts.get('sha256_status')}" + (f"  {facts['sha256']}" if facts.get("sha256") else ""),
        f"parameters:     {params:,}" if params is not None else f"parameters:     unknown ({facts.get('load_error')})",
        f"training size:  {facts.get('training_size') or 'not recorded'}",
        f"card:           {facts.get('card') or 'none (no <model>.json beside the file)'}",
    ]
    lines += [f"{key + ':':<16}{json.dumps(card[key], default=str)}" for key in HEADLINE_KEYS
              if key in card and key != "scores"]
    if isinstance(card.get("scores"), dict):
        lines += [f"{'scores:':<16}{line}" if i == 0 else f"{'':<16}{line}"
                  for i, line in enumerate(scores_summary(card["scores"]) or ["(see metadata below)"])]
    if facts.get("sha256_status") == SHA_MISMATCH:
        lines.append("WARNING: the file does not match the sha256 in its card: it is damaged or was replaced.")
    if facts.get("load_error"):
        lines.append(f"WARNING: the model cannot be loaded: {facts['load_error']}")
    if card:
        lines += ["metadata:", json.dumps(card, indent=2, sort_keys=True, default=str)]
    return "\n".join(lines)


def scores_summary(scores: dict[str, Any]) -> list[str]:
    """The card's scores as a few readable lines (the whole JSON follows under ``metadata``):
    the real-eye gaze table's purified row, the renderer's gap shares and the pupil shifts."""
    lines = []
    real = scores.get("real_gaze") or {}
    raw = next((r for r in real.get("rows", []) if r.get("row") == "raw"), None)
    purified = next((r for r in real.get("rows", []) if r.get("kind") == "candidate" and r.get("row") == "purified"),
                    None)
    if raw and purified:
        cells = []
        for est in real.get("estimators", []):
            vs = purified.get("vs_raw", {}).get(est, {})
            cells.append(f"{est} {raw['mean_error_deg'][est]:.2f} -> {purified['mean_error_deg'][est]:.2f}"
                         + (f" ({vs['delta_deg']:+.2f} [{vs['delta_lo']:+.2f}, {vs['delta_hi']:+.2f}])" if vs else ""))
        lines.append(f"real eyes ({real.get('n_test', '?')} of {', '.join(real.get('eval_subjects', []))}), "
                     "error raw -> purified, degrees: " + "; ".join(cells))
    gaps = scores.get("gap_share") or {}
    if gaps:
        lines.append("renderer, share of the raw -> twin gap closed: "
                     + ", ".join(f"{est} {100 * v['gap_share']:.0f}%" for est, v in sorted(gaps.items())))
    for key, where in (("pupil_shift_px_real", "real crops"), ("pupil_shift_px_renderer", "renderer eyes")):
        shift = scores.get(key)
        if isinstance(shift, dict) and "mean" in shift:
            lines.append(f"pupil shift on {shift.get('n', '?')} {where}: {shift['mean']:.2f} px "
                         f"(median {shift.get('median', float('nan')):.2f})")
    return lines


def trained_on(training: dict[str, Any], centre: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every dataset the weights saw, with its licence (weights trained on MPIIGaze images carry
    CC BY-NC-SA 4.0), read from the training metadata's content source and, when the front end
    was centred on a dataset's eyes (``inference.centre``), from that ``centre`` record."""
    content = (training.get("content_source") or training.get("provenance", {}).get("content") or {})
    flags_seen = training.get("flags") or training.get("provenance", {}).get("flags") or {}
    kind = content.get("content") or flags_seen.get("content") or "renderer"
    out = {"datasets": [f"{RENDERER_DATASET} (synthetic eyes, style set and twins)"],
           "licence": "Apache-2.0 (the renderer is part of this package)"}
    if (training.get("domain_terms") or {}).get("gaze"):
        out["datasets"][0] = (f"{RENDERER_DATASET} (synthetic eyes, style set and twins; the gaze reader's "
                              "synthetic eyes and their rendered gaze)")
    seen = []  # (where, what) of each real dataset
    if kind != "renderer":
        where = content.get("content_dir") or flags_seen.get("content_dir")
        subjects = flags_seen.get("content_subjects")
        seen.append((where, f"{kind} images from {where}" + (f", subjects {', '.join(subjects)}" if subjects
                                                            else "") + " (unlabelled: images only)"))
    if centre:
        subjects = centre.get("subjects")
        seen.append((centre.get("eyes"), f"{CENTRE_DATASET_PREFIX} the mean coarse luminance map of {centre.get('n_eyes')} "
                     f"eyes from {centre.get('eyes')}" + (f", subjects {', '.join(subjects)}" if subjects else "")
                     + " (unlabelled: images only)"))
    for where, what in seen:
        out["datasets"].append(what)
        if "mpiigaze" in str(where).lower():
            out["licence"] = "CC BY-NC-SA 4.0 (trained on MPIIGaze images)"
        elif not out["licence"].startswith("CC BY-NC-SA"):
            out["licence"] = "that of the datasets named above"
    # A fine-tuned network (--init_model) carries what its starting f_W saw, and its licence; not what
    # only the starting file's front-end centre saw (the centre is not copied: models.warm_start).
    inherited = ((training.get("init_model") or {}).get("trained_on") or {}).get("datasets", [])
    for what in inherited:
        if what.startswith(CENTRE_DATASET_PREFIX) or what in out["datasets"]:
            continue
        out["datasets"].append(f"{what} (through the --init_model weights)")
        if "mpiigaze" in what.lower():
            out["licence"] = "CC BY-NC-SA 4.0 (trained on MPIIGaze images)"
        elif not what.startswith(RENDERER_DATASET) and not out["licence"].startswith("CC BY-NC-SA"):
            out["licence"] = "that of the datasets named above"
    return out
