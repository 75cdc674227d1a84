"""Mesh export: a field's surface as a clean, coloured GLB, OBJ or PLY (see `export_mesh`).

Settings and errors import without torch; `export_mesh` and `ExportResult` load the heavy modules on first use.
"""

from typing import Any

from scoredream.export.config import FORMATS, EmptySurfaceError, ExportConfig, ExportError

__all__ = ["FORMATS", "EmptySurfaceError", "ExportConfig", "ExportError", "ExportResult", "export_dependencies_problem",
           "export_mesh", "export_stages"]


def __getattr__(name: str) -> Any:
    if name == "export_dependencies_problem":
        from scoredream.export import deps

        return deps.export_dependencies_problem
    if name in ("export_mesh", "ExportResult", "export_stages"):
        from scoredream.export import mesh

        return getattr(mesh, name)
    raise AttributeError(f"module 'scoredream.export' has no attribute '{name}'")
