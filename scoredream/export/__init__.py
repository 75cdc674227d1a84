"""Mesh export: a field's surface as a clean, coloured GLB, OBJ or PLY (see `export_mesh`)."""

from scoredream.export.extract import EmptySurfaceError, ExportError
from scoredream.export.mesh import ExportConfig, ExportResult, export_mesh

__all__ = ["EmptySurfaceError", "ExportConfig", "ExportError", "ExportResult", "export_mesh"]
