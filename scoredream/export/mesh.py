"""`export_mesh(field, path, config)`: a trained field to a clean, coloured triangle mesh file.

The library call behind `scoredream export`, the end of `generate`, and the UI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jaxtyping import Float, Int

from scoredream.export.appearance import ColorRays, bake_texture, surface_colors, vertex_normals
from scoredream.export.cleanup import clean_mesh
from scoredream.export.config import ExportConfig, ExportError
from scoredream.export.deps import export_dependencies_problem
from scoredream.export.extract import extract_surface
from scoredream.export.write import MeshData, to_output_frame, write_mesh
from scoredream.fields.base import Field


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


def export_mesh(
    field_: Field, path: str | Path, config: ExportConfig | None = None, on_stage: Callable[[str], None] | None = None
) -> ExportResult:
    """Extract, clean, colour and write the field's surface. Raises ExportError (EmptySurfaceError when the
    field has no surface) before anything is written under `path`. `on_stage(name)` is called as each of
    `export_stages(config)` ends (for progress bars)."""
    config = config or ExportConfig()
    path = output_path(path, config)
    laps = Laps(on_stage)
    was_training = field_.training
    field_.eval()
    try:
        surface = extract_surface(field_, config.resolution, config.coarse_resolution, config.threshold, config.chunk)
        laps.end("extract")
        vertices, faces = clean_mesh(surface.vertices, surface.faces, config.min_component_ratio,
                                     config.target_faces, config.smooth_iterations)
        laps.end("cleanup")
        mesh = colour_mesh(field_, vertices, faces, surface.grid.spacing, config, laps)
    finally:
        field_.train(was_training)
    files = write_mesh(mesh, path, config.format)
    laps.end("write")
    grid = surface.grid
    return ExportResult(
        path=files[-1],
        files=files,
        num_vertices=len(mesh.texture.source) if mesh.texture is not None else len(mesh.vertices),
        num_faces=len(faces),
        threshold=surface.threshold,
        box=(tuple(grid.lo.tolist()), tuple(grid.hi.tolist())),  # type: ignore[arg-type]
        grid_shape=grid.values.shape,  # type: ignore[arg-type]
        seconds=laps.seconds,
        mesh=mesh,
    )


def output_path(path: str | Path, config: ExportConfig) -> Path:
    """The file to write (`path` with the format's suffix added if it has none), once the settings, the optional
    dependencies and the suffix are known to be fine; raises ExportError otherwise."""
    config.validate()
    problem = export_dependencies_problem(config)
    if problem:
        raise ExportError(problem)
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(f".{config.format}")
    if path.suffix.lower() != f".{config.format}":
        raise ExportError(f"the output path {path} should end in .{config.format} for format {config.format}")
    return path


def export_stages(config: ExportConfig) -> list[str]:
    """The stages an export runs, in order."""
    texture = ["texture"] if config.texture and config.format != "ply" else []
    return ["extract", "cleanup", "vertex_colors", *texture, "write"]


class Laps:
    """Wall time of consecutive stages: `end(name)` records the time since the previous stage ended."""

    def __init__(self, on_lap: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()
        self.on_lap = on_lap

    def end(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name], self._clock = now - self._clock, now
        if self.on_lap is not None:
            self.on_lap(name)


def colour_mesh(
    field_: Field,
    vertices: Float[np.ndarray, "V 3"],
    faces: Int[np.ndarray, "F 3"],
    spacing: float,
    config: ExportConfig,
    laps: Laps,
) -> MeshData:
    """Normals, vertex colours and (unless PLY or switched off) a baked texture, in the file's frame.
    `spacing`: the fine grid's cell size, the unit of `config.color_depth`."""
    normals = vertex_normals(vertices, faces)
    rays = ColorRays(field_, config.color_depth * spacing, config.color_samples, config.chunk)
    colors = surface_colors(rays, vertices, normals)
    laps.end("vertex_colors")
    texture = None
    if config.texture and config.format != "ply":
        texture = bake_texture(rays, vertices, faces, normals, config.texture_size)
        laps.end("texture")
    return MeshData(
        vertices=to_output_frame(vertices, config.up, config.scale),
        faces=faces,
        normals=to_output_frame(normals, config.up, 1.0),
        colors=colors,
        texture=texture,
    )
