"""Hash-grid NeRF (Instant-NGP encoding + a small MLP), the default field for score distillation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields.base import FEATURE_DIM, Field, FieldExtentConfig
from scoredream.fields.grid_encoding import (
    TcnnGridEncoding,
    TcnnLayoutGridEncoding,
    TorchGridEncoding,
    tcnn_available,
)
from scoredream.progress import ramp


@dataclass
class HashGridConfig(FieldExtentConfig):
    """Defaults are sized for CPU renders of 32-64 px (scripts/bench_speed.py): on a CPU every step pays for the
    whole table (gradient zeroing, Adam), so 1.4M parameters train ~3x faster per step than threestudio's
    reference field (16 levels x 2, table 2^19, max resolution 4096), which GPU users can restore with flags."""

    levels: int = 12
    """resolution levels"""
    features_per_level: int = 2
    """features stored per level"""
    log2_hashmap_size: int = 16
    """log2 of each hashed level's table size"""
    base_resolution: int = 16
    """coarsest grid resolution"""
    max_resolution: int = 256
    """finest grid resolution"""
    dense_max_resolution: int = 64
    """levels up to this resolution are dense grids (fast on a CPU); only finer ones are hashed (torch path)"""
    hidden_dim: int = 64
    """width of the MLP after the encoding"""
    backend: Literal["auto", "torch", "tcnn"] = "auto"
    """tcnn: tiny-cuda-nn kernels (CUDA only, optional install); auto: tcnn when importable on CUDA"""
    progressive_levels: int = 0
    """coarse to fine (threestudio's ProgressiveBandHashGrid): train with only this many coarsest levels until
    progressive_start, then add levels evenly until all are on at progressive_end (0: all levels throughout)"""
    progressive_start: float = 0.2
    """fraction of the run where finer levels start to be added"""
    progressive_end: float = 0.6
    """fraction of the run from which every level is on"""

    def levels_at(self, progress: float) -> int:
        """Levels in use at this point of the run."""
        if not self.progressive_levels or self.progressive_levels >= self.levels or progress >= self.progressive_end:
            return self.levels
        k = ramp(progress, self.progressive_start, self.progressive_end)
        return self.progressive_levels + int(k * (self.levels - self.progressive_levels))

    def setup(self, layout: GridLayout | None = None) -> HashGridField:
        return HashGridField(self, layout)


GridLayout = Literal["torch", "tcnn"]
BACKENDS = ("torch", "tcnn", "tcnn-layout-torch")
"""what `grid_backend` records: our grid; tiny-cuda-nn's kernel; tiny-cuda-nn's layout read by the pure-torch copy"""
LAYOUT_KEYS: dict[str, GridLayout] = {"encoding.hash_table": "torch", "encoding.encoding.params": "tcnn"}
"""a key that only that layout's encoding has (checkpoints written before `grid_backend` existed lack the marker)"""


class GridLayoutError(ValueError):
    """A hash grid's weights are in a layout this field cannot read exactly."""


def state_layout(state: dict[str, Tensor]) -> GridLayout | None:
    """The grid layout of a hash-grid field's state dict (None: not a hash-grid state)."""
    by_keys = next((layout for key, layout in LAYOUT_KEYS.items() if key in state), None)
    if by_keys is not None or "grid_backend" not in state:
        return by_keys
    return "torch" if int(state["grid_backend"]) == BACKENDS.index("torch") else "tcnn"


class HashGridField(Field):
    """`layout` None: the one `config.backend` picks (tcnn when it runs here); "tcnn" without tiny-cuda-nn
    runs its layout in pure torch, so a GPU run's checkpoint renders and exports on any machine."""

    def __init__(self, config: HashGridConfig, layout: GridLayout | None = None) -> None:
        super().__init__(config)
        self.config = config
        kernel = config.backend == "tcnn" or (config.backend == "auto" and tcnn_available())
        self.layout: GridLayout = layout or ("tcnn" if kernel else "torch")
        # An explicit backend tcnn fails in TcnnGridEncoding without tiny-cuda-nn; auto falls back to the copy.
        self.backend = "torch" if self.layout == "torch" else "tcnn" if kernel else "tcnn-layout-torch"
        self.encoding = make_encoding(config, self.backend)
        # Saved with the weights, so a checkpoint says which layout its grid tensors are in.
        self.register_buffer("grid_backend", torch.tensor(BACKENDS.index(self.backend)))
        self._register_load_state_dict_pre_hook(self._check_layout)
        self.mlp = nn.Sequential(
            nn.Linear(self.encoding.out_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, FEATURE_DIM)
        )
        self.start_sdf_at_sphere(self.mlp[-1])
        self.active_levels = config.levels  # a built field renders with every level; training sets its progress

    def _check_layout(self, state: dict[str, Tensor], prefix: str, *_: object) -> None:
        """Refuses weights of the other layout with how to convert, and keeps this field's own backend marker."""
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        found = state_layout(own)
        if found is not None and found != self.layout:
            raise GridLayoutError(layout_mismatch_message(found, self.layout))
        state[prefix + "grid_backend"] = self.grid_backend.clone()

    def set_progress(self, progress: float) -> None:
        super().set_progress(progress)
        self.active_levels = self.config.levels_at(progress)

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        features = self.encoding(points / self.bound)
        if self.active_levels < self.config.levels:  # finer levels read as zero and so learn nothing yet
            mask = torch.zeros(features.shape[-1], dtype=features.dtype, device=features.device)
            mask[: self.active_levels * self.config.features_per_level] = 1
            features = features * mask
        return self.mlp(features)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Grid tables learn with a higher rate than MLPs (threestudio: 1e-2 vs 1e-3)."""
        return {
            "grid": list(self.encoding.parameters()),
            "mlp": [*self.mlp.parameters(), *self.color_head.parameters()],
        }


def make_encoding(c: HashGridConfig, backend: str) -> nn.Module:
    if backend == "tcnn":
        return TcnnGridEncoding(c.levels, c.features_per_level, c.log2_hashmap_size, c.base_resolution,
                                c.max_resolution)
    if backend == "tcnn-layout-torch":
        return TcnnLayoutGridEncoding(c.levels, c.features_per_level, c.log2_hashmap_size, c.base_resolution,
                                      c.max_resolution)
    return TorchGridEncoding(c.levels, c.features_per_level, c.log2_hashmap_size, c.base_resolution,
                             c.max_resolution, c.dense_max_resolution)


def layout_mismatch_message(found: GridLayout, wanted: GridLayout) -> str:
    names = {"torch": "scoredream's torch", "tcnn": "tiny-cuda-nn's"}
    # The way on without converting: torch-layout grids run anywhere (pure torch, also on CUDA); tcnn-layout ones
    # are read anywhere by Checkpoint.build_field (render, export), but train fastest where tcnn is.
    keep = ("resume it with --hashgrid.backend torch (pure torch, also on CUDA)" if found == "torch"
            else "resume it where tiny-cuda-nn is installed (render and export read it on any machine)")
    return (f"its hash grid is in {names[found]} layout but this field uses {names[wanted]}; the two place their "
            "vertices differently (tiny-cuda-nn staggers each level by half a cell, with other resolutions and "
            f"table sizes), so the weights cannot be mapped exactly. Either {keep}, or distil a copy in "
            f"{names[wanted]} layout: scoredream convert RUN --to hashgrid --hashgrid.backend {wanted}")
