"""Hash-grid NeRF (Instant-NGP encoding + a small MLP), the default field for score distillation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields.base import FEATURE_DIM, Field, FieldExtentConfig
from scoredream.fields.grid_encoding import TcnnGridEncoding, TorchGridEncoding, tcnn_available


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

    def setup(self) -> HashGridField:
        return HashGridField(self)


class HashGridField(Field):
    def __init__(self, config: HashGridConfig) -> None:
        super().__init__(config)
        self.config = config
        use_tcnn = config.backend == "tcnn" or (config.backend == "auto" and tcnn_available())
        if use_tcnn:
            self.encoding: nn.Module = TcnnGridEncoding(
                config.levels,
                config.features_per_level,
                config.log2_hashmap_size,
                config.base_resolution,
                config.max_resolution,
            )
        else:
            self.encoding = TorchGridEncoding(
                config.levels,
                config.features_per_level,
                config.log2_hashmap_size,
                config.base_resolution,
                config.max_resolution,
                config.dense_max_resolution,
            )
        self.mlp = nn.Sequential(
            nn.Linear(self.encoding.out_dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, FEATURE_DIM)
        )

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        return self.mlp(self.encoding(points / self.bound))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Grid tables learn with a higher rate than MLPs (threestudio: 1e-2 vs 1e-3)."""
        return {
            "grid": list(self.encoding.parameters()),
            "mlp": [*self.mlp.parameters(), *self.color_head.parameters()],
        }
