"""Neural fields: points -> density, colour and the 16-wide PVD feature. One interface, several architectures."""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from scoredream.fields.base import FEATURE_DIM, Field, FieldOutputs
from scoredream.fields.hashgrid import GridLayout, HashGridConfig, HashGridField
from scoredream.fields.mlp import MLPConfig, MLPField
from scoredream.fields.tensorf import TensoRFConfig, TensoRFField
from scoredream.fields.triplane import TriplaneConfig, TriplaneField
from scoredream.fields.voxel import VoxelConfig, VoxelField

FieldKind = Literal["hashgrid", "mlp", "tensorf", "voxel", "triplane"]
FieldConfig = HashGridConfig | MLPConfig | TensoRFConfig | VoxelConfig | TriplaneConfig
FIELD_CONFIGS: dict[str, type] = {
    "hashgrid": HashGridConfig,
    "mlp": MLPConfig,
    "tensorf": TensoRFConfig,
    "voxel": VoxelConfig,
    "triplane": TriplaneConfig,
}



def build_field(config: FieldConfig, device: str | torch.device = "cpu", layout: GridLayout | None = None) -> Field:
    """The field `config` describes, on `device`. `layout` (hash grids only; see `state_layout`) builds the grid
    whose weights a checkpoint holds; None: the layout of the backend the config picks there (tiny-cuda-nn only
    on CUDA)."""
    if isinstance(config, HashGridConfig):
        if torch.device(device).type != "cuda":
            config = dataclasses.replace(config, backend="torch")
        return config.setup(layout).to(device)
    return config.setup().to(device)


__all__ = [
    "FEATURE_DIM",
    "FIELD_CONFIGS",
    "Field",
    "FieldConfig",
    "FieldKind",
    "FieldOutputs",
    "HashGridConfig",
    "HashGridField",
    "MLPConfig",
    "MLPField",
    "TensoRFConfig",
    "TensoRFField",
    "TriplaneConfig",
    "TriplaneField",
    "VoxelConfig",
    "VoxelField",
    "build_field",
]
