"""Neural fields: points -> density, colour and the 16-wide PVD feature. One interface, several architectures."""

from __future__ import annotations

from typing import Literal

from scoredream.fields.base import FEATURE_DIM, Field, FieldOutputs
from scoredream.fields.hashgrid import HashGridConfig, HashGridField
from scoredream.fields.mlp import MLPConfig, MLPField
from scoredream.fields.tensorf import TensoRFConfig, TensoRFField
from scoredream.fields.voxel import VoxelConfig, VoxelField

FieldKind = Literal["hashgrid", "mlp", "tensorf", "voxel"]
FieldConfig = HashGridConfig | MLPConfig | TensoRFConfig | VoxelConfig
FIELD_CONFIGS: dict[str, type] = {
    "hashgrid": HashGridConfig,
    "mlp": MLPConfig,
    "tensorf": TensoRFConfig,
    "voxel": VoxelConfig,
}

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
    "VoxelConfig",
    "VoxelField",
]
