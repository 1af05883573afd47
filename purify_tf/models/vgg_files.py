"""The VGG16/VGG19 convolutional bases as tables, and the Keras weights files that hold them.

``weights_file_architecture`` tells which base a Keras HDF5 weights file (Keras 3
``.weights.h5`` or legacy ``.h5``) holds, from its kernel shapes; ``load_weights_file`` loads
one whatever its file name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import keras

from purify_tf.errors import ConfigError

ARCHITECTURES = ("vgg16", "vgg19")
_BLOCK_FILTERS = (64, 128, 256, 512, 512)
_CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


def conv_layer_names(architecture: str) -> tuple[str, ...]:
    """Keras names of the conv layers of ``architecture`` in network order."""
    return tuple(
        f"block{b + 1}_conv{i + 1}"
        for b, count in enumerate(_CONVS_PER_BLOCK[architecture])
        for i in range(count)
    )


def expected_kernel_shapes(architecture: str) -> list[tuple[int, int, int, int]]:
    shapes, channels_in = [], 3
    for filters, count in zip(_BLOCK_FILTERS, _CONVS_PER_BLOCK[architecture], strict=True):
        for _ in range(count):
            shapes.append((3, 3, channels_in, filters))
            channels_in = filters
    return shapes


def _kernel_shapes_keras3(layers_group) -> list[tuple[int, ...]] | None:
    """Conv kernel shapes, in layer order, of a Keras 3 ``.weights.h5`` file (flat model)."""
    entries = []
    for name, group in layers_group.items():
        vars_group = group.get("vars") if hasattr(group, "get") else None
        if vars_group is None or "0" not in vars_group:
            continue
        shape = tuple(vars_group["0"].shape)
        if len(shape) != 4:
            continue
        base, _, suffix = name.rpartition("_")
        order = int(suffix) if base and suffix.isdigit() else 0
        entries.append((base if base and suffix.isdigit() else name, order, shape))
    entries.sort(key=lambda e: (e[0], e[1]))
    return [shape for _, _, shape in entries]


def _kernel_shapes_legacy(root) -> tuple[list[str], list[tuple[int, ...]]]:
    """Conv layer names and kernel shapes of a legacy Keras ``.h5`` weights file."""
    group = root["model_weights"] if "model_weights" in root else root
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
    conv_names, shapes = [], []
    for name in names:
        weight_names = group[name].attrs.get("weight_names", [])
        for w in weight_names:
            w = w.decode() if isinstance(w, bytes) else str(w)
            shape = tuple(group[name][w].shape)
            if len(shape) == 4:
                conv_names.append(name)
                shapes.append(shape)
    return conv_names, shapes


def weights_file_architecture(path: str | os.PathLike) -> str:
    """``"vgg16"`` or ``"vgg19"``: the architecture whose conv base the weights file holds.

    Raises ConfigError, naming the path and what was expected, for a missing or unreadable
    file or one whose conv layers match neither VGG16 (13 convs) nor VGG19 (16 convs).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"VGG weights file {str(path)!r} does not exist (expected a Keras weights file of a "
            "VGG16 or VGG19 convolutional base, e.g. ../shared/weights/vgg16_imagenet_notop.weights.h5)"
        )
    try:
        import h5py

        with h5py.File(path, "r") as f:
            if "layers" in f:
                shapes = _kernel_shapes_keras3(f["layers"])
            elif "layer_names" in f.attrs or "model_weights" in f:
                _, shapes = _kernel_shapes_legacy(f)
            else:
                shapes = None
    except (OSError, KeyError, ValueError) as err:
        raise ConfigError(
            f"VGG weights file {str(path)!r} is not a readable Keras HDF5 weights file ({err}); "
            "expected the weights of a VGG16 or VGG19 convolutional base"
        ) from err
    if not shapes:
        raise ConfigError(
            f"VGG weights file {str(path)!r} holds no convolution kernels in a layout Keras "
            "writes (.weights.h5 or legacy .h5); expected a VGG16 or VGG19 convolutional base"
        )
    shapes = [tuple(int(d) for d in s) for s in shapes]
    for arch in ARCHITECTURES:
        if shapes == expected_kernel_shapes(arch):
            return arch
    raise ConfigError(
        f"VGG weights file {str(path)!r} has {len(shapes)} conv layers with kernel shapes "
        f"{shapes[:3]}...; expected a VGG16 (13 conv layers) or VGG19 (16 conv layers) "
        "convolutional base (include_top=False)"
    )


def _is_keras3_weights_file(path: str) -> bool:
    import h5py

    with h5py.File(path, "r") as f:
        return "layers" in f


def load_weights_file(model: keras.Model, path: str) -> None:
    """Load a weights file whatever its name: Keras picks the reader from the file suffix, so a
    Keras 3 file under a legacy ``.h5`` name (e.g. copied into the Keras cache) goes through a
    ``.weights.h5`` link."""
    if _is_keras3_weights_file(path) and not path.endswith(".weights.h5"):
        with tempfile.TemporaryDirectory() as tmp:
            link = os.path.join(tmp, "vgg.weights.h5")
            os.symlink(os.path.abspath(path), link)
            model.load_weights(link)
    else:
        model.load_weights(path)
