"""MLP NeRF (positional encoding + a deep MLP with a skip), the compact field.

nerfstudio's `NeRFEncoding` computes the same encoding, but importing it pulls nerfstudio's viewer stack (viser,
~170 modules) into every import of the library, so the ten lines live here instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields.base import FEATURE_DIM, Field, FieldExtentConfig


@dataclass
class MLPConfig(FieldExtentConfig):
    """CPU defaults; the reference NeRF/PVD size is `--mlp.frequencies 10 --mlp.depth 8 --mlp.width 256
    --mlp.skip 4` (nerf-pytorch's skips=[4])."""

    frequencies: int = 6
    """positional-encoding octaves: sin/cos of 2^k * pi * x for k < frequencies"""
    depth: int = 4
    """hidden layers"""
    width: int = 64
    """hidden layer width"""
    skip: int = 2
    """the encoded input is concatenated to the output of this hidden layer (0-based; -1: no skip)"""

    def setup(self) -> MLPField:
        return MLPField(self)


def positional_encoding(x: Float[Tensor, "N 3"], frequencies: int) -> Float[Tensor, "N D"]:
    scales = (2.0 ** torch.arange(frequencies, device=x.device, dtype=x.dtype)) * math.pi
    angles = (x[:, None, :] * scales[:, None]).reshape(x.shape[0], -1)
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], -1)


class MLPField(Field):
    def __init__(self, config: MLPConfig) -> None:
        super().__init__(config)
        self.config = config
        in_dim = 3 + 6 * config.frequencies
        layers, dim = [], in_dim
        for i in range(config.depth):
            layers.append(nn.Linear(dim, config.width))
            dim = config.width + (in_dim if i == config.skip else 0)
        self.layers = nn.ModuleList(layers)
        self.out = nn.Linear(dim, FEATURE_DIM)
        self.start_sdf_at_sphere(self.out)

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        x = positional_encoding(points / self.bound, self.config.frequencies)
        h = x
        for i, layer in enumerate(self.layers):
            h = torch.relu(layer(h))
            if i == self.config.skip:
                h = torch.cat([h, x], -1)
        return self.out(h)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"grid": [], "mlp": list(self.parameters())}
