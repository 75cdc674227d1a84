"""`export_mesh(field, path, config)`: a trained field to a clean, coloured triangle mesh file.

The library call behind `scoredream export`, the end of `generate`, and the UI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from scoredream.export.appearance import bake_texture, surface_colors, vertex_normals
from scoredream.export.cleanup import clean_mesh
from scoredream.export.extract import ExportError, extract_surface
from scoredream.export.write import FORMATS, MeshData, to_output_frame, write_mesh
from scoredream.fields.base import Field


@dataclass
class ExportConfig:
    """Mesh extraction, cleanup, colour and file settings."""

    enabled: bool = True
    """export a mesh at the end of `generate` (the `export` command ignores this)"""
    format: Literal["glb", "obj", "ply"] = "glb"
    """glb (glTF binary, PBR texture), obj (+ mtl + png), or ply (vertex colours)"""
    resolution: int = 256
    """grid samples along the longest side of the object's bounding box (the fine pass)"""
    coarse_resolution: int = 64
    """grid samples along each axis of the whole field cube, to find the object's bounding box"""
    threshold: float | None = None
    """density of the surface; default: the level at which rays along the grid reach opacity 0.5 (median)"""
    chunk: int = 1 << 18
    """points per field query, so memory stays bounded at any resolution"""
    min_component_ratio: float = 0.02
    """drop connected pieces with fewer faces than this fraction of the largest piece (0: keep all)"""
    target_faces: int = 50_000
    """quadric decimation down to this many faces (0: keep every face); UV unwrapping time grows with it"""
    smooth_iterations: int = 0
    """Taubin smoothing iterations (0: none); smooths marching-cubes terracing without shrinking"""
    texture: bool = True
    """bake a UV texture (GLB base colour, OBJ map_Kd); PLY always carries vertex colours only"""
    texture_size: int = 1024
    """texture width and height in texels"""
    color_samples: int = 8
    """field samples along each colour ray through the surface"""
    color_depth: float = 2.0
    """half-length of each colour ray, in fine-grid cells"""
    up: Literal["y", "z"] = "y"
    """up axis of the file: y (glTF, Blender's importers) maps world (x, y, z) to (y, z, x); z keeps world axes"""
    scale: float = 1.0
    """metres per field unit (glTF's unit is the metre; shapes-world objects are about 0.6 units tall)"""

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"unknown mesh format '{self.format}'; choose one of {', '.join(FORMATS)}")
        if not 16 <= self.resolution <= 2048 or not 8 <= self.coarse_resolution <= 512:
            raise ExportError("export resolution must be in [16, 2048] and coarse_resolution in [8, 512]")
        if self.threshold is not None and not self.threshold > 0:
            raise ExportError(f"the density threshold must be positive, got {self.threshold}")
        if self.texture and not 16 <= self.texture_size <= 8192:
            raise ExportError("texture_size must be in [16, 8192]")
        if self.color_samples < 1 or self.chunk < 1 or self.scale <= 0:
            raise ExportError("color_samples and chunk must be at least 1 and scale positive")


@dataclass
class ExportResult:
    path: Path
    """the main file (for OBJ the .mtl and .png are in `files` too)"""
    files: list[Path]
    num_vertices: int
    """vertices in the file (seams split by the UV unwrap count twice)"""
    num_faces: int
    threshold: float
    """density level used for the surface"""
    box: tuple[tuple[float, float, float], tuple[float, float, float]]
    """corners of the fine grid, in field coordinates"""
    grid_shape: tuple[int, int, int]
    seconds: dict[str, float] = field(default_factory=dict)
    """wall time of each stage"""
    mesh: MeshData | None = None
    """what was written, in the file's frame"""


def export_mesh(field_: Field, path: str | Path, config: ExportConfig | None = None) -> ExportResult:
    """Extract, clean, colour and write the field's surface. Raises ExportError (EmptySurfaceError when the
    field has no surface) before anything is written under `path`."""
    config = config or ExportConfig()
    config.validate()
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(f".{config.format}")
    if path.suffix.lower() != f".{config.format}":
        raise ExportError(f"the output path {path} should end in .{config.format} for format {config.format}")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name], clock = now - clock, now

    was_training = field_.training
    field_.eval()
    try:
        surface = extract_surface(field_, config.resolution, config.coarse_resolution, config.threshold, config.chunk)
        lap("extract")
        vertices, faces = clean_mesh(surface.vertices, surface.faces, config.min_component_ratio,
                                     config.target_faces, config.smooth_iterations)
        lap("cleanup")
        normals = vertex_normals(vertices, faces)
        depth = config.color_depth * surface.grid.spacing
        colors = surface_colors(field_, vertices, normals, depth, config.color_samples, config.chunk)
        lap("vertex_colors")
        texture = None
        if config.texture and config.format != "ply":
            texture = bake_texture(field_, vertices, faces, config.texture_size, depth, config.color_samples,
                                   config.chunk)
            lap("texture")
    finally:
        field_.train(was_training)
    mesh = MeshData(
        vertices=to_output_frame(vertices, config.up, config.scale),
        faces=faces,
        normals=to_output_frame(normals, config.up, 1.0),
        colors=colors,
        texture=texture,
    )
    files = write_mesh(mesh, path, config.format)
    lap("write")
    grid = surface.grid
    return ExportResult(
        path=files[-1],
        files=files,
        num_vertices=len(texture.source) if texture is not None else len(vertices),
        num_faces=len(faces),
        threshold=surface.threshold,
        box=(tuple(grid.lo.tolist()), tuple(grid.hi.tolist())),  # type: ignore[arg-type]
        grid_shape=grid.values.shape,  # type: ignore[arg-type]
        seconds=seconds,
        mesh=mesh,
    )
