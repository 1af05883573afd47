"""The frozen VGG loss network of the perceptual losses (paper 3.3), with its weights rules.

``build_loss_network`` returns a :class:`LossNetwork`: one functional Keras model over the
union of tapped layers, truncated after the deepest tap, with the matching
``keras.applications`` ``preprocess_input`` inside (input RGB float in [0, 255]), frozen, and
returning ``{keras_layer_name: features}`` in one pass.

Weights (DESIGN.md "Loss-network weights"):

- ``vgg_weights="imagenet"``: the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``),
  else a download through ``keras.applications`` (skipped when offline, see below).
- ``vgg_weights=PATH``: a Keras weights file (Keras 3 ``.weights.h5`` or legacy ``.h5``) of a
  VGG16 or VGG19 convolutional base; its architecture is read from the file.
- ``vgg_weights="random"``: seeded He-normal kernels and zero biases (a documented fallback
  with lower quality: the features are not semantic, but their scale stays sensible).
- ``vgg_weights="auto"`` (default): the path in ``$PURIFY_VGG_WEIGHTS``, then the Keras cache,
  then a download, and when all fail ``random`` with one warning per process.

``loss_network="auto"`` takes the architecture of the weights file the weights resolve to,
else VGG19 (the paper). Downloads are disabled by ``allow_download=False`` or by the
environment variable ``PURIFY_OFFLINE=1``. Built networks are cached per process.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from absl import logging

from purify_tf.errors import ConfigError
from purify_tf.models.vgg_files import (
    ARCHITECTURES,
    conv_layer_names,
    expected_kernel_shapes,
    load_weights_file,
    weights_file_architecture,
)

__all__ = ["ARCHITECTURES", "LossNetwork", "build_loss_network", "conv_layer_names", "expected_kernel_shapes",
           "keras_cache_dirs", "weights_file_architecture"]

_CACHE_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
ENV_WEIGHTS = "PURIFY_VGG_WEIGHTS"
ENV_OFFLINE = "PURIFY_OFFLINE"
_DOWNLOAD_TIMEOUT_S = 20.0


_NETWORK_CACHE: dict[tuple, LossNetwork] = {}
_random_warning_issued = False


class LossNetwork:
    """A frozen VGG feature extractor: ``net(images) -> {layer_name: (B, h, w, C) features}``."""

    def __init__(self, model: keras.Model, architecture: str, weights: str, layers: Sequence[str]):
        self.model = model
        self.architecture = architecture
        self.weights = weights
        self.layers: tuple[str, ...] = tuple(layers)

    @property
    def info(self) -> dict[str, Any]:
        """What was built, for logs and saved-model metadata."""
        return {
            "architecture": self.architecture,
            "weights": self.weights,
            "layers": list(self.layers),
        }

    def __call__(self, images) -> dict:
        """Features of RGB [0, 255] images (B, H, W, 3) at every tapped layer."""
        return self.model(images, training=False)

    def count_params(self) -> int:
        return int(self.model.count_params())

    def tap(self, layers: Sequence[str]) -> LossNetwork:
        """The same network (shared weights) tapping only ``layers``, a subset of its taps: its graph
        ends at the deepest of them, so layers past it are not computed."""
        layers = tuple(layers)
        if layers == self.layers:
            return self
        unknown = sorted(set(layers) - set(self.layers))
        if unknown:
            raise ConfigError(f"loss network taps {list(self.layers)}; cannot tap {unknown} of them")
        model = keras.Model(self.model.input, {name: self.model.output[name] for name in layers},
                            name=f"{self.model.name}_to_{layers[-1]}")
        model.trainable = False
        return LossNetwork(model, self.architecture, self.weights, layers)

    def __repr__(self) -> str:
        return f"LossNetwork({self.architecture}, weights={self.weights!r}, layers={self.layers})"


class VGGPreprocess(keras.layers.Layer):
    """``keras.applications.<arch>.preprocess_input`` as a layer (RGB [0,255] -> BGR, mean-centred)."""

    def __init__(self, architecture: str = "vgg19", **kwargs):
        super().__init__(**kwargs)
        self.architecture = architecture

    def call(self, inputs):
        module = getattr(keras.applications, self.architecture)
        return module.preprocess_input(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "architecture": self.architecture}


# --------------------------------------------------------------------------- weight files


def keras_cache_dirs() -> list[Path]:
    """Where Keras caches downloaded application weights."""
    dirs = []
    if os.environ.get("KERAS_HOME"):
        dirs.append(Path(os.environ["KERAS_HOME"]) / "models")
    dirs.append(Path(os.path.expanduser("~")) / ".keras" / "models")
    return dirs


def _cached_imagenet_file(architecture: str) -> Path | None:
    for directory in keras_cache_dirs():
        candidate = directory / _CACHE_FILES[architecture]
        if candidate.is_file():
            return candidate
    return None


def _downloads_allowed(allow_download: bool | None) -> bool:
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------- building


def _check_layers(architecture: str, layers: Sequence[str]) -> tuple[str, ...]:
    available = conv_layer_names(architecture)
    unknown = [name for name in layers if name not in available]
    if unknown:
        raise ConfigError(
            f"loss-network layers {unknown} do not exist in {architecture}; expected conv layer "
            f"names among {list(available)}"
        )
    if not layers:
        raise ConfigError("loss-network layers: expected at least one layer name")
    return tuple(layers)


def _randomise(base: keras.Model, seed: int) -> None:
    """He-normal kernels (variance-preserving through ReLU), zero biases; seeded per layer."""
    convs = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    for i, layer in enumerate(convs):
        kernel, bias = layer.get_weights()
        init = keras.initializers.HeNormal(seed=seed + i)
        new_kernel = np.asarray(keras.ops.convert_to_numpy(init(kernel.shape)), dtype=kernel.dtype)
        layer.set_weights([new_kernel, np.zeros_like(bias)])


def _build(
    architecture: str, weights_arg: str | None, layers: tuple[str, ...], seed: int, label: str
) -> LossNetwork:
    app = keras.applications.VGG16 if architecture == "vgg16" else keras.applications.VGG19
    if weights_arg in (None, "imagenet"):
        base = app(include_top=False, weights=weights_arg, input_shape=(None, None, 3))
    else:
        base = app(include_top=False, weights=None, input_shape=(None, None, 3))
        load_weights_file(base, weights_arg)
    if weights_arg is None:
        _randomise(base, seed)
    deepest = max(i for i, layer in enumerate(base.layers) if layer.name in layers)
    images = keras.Input(shape=(None, None, 3), name="images")
    x = VGGPreprocess(architecture, name="preprocess")(images)
    outputs = {}
    for layer in base.layers[1 : deepest + 1]:
        x = layer(x)
        if layer.name in layers:
            outputs[layer.name] = x
    model = keras.Model(
        images, {name: outputs[name] for name in layers}, name=f"{architecture}_loss_network"
    )
    model.trainable = False
    return LossNetwork(model, architecture, label, layers)


def _get_or_build(
    architecture: str, weights_arg: str | None, layers: tuple[str, ...], seed: int, label: str
) -> LossNetwork:
    policy = keras.config.dtype_policy().name  # a mixed-precision run gets its own network
    key = (architecture, label, layers, seed if weights_arg is None else None, policy)
    if key not in _NETWORK_CACHE:
        try:
            network = _build(architecture, weights_arg, layers, seed, label)
        except ConfigError:
            raise
        except Exception as err:  # Keras raises ValueError/OSError on unloadable files.
            raise ConfigError(
                f"could not load VGG weights {label!r} into {architecture}: {err}"
            ) from err
        logging.info("Loss network: %s", network.info)
        _NETWORK_CACHE[key] = network
    return _NETWORK_CACHE[key]


def _from_file(path: str, loss_network: str, layers, seed: int, origin: str) -> LossNetwork:
    architecture = weights_file_architecture(path)
    if loss_network != "auto" and loss_network != architecture:
        raise ConfigError(
            f"VGG weights file {path!r} ({origin}) holds {architecture} weights, but "
            f"--loss_network={loss_network}; expected a {loss_network} weights file, or use "
            f"--loss_network=auto (or {architecture})"
        )
    layers = _check_layers(architecture, layers)
    return _get_or_build(architecture, str(path), layers, seed, label=str(Path(path).resolve()))


def _warn_random_once(architecture: str) -> None:
    global _random_warning_issued
    if _random_warning_issued:
        return
    _random_warning_issued = True
    logging.warning(
        "No VGG ImageNet weights found: using RANDOM %s loss-network weights (lower quality). "
        "Supply weights with --vgg_weights=PATH or the environment variable %s=PATH (e.g. "
        "../shared/weights/vgg16_imagenet_notop.weights.h5 with --loss_network=auto), or put "
        "%s in ~/.keras/models/.",
        architecture,
        ENV_WEIGHTS,
        _CACHE_FILES[architecture],
    )


def build_loss_network(
    loss_network: str = "auto",
    vgg_weights: str = "auto",
    *,
    layers: Sequence[str],
    seed: int = 0,
    allow_download: bool | None = None,
) -> LossNetwork:
    """Build (or fetch from the per-process cache) the frozen VGG loss network.

    Args:
      loss_network: "auto", "vgg19" or "vgg16" (see module docstring).
      vgg_weights: "auto", "imagenet", "random" or a path to a Keras weights file.
      layers: Keras conv layer names to tap (the objective's are
        ``purify_tf.losses.layers.LOSS_LAYERS``).
      seed: seed of the random weights.
      allow_download: None reads ``$PURIFY_OFFLINE``; False never touches the network.
    """
    if loss_network not in ("auto", *ARCHITECTURES):
        raise ConfigError(
            f"--loss_network={loss_network!r}: expected one of 'auto', 'vgg19', 'vgg16'"
        )
    if not isinstance(vgg_weights, (str, os.PathLike)) or not str(vgg_weights):
        raise ConfigError(
            f"--vgg_weights={vgg_weights!r}: expected 'auto', 'imagenet', 'random' or a path"
        )
    vgg_weights = str(vgg_weights)
    layers = tuple(layers)
    default_arch = "vgg19" if loss_network == "auto" else loss_network

    if vgg_weights == "random":
        layers = _check_layers(default_arch, layers)
        return _get_or_build(default_arch, None, layers, seed, label=f"random(seed={seed})")
    if vgg_weights not in ("auto", "imagenet"):
        return _from_file(vgg_weights, loss_network, layers, seed, origin="--vgg_weights")

    if vgg_weights == "auto":
        env_path = os.environ.get(ENV_WEIGHTS, "").strip()
        if env_path:
            return _from_file(env_path, loss_network, layers, seed, origin=f"${ENV_WEIGHTS}")

    cached = _from_keras_cache(loss_network, layers, seed)
    if cached is not None:
        return cached
    layers = _check_layers(default_arch, layers)
    reason = f"downloads disabled (allow_download=False or {ENV_OFFLINE}=1)"
    if _downloads_allowed(allow_download):
        network, reason = _download_imagenet(default_arch, layers, seed)
        if network is not None:
            return network
    if vgg_weights == "imagenet":
        raise ConfigError(
            f"--vgg_weights=imagenet: {default_arch} ImageNet weights are not in the Keras cache "
            f"({', '.join(str(d) for d in keras_cache_dirs())}) and {reason}; expected "
            f"{_CACHE_FILES[default_arch]} there, or pass --vgg_weights=PATH"
        )
    _warn_random_once(default_arch)
    return _get_or_build(default_arch, None, layers, seed, label=f"random(seed={seed})")


def _from_keras_cache(loss_network: str, layers: tuple[str, ...], seed: int) -> LossNetwork | None:
    """The network on ImageNet weights already in the Keras cache (VGG19 first under "auto")."""
    candidates = ARCHITECTURES[::-1] if loss_network == "auto" else (loss_network,)
    for architecture in candidates:
        cached = _cached_imagenet_file(architecture)
        if cached is not None:
            checked = _check_layers(architecture, layers)
            if weights_file_architecture(cached) != architecture:
                raise ConfigError(
                    f"Keras cache file {str(cached)!r}: expected {architecture} weights"
                )
            return _get_or_build(
                architecture, str(cached), checked, seed, label=f"imagenet:{cached}"
            )
    return None


def _download_imagenet(architecture: str, layers: tuple[str, ...], seed: int) -> tuple[LossNetwork | None, str]:
    """The network on ImageNet weights fetched by ``keras.applications``, or None and why not."""
    key = (architecture, "imagenet", layers, None, keras.config.dtype_policy().name)
    if key in _NETWORK_CACHE:
        return _NETWORK_CACHE[key], ""
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        network = _build(architecture, "imagenet", layers, seed, label="imagenet")
    except Exception as err:  # any network / HTTP / file error: fall through.
        logging.info("Could not download %s ImageNet weights: %s", architecture, err)
        return None, f"download failed: {err}"
    finally:
        socket.setdefaulttimeout(previous_timeout)
    logging.info("Loss network: %s", network.info)
    _NETWORK_CACHE[key] = network
    return network, ""
