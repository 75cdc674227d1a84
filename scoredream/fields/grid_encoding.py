"""Multiresolution grid encoding (Instant-NGP) with a fast pure-torch path.

Coarse levels whose grid fits in `dense_max_resolution`^3 are stored densely and read with `F.grid_sample`,
which on a CPU is an order of magnitude faster than hashing (no collisions there either). Only the fine levels
are hashed. On a CUDA machine with tiny-cuda-nn installed, `TcnnGridEncoding` runs the fused kernel instead.
"""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

_PRIMES_I32 = (1, 2654435761 - 2**32, 805459861)  # Instant-NGP's primes as int32


@cache
def tcnn_available() -> bool:
    try:
        import tinycudann  # noqa: F401
    except Exception:  # ImportError, or a build for another CUDA version
        return False
    return torch.cuda.is_available()


def level_resolutions(levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    scale = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
    return [int(math.floor(base_resolution * scale**level)) for level in range(levels)]


class TorchGridEncoding(nn.Module):
    """Points in [-1, 1]^3 -> concatenated per-level features (levels * features_per_level)."""

    def __init__(
        self,
        levels: int = 16,
        features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        max_resolution: int = 2048,
        dense_max_resolution: int = 128,
        init_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        self.resolutions = level_resolutions(levels, base_resolution, max_resolution)
        self.features_per_level = features_per_level
        self.table_size = 2**log2_hashmap_size
        self.dense_res = [r for r in self.resolutions if r <= dense_max_resolution]
        self.hash_res = [r for r in self.resolutions if r > dense_max_resolution]
        self.dense = nn.ParameterList(
            nn.Parameter(torch.empty(1, features_per_level, r, r, r).uniform_(-init_scale, init_scale))
            for r in self.dense_res
        )
        self.hash_table = nn.Parameter(
            torch.empty(len(self.hash_res) * self.table_size, features_per_level).uniform_(-init_scale, init_scale)
        )
        self.register_buffer("_hash_res", torch.tensor(self.hash_res, dtype=torch.float32), persistent=False)

    @property
    def out_dim(self) -> int:
        return len(self.resolutions) * self.features_per_level

    def forward(self, x: Float[Tensor, "N 3"]) -> Float[Tensor, "N D"]:
        feats = []
        grid = x.reshape(1, -1, 1, 1, 3)
        for level in self.dense:
            out = F.grid_sample(level, grid, mode="bilinear", align_corners=True, padding_mode="border")
            feats.append(out.reshape(self.features_per_level, -1).T)
        if self.hash_res:
            feats.append(self._hashed(x))
        return torch.cat(feats, -1)

    def _hashed(self, x: Tensor) -> Tensor:
        n_levels = len(self.hash_res)
        # Vertex coordinates 0..R-1 across [-1, 1], matching align_corners=True in the dense levels.
        pos = ((x.clamp(-1, 1) + 1) * 0.5)[None] * (self._hash_res[:, None, None] - 1)  # L N 3
        base = pos.floor()
        frac = pos - base
        base = base.int()
        # int32 arithmetic wraps, but the low bits that survive the mask are those of the int64 product.
        # Each axis is hashed once and the 8 corners XOR those: 8x fewer multiplies than hashing corners.
        h = [(base[..., a] * _PRIMES_I32[a], (base[..., a] + 1) * _PRIMES_I32[a]) for a in range(3)]
        w = [(1 - frac[..., a], frac[..., a]) for a in range(3)]
        level_offset = (torch.arange(n_levels, device=x.device, dtype=torch.int32) * self.table_size)[:, None]
        mask = self.table_size - 1
        idx, wts = [], []
        for i in range(8):
            a, b, c = i >> 2 & 1, i >> 1 & 1, i & 1
            idx.append(((h[0][a] ^ h[1][b] ^ h[2][c]) & mask) + level_offset)
            wts.append(w[0][a] * w[1][b] * w[2][c])
        out = _HashInterpolate.apply(self.hash_table, torch.stack(idx, -1), torch.stack(wts, -1))  # L N F
        return out.permute(1, 0, 2).reshape(x.shape[0], -1)


class _HashInterpolate(torch.autograd.Function):
    """Trilinear blend of 8 gathered table rows with one scatter in backward.

    Autograd's per-gather backward would zero and scatter into the whole table 8 times; this does it once.
    Positions get no gradient (normals use finite differences)."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor, weights: Tensor) -> Tensor:  # index, weights: L N 8
        out = None
        for i in range(8):
            rows = table.index_select(0, index[..., i].reshape(-1)).reshape(*index.shape[:2], -1)
            out = rows * weights[..., i, None] if out is None else out + rows * weights[..., i, None]
        ctx.save_for_backward(index, weights)
        ctx.table_shape = table.shape
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None, None]:
        index, weights = ctx.saved_tensors
        grad = torch.zeros(ctx.table_shape, dtype=grad_out.dtype, device=grad_out.device)
        src = (weights[..., None] * grad_out[:, :, None, :]).reshape(-1, grad_out.shape[-1])
        # index_add_ with int32 indices is ~6x slower on CPU than with int64.
        grad.index_add_(0, index.reshape(-1).long(), src)
        return grad, None, None


class TcnnGridEncoding(nn.Module):
    """tiny-cuda-nn's fused hash grid; imported lazily so the package never needs it."""

    def __init__(self, levels: int, features_per_level: int, log2_hashmap_size: int, base_resolution: int,
                 max_resolution: int) -> None:
        super().__init__()
        import tinycudann as tcnn

        scale = math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))
        self.encoding = tcnn.Encoding(
            3,
            {
                "otype": "HashGrid",
                "n_levels": levels,
                "n_features_per_level": features_per_level,
                "log2_hashmap_size": log2_hashmap_size,
                "base_resolution": base_resolution,
                "per_level_scale": scale,
            },
            dtype=torch.float32,
        )
        self.out_dim = levels * features_per_level

    def forward(self, x: Float[Tensor, "N 3"]) -> Float[Tensor, "N D"]:
        return self.encoding((x.clamp(-1, 1) + 1) * 0.5).float()
