"""The peers' networks in PyTorch, for ``benchmarks.bench_peers`` (needs the ``peers`` extra).

* ``PaperNet``: the paper's transformer as DESIGN.md's layer table gives it, written the way a
  PyTorch user would: reflection pad 32, conv 32@9x9, 64@3x3/2, 128@3x3/2, four residual blocks of
  valid 3x3 convs with a 2 px-cropped skip, two 4x4 stride-2 transposed convs, conv 3@9x9 and a
  scaled tanh, batch norm in eval mode. ``load_keras_weights`` copies a trained Keras model into it
  so that the outputs can be compared (a parity check of the benchmark itself).
* ``ExamplesTransformerNet``: the architecture of pytorch/examples' fast_neural_style
  ``TransformerNet`` (reflection-padded convs, affine instance norm, five residual blocks,
  nearest-upsample convs), the network most PyTorch users start from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


class _ConvBNReLU(nn.Sequential):
    """``exact``: TF's 'same' for a stride-2 3x3 conv pads (0, 1), not (1, 1); the speed peer uses
    the symmetric padding a PyTorch user writes (same FLOPs), the parity check the exact one."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, exact: bool = False) -> None:
        asymmetric = exact and stride == 2
        pad = [nn.ZeroPad2d((0, 1, 0, 1))] if asymmetric else []
        super().__init__(
            *pad,
            nn.Conv2d(c_in, c_out, kernel, stride, padding=0 if asymmetric else kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class _ValidResidual(nn.Module):
    """conv 3x3 valid -> BN -> ReLU -> conv 3x3 valid -> BN, plus the input cropped by 2 px."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return x[:, :, 2:-2, 2:-2] + self.bn2(self.conv2(y))


class _UpBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class PaperNet(nn.Module):
    """(N, 3, H, W) in [0, 255] -> (N, 3, H, W) in [0, 255], H and W divisible by 4."""

    def __init__(self, padding: int = 32, blocks: int = 4, exact: bool = False) -> None:
        super().__init__()
        self.padding = padding
        self.down = nn.Sequential(
            _ConvBNReLU(3, 32, 9, 1), _ConvBNReLU(32, 64, 3, 2, exact), _ConvBNReLU(64, 128, 3, 2, exact)
        )
        self.res = nn.Sequential(*[_ValidResidual(128) for _ in range(blocks)])
        self.up = nn.Sequential(_UpBNReLU(128, 64), _UpBNReLU(64, 32))
        self.out = nn.Conv2d(32, 3, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x / 127.5 - 1.0, [self.padding] * 4, mode="reflect")
        x = self.up(self.res(self.down(x)))
        return 127.5 * (torch.tanh(self.out(x)) + 1.0)


class _ReflectConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride))


class _INResidual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _ReflectConv(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True), nn.ReLU(),
            _ReflectConv(channels, channels, 3), nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ExamplesTransformerNet(nn.Module):
    """pytorch/examples' TransformerNet architecture (raw output, as there)."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
            return [_ReflectConv(c_in, c_out, kernel, stride), nn.InstanceNorm2d(c_out, affine=True), nn.ReLU()]

        def up(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Upsample(scale_factor=2, mode="nearest"), *block(c_in, c_out, 3)]

        self.net = nn.Sequential(
            *block(3, 32, 9), *block(32, 64, 3, 2), *block(64, 128, 3, 2),
            *[_INResidual(128) for _ in range(5)],
            *up(128, 64), *up(64, 32), _ReflectConv(32, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv_weight(kernel: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def _deconv_weight(kernel: np.ndarray) -> torch.Tensor:
    # Keras (h, w, out, in) -> torch ConvTranspose2d (in, out, h, w); neither flips the kernel.
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def _load_bn(bn: nn.BatchNorm2d, layer: Any) -> None:
    gamma, beta, mean, var = (w.numpy() for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance))
    for dst, src in ((bn.weight, gamma), (bn.bias, beta), (bn.running_mean, mean), (bn.running_var, var)):
        dst.data.copy_(torch.from_numpy(src))
    bn.eps = layer.epsilon


def load_keras_weights(net: PaperNet, model: Any) -> PaperNet:
    """Copy a Keras ``build_transformer('paper', norm='batch')`` model's weights into ``net``."""
    get = model.get_layer
    for i, seq in enumerate(net.down, start=1):
        conv, bn = (m for m in seq if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)))
        conv.weight.data.copy_(_conv_weight(get(f"down{i}_conv").kernel.numpy()))
        _load_bn(bn, get(f"down{i}_norm"))
    for i, block in enumerate(net.res, start=1):
        block.conv1.weight.data.copy_(_conv_weight(get(f"res{i}_conv1").kernel.numpy()))
        block.conv2.weight.data.copy_(_conv_weight(get(f"res{i}_conv2").kernel.numpy()))
        _load_bn(block.bn1, get(f"res{i}_norm1"))
        _load_bn(block.bn2, get(f"res{i}_norm2"))
    for i, seq in enumerate(net.up, start=1):
        seq[0].weight.data.copy_(_deconv_weight(get(f"up{i}_deconv").kernel.numpy()))
        _load_bn(seq[1], get(f"up{i}_norm"))
    out = get("output_conv")
    net.out.weight.data.copy_(_conv_weight(out.kernel.numpy()))
    net.out.bias.data.copy_(torch.from_numpy(out.bias.numpy()))
    return net
