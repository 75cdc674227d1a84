"""What an export would be missing, found before any work: a run checks this before training, not after."""

from __future__ import annotations

import importlib

from scoredream.export.config import ExportConfig

PIP_NAMES = {"skimage.measure": "scikit-image", "scipy.sparse.csgraph": "scipy", "scipy.ndimage": "scipy",
             "trimesh": "trimesh", "PIL": "pillow", "fast_simplification": "fast-simplification",
             "xatlas": "xatlas"}


def needed_modules(config: ExportConfig) -> list[str]:
    """Modules `export_mesh(..., config)` imports. open3d is not one: cleanup falls back to trimesh without it."""
    modules = ["skimage.measure", "scipy.sparse.csgraph", "scipy.ndimage", "trimesh", "PIL"]
    if config.target_faces > 0:
        modules.append("fast_simplification")
    if config.texture and config.format != "ply":
        modules.append("xatlas")
    return modules


def export_dependencies_problem(config: ExportConfig | None = None) -> str | None:
    """None if every library the export needs imports, else one line naming what is missing and how to install
    it. Imports the modules (a broken native library fails only on import, with OSError as often as ImportError),
    but samples no field: cheap enough to call before training starts."""
    missing: dict[str, str] = {}
    for module in needed_modules(config or ExportConfig()):
        try:
            importlib.import_module(module)
        except (ImportError, OSError) as e:
            missing.setdefault(PIP_NAMES[module], f"{module.split('.')[0]}: {e}")
    if not missing:
        return None
    return (f"mesh export needs {', '.join(missing)}, which do not import ({'; '.join(missing.values())}): "
            f"pip install {' '.join(missing)}")
