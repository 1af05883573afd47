"""Centre a purifier's illumination front end on the eyes it will purify (``purify-tf centre``).

The front end's smooth gain pulls each eye's coarse log-luminance map towards a centre. Pulled
towards the synthetic set's mean map, real MPIIGaze eyes lose what all of them share and synthetic
eyes lack (a much darker centre cell, a brighter lower row): the gain then brightens the iris and
darkens the lower lid, which gaze estimators read as a pitch offset. Centred on the real domain's
own mean map, the gain removes only each eye's own illumination. The centre is a statistic of
*unlabelled* eyes of the domain, like batch norm's moments: fitting it reads images only, no
label, and a purifier trained on the renderer keeps its weights (docs/DESIGN.md, "The front end's
centre").

The centre is made mirror-symmetric (each row averaged with itself reversed) unless asked not to:
the real eyes' mean map is brighter on one side (MPIIGaze's training subjects: the top row 0.5 log
units brighter on the right than on the left), synthetic eyes' is not, and a gain that pulls every
eye towards the asymmetric map keeps that asymmetry, which synthetic-trained estimators read in part
as yaw. Like the flip-symmetric network, a symmetric centre has no reason to prefer one side
(docs/DESIGN.md, "A mirror-symmetric centre").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purify_tf.errors import ConfigError, DataError

CENTRE_KEY = "front_end_centre"  # the card's record of where the centre came from
# A card centred again: the scores (real table included) and the record of the centre it had before.
RECENTRE_SCORES_KEY, PREVIOUS_CENTRE_KEY = "scores_before_recentre", "front_end_centre_before"
MIN_CENTRE_EYES = 32  # fewer eyes give a centre that one eye's lighting can still move


def read_centre_eyes(path: str | Path, subjects: Sequence[str] | None = None) -> np.ndarray:
    """Images only (uint8 (N, H, W, 3)) from a folder of eyes or a labelled folder (``subjects``:
    only these subjects' rows; a labelled folder's labels are dropped here)."""
    from purify_tf.data.readers import detect_kind, read_dataset

    kind = detect_kind(path)
    if subjects and kind != "labelled":
        raise DataError(f"{path}: subjects {list(subjects)} need a labelled folder (labels.csv), found {kind}")
    data = read_dataset(kind, path, **({"subjects": list(subjects)} if subjects else {}))
    images = np.asarray(data["image"])
    if len(images) < MIN_CENTRE_EYES:
        raise DataError(f"{path}: {len(images)} eyes{' of ' + ','.join(subjects) if subjects else ''}; "
                        f"the front end's centre needs at least {MIN_CENTRE_EYES}")
    return images


def mirror_symmetric(centre: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A flat rows x cols coarse map averaged with its left-right mirror image (flat again)."""
    cells = np.asarray(centre, np.float32).reshape(grid)
    return ((cells + cells[:, ::-1]) / 2.0).reshape(-1)


def centre_purifier(model: Any, images: np.ndarray, symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Set ``model``'s front end centre to the mean coarse map of ``images``, made mirror-symmetric
    unless ``symmetric`` is False; returns (the centre set, the mean map as measured)."""
    from purify_tf.luminance_prior import mean_coarse_map
    from purify_tf.models.transformer import front_end_of

    front_end = front_end_of(model)
    if front_end is None:
        raise ConfigError(f"{model.name} has no illumination front end to centre (trained with --noillumination)")
    measured = mean_coarse_map(images, front_end.grid)
    centre = mirror_symmetric(measured, front_end.grid) if symmetric else measured
    front_end.set_centre(centre)
    return centre, measured


def centre_record(path: str | Path, subjects: Sequence[str] | None, n_eyes: int, centre: np.ndarray,
                  measured: np.ndarray, symmetric: bool) -> dict[str, Any]:
    """The card's account of a centre: which eyes (images only), how many, the map itself, the eyes'
    mean map as measured, and whether the centre is its mirror-symmetric version."""
    return {"eyes": str(path), "subjects": list(subjects) if subjects else None, "n_eyes": int(n_eyes),
            "labels_read": False, "centre": [round(float(v), 4) for v in centre],
            "mirror_symmetric": bool(symmetric), "measured_mean_map": [round(float(v), 4) for v in measured]}


def centre_file(model_path: str | Path, eyes: str | Path, out: str | Path,
                subjects: Sequence[str] | None = None, symmetric: bool = True) -> dict[str, Any]:
    """``purify-tf centre``: a copy of the purifier at ``model_path`` centred on ``eyes``, written
    atomically to ``out`` with its card (the original's, plus the centre's record and the datasets
    its front end has now seen). Returns the new card."""
    from purify_tf.atomic import atomic_path
    from purify_tf.model_io import (
        load_keras_model,
        read_card,
        trained_on,
        unsigned,
        write_model_metadata,
    )

    out = Path(out)
    if out.suffix != ".keras":
        raise ConfigError(f"--out: {out} must end in .keras")
    if out.resolve() == Path(model_path).resolve():
        raise ConfigError(f"--out: {out} is the input model; write the centred copy elsewhere")
    model = load_keras_model(model_path)
    images = read_centre_eyes(eyes, subjects)
    centre, measured = centre_purifier(model, images, symmetric=symmetric)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        model.save(str(tmp))
    _, card = read_card(model_path)
    card = unsigned(card or {})
    card[CENTRE_KEY] = centre_record(eyes, subjects, len(images), centre, measured, symmetric)
    card["trained_on"] = trained_on(card.get("training") or card, card[CENTRE_KEY])
    card_file = out.with_suffix(".json")
    if card_file.exists():
        card_file.unlink()  # the copy's card is built from the original's, not merged into an old one
    write_model_metadata(out, card, card_file)
    return card
