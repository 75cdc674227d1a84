"""Export settings and errors: plain dataclasses, importable without torch (the CLI builds its parser from them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

FORMATS: tuple[str, ...] = ("glb", "obj", "ply")


class ExportError(ValueError):
    """A mesh export cannot be done as asked: unknown format, no surface, bad settings, unwritable path."""


class EmptySurfaceError(ExportError):
    """The field has no surface at the chosen density level (an empty scene, or a threshold above the object)."""


@dataclass
class ExportConfig:
    """Mesh extraction, cleanup, colour and file settings."""

    enabled: bool = True
    """export a mesh at the end of `generate` (the `export` command ignores this)"""
    format: Literal["glb", "obj", "ply"] = "glb"
    """glb (glTF binary, PBR texture), obj (+ mtl + png), or ply (vertex colours)"""
    resolution: int = 192
    """grid samples along the longest side of the object's bounding box (the fine pass); 192 keeps the export
    benchmark's Chamfer and IoU of 256 (README) at about half the time"""
    coarse_resolution: int = 64
    """grid samples along each axis of the whole field cube, to find the object's bounding box"""
    threshold: float | None = None
    """density of the surface; default: the level at which rays along the grid reach opacity 0.5 (median)"""
    chunk: int = 1 << 18
    """points per field query, so memory stays bounded at any resolution"""
    min_component_ratio: float = 0.02
    """drop connected pieces with fewer faces than this fraction of the largest piece (0: keep all)"""
    target_faces: int = 50_000
    """quadric decimation to about this many faces (at most ~10 % more; 0: keep every face); UV unwrap time grows
    with it"""
    smooth_iterations: int = 0
    """Taubin smoothing iterations (0: none); smooths marching-cubes terracing without shrinking"""
    texture: bool = True
    """bake a UV texture (GLB base colour, OBJ map_Kd); PLY always carries vertex colours only"""
    texture_size: int = 512
    """texture width and height in texels (a CPU-trained field's colour is smooth; raise it for sharper priors)"""
    color_samples: int = 8
    """field samples along each colour ray through the surface"""
    color_depth: float = 2.0
    """half-length of each colour ray, in fine-grid cells"""
    up: Literal["y", "z"] = "y"
    """up axis of the file: y (glTF, Blender's importers) maps world (x, y, z) to (y, z, x); z keeps world axes"""
    scale: float = 1.0
    """metres per field unit (glTF's unit is the metre; shapes-world objects are about 0.6 units tall)"""

    def validate(self) -> None:
        # NaN passes every `<` / `>` check below unnoticed (all comparisons are False), so it is caught first.
        bad = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if isinstance(getattr(self, f.name), float)
               and not math.isfinite(getattr(self, f.name))]
        if bad:
            raise ExportError(f"export settings must be finite numbers, got {', '.join(bad)}")
        if self.format not in FORMATS:
            raise ExportError(f"unknown mesh format '{self.format}'; choose one of {', '.join(FORMATS)}")
        # 1024^3 float32 samples are 4 GiB, and the threshold search needs a few grids' worth: the most 24 GiB holds.
        if not 16 <= self.resolution <= 1024 or not 8 <= self.coarse_resolution <= 256:
            raise ExportError("export resolution must be in [16, 1024] and coarse_resolution in [8, 256]")
        if self.threshold is not None and not self.threshold > 0:
            raise ExportError(f"the density threshold must be positive, got {self.threshold}")
        if self.texture and not 16 <= self.texture_size <= 8192:
            raise ExportError("texture_size must be in [16, 8192]")
        if self.color_samples < 1 or self.chunk < 1 or self.scale <= 0 or self.color_depth <= 0:
            raise ExportError("color_samples and chunk must be at least 1, and scale and color_depth positive")
        if self.target_faces < 0 or self.smooth_iterations < 0:
            raise ExportError(f"target_faces (0: keep every face) and smooth_iterations (0: none) must not be "
                              f"negative, got {self.target_faces} and {self.smooth_iterations}")
        if not 0 <= self.min_component_ratio < 1:
            raise ExportError(f"min_component_ratio must be in [0, 1) (0: keep every piece), got "
                              f"{self.min_component_ratio}")
