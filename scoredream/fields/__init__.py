"""Neural fields: points -> density, colour and the 16-wide PVD feature. One interface, several architectures."""

from __future__ import annotations

from typing import Literal

from scoredream.fields.base import FEATURE_DIM, Field, FieldOutputs
from scoredream.fields.hashgrid import HashGridConfig, HashGridField

FieldKind = Literal["hashgrid"]
FieldConfig = HashGridConfig
FIELD_CONFIGS: dict[str, type] = {"hashgrid": HashGridConfig}

__all__ = [
    "FEATURE_DIM",
    "FIELD_CONFIGS",
    "Field",
    "FieldConfig",
    "FieldKind",
    "FieldOutputs",
    "HashGridConfig",
    "HashGridField",
]
