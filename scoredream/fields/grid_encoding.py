"""Multiresolution grid encoding (Instant-NGP) with a fast pure-torch path.

Coarse levels whose grid fits in `dense_max_resolution`^3 are stored densely and read with `F.grid_sample`,
which on a CPU is an order of magnitude faster than hashing (no collisions there either). Only the fine levels
are hashed. On a CUDA machine with tiny-cuda-nn installed, `TcnnGridEncoding` runs the fused kernel instead.

The two grids cannot share weights: tiny-cuda-nn puts level l's vertices at x * (base * b^l - 1) + 0.5 (a half-cell
stagger), ours at x * (R_l - 1) (align_corners, so dense levels can use `grid_sample`), with other resolutions and
other dense/hashed splits. So a tiny-cuda-nn checkpoint is read on a machine without it by `TcnnLayoutGridEncoding`,
a pure-torch copy of tiny-cuda-nn's grid over its own flat parameter vector (same tensor, same state-dict key).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
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


def per_level_scale(levels: int, base_resolution: int, max_resolution: int) -> float:
    return math.exp((math.log(max_resolution) - math.log(base_resolution)) / max(levels - 1, 1))


def level_resolutions(levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    scale = per_level_scale(levels, base_resolution, max_resolution)
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

        scale = per_level_scale(levels, base_resolution, max_resolution)
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


_TCNN_PRIMES = (1, 2654435761, 805459861)  # tiny-cuda-nn's CoherentPrime hash (its HashGrid default)


@dataclass(frozen=True)
class TcnnLevel:
    """One level of tiny-cuda-nn's HashGrid as `GridEncodingTemplated` lays it out (encodings/grid.h)."""

    scale: float
    """vertex coordinate = input in [0, 1] * scale + 0.5 (exp2(l * log2(b)) * base - 1, in float32)"""
    resolution: int
    """vertices per axis: ceil(scale) + 1"""
    offset: int
    """table entries before this level in the flat parameter vector"""
    size: int
    """table entries: min(resolution^3 rounded up to 8, 2^log2_hashmap_size)"""

    @property
    def dense(self) -> bool:
        # grid_index: x + y R + z R^2 when R^3 fits the level's table, the spatial hash otherwise.
        return self.resolution <= 0x659 and self.resolution**3 <= self.size


def tcnn_levels(levels: int, log2_hashmap_size: int, base_resolution: int, scale: float) -> list[TcnnLevel]:
    """Level table as tiny-cuda-nn builds it; float32 like its host code so resolutions agree at rounding edges."""
    log2_scale = np.log2(np.float32(scale))
    out, offset = [], 0
    for level in range(levels):
        s = float(np.exp2(np.float32(level) * log2_scale) * np.float32(base_resolution) - np.float32(1.0))
        resolution = math.ceil(s) + 1
        size = min(-(-min(resolution**3, 2**31 - 1) // 8) * 8, 2**log2_hashmap_size)
        out.append(TcnnLevel(s, resolution, offset, size))
        offset += size
    return out


class TcnnParams(nn.Module):
    """Holds the flat vector under the name tcnn.Encoding uses (`params`), so both state dicts match key for key."""

    def __init__(self, n_params: int, init_scale: float) -> None:
        super().__init__()
        self.params = nn.Parameter(torch.empty(n_params).uniform_(-init_scale, init_scale))


class TcnnLayoutGridEncoding(nn.Module):
    """tiny-cuda-nn's HashGrid (linear interpolation, CoherentPrime hash) in pure torch, over tcnn's parameter layout:
    one float vector, levels concatenated, entry-major (entry * features + feature)."""

    def __init__(self, levels: int, features_per_level: int, log2_hashmap_size: int, base_resolution: int,
                 max_resolution: int, init_scale: float = 1e-4) -> None:
        super().__init__()
        self.levels = tcnn_levels(levels, log2_hashmap_size, base_resolution,
                                  per_level_scale(levels, base_resolution, max_resolution))
        self.features_per_level = features_per_level
        self.hash_mask = 2**log2_hashmap_size - 1
        n_entries = self.levels[-1].offset + self.levels[-1].size
        self.encoding = TcnnParams(n_entries * features_per_level, init_scale)
        for name, values, dtype in [("_scale", [lv.scale for lv in self.levels], torch.float32),
                                    ("_res", [lv.resolution for lv in self.levels], torch.int32),
                                    ("_size", [lv.size for lv in self.levels], torch.int32),
                                    ("_offset", [lv.offset for lv in self.levels], torch.int32),
                                    ("_dense", [lv.dense for lv in self.levels], torch.bool)]:
            self.register_buffer(name, torch.tensor(values, dtype=dtype)[:, None], persistent=False)

    @property
    def out_dim(self) -> int:
        return len(self.levels) * self.features_per_level

    def forward(self, x: Float[Tensor, "N 3"]) -> Float[Tensor, "N D"]:
        pos = ((x.clamp(-1, 1) + 1) * 0.5)[None] * self._scale[..., None] + 0.5  # L N 3, as TcnnGridEncoding feeds it
        grid = pos.floor()
        frac, grid = pos - grid, grid.int()
        idx, wts = [], []
        for i in range(8):  # bit d of i: the +1 corner along axis d, as in tcnn's kernel
            corner = [grid[..., d] + (i >> d & 1) for d in range(3)]
            wts.append(math.prod(frac[..., d] if i >> d & 1 else 1 - frac[..., d] for d in range(3)))
            idx.append(self._index(corner) + self._offset)
        table = self.encoding.params.view(-1, self.features_per_level)
        out = _HashInterpolate.apply(table, torch.stack(idx, -1), torch.stack(wts, -1))  # L N F
        return out.permute(1, 0, 2).reshape(x.shape[0], -1)

    def _index(self, corner: list[Tensor]) -> Tensor:
        """grid_index: dense stride order x + y R + z R^2, else the XOR of coordinate * prime (uint32 products:
        int32 wraps to the same low bits, and a hashed level's size is always 2^log2_hashmap_size)."""
        x, y, z = corner
        dense = (x + y * self._res + z * self._res * self._res) % self._size
        primes = [p - 2**32 if p >= 2**31 else p for p in _TCNN_PRIMES]
        hashed = (x * primes[0] ^ y * primes[1] ^ z * primes[2]) & self.hash_mask
        return torch.where(self._dense, dense, hashed)
