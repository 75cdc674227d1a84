"""Mesh files: GLB (PBR base-colour texture or COLOR_0), OBJ + MTL + PNG, and PLY with vertex colours.

Every file is first written into a temporary folder beside the target and then renamed into place (companions
first, the main file last), so a failure never leaves a half-written mesh under the requested name.

Axes. scoredream's world is +Z up with the object's front facing +X. glTF is +Y up with the front facing +Z and
metres as its unit, so with `up="y"` a world point (x, y, z) is written as (y, z, x) * scale: a cyclic
permutation, hence a rotation (no mirroring, windings stay outward). Blender's glTF and OBJ importers (Y up by
default) then show the object standing upright on its base, front towards Blender's -Y (its front view).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from jaxtyping import Float, Int
from PIL import Image

from scoredream.export.appearance import Texture
from scoredream.export.config import FORMATS, ExportError

Format = Literal["glb", "obj", "ply"]
WORLD_TO_Y_UP = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
"""rows: output x, y, z as world axes (output = WORLD_TO_Y_UP @ world)"""


@dataclass
class MeshData:
    """A mesh in the output frame, with per-vertex colours and optionally its textured (seam-split) copy."""

    vertices: Float[np.ndarray, "V 3"]
    faces: Int[np.ndarray, "F 3"]
    normals: Float[np.ndarray, "V 3"]
    colors: Float[np.ndarray, "V 3"]
    texture: Texture | None = None


def to_output_frame(points: np.ndarray, up: Literal["y", "z"], scale: float) -> np.ndarray:
    rotation = WORLD_TO_Y_UP if up == "y" else np.eye(3)
    return points @ rotation.T * scale


def write_mesh(mesh: MeshData, path: Path, fmt: str) -> list[Path]:
    """Write `mesh` to `path` (plus companions for OBJ); returns the files written, main file last."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown mesh format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if path.suffix.lower() != f".{fmt}":
        raise ExportError(f"the output path {path} should end in .{fmt} for format {fmt}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as e:
        raise ExportError(f"cannot write to {path.parent}: {e.strerror or e}") from e
    try:
        names = {"glb": _write_glb, "obj": _write_obj, "ply": _write_ply}[fmt](mesh, staging / path.name)
        final = [path.parent / name for name in names]
        for name, target in zip(names, final, strict=True):
            os.replace(staging / name, target)
        return final
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _rgba8(colors: np.ndarray) -> np.ndarray:
    rgb = np.round(np.clip(colors, 0, 1) * 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], 1)


def _write_glb(mesh: MeshData, path: Path) -> list[str]:
    import trimesh
    from trimesh.visual.material import PBRMaterial
    from trimesh.visual.texture import TextureVisuals

    t = mesh.texture
    if t is not None:
        # Base colour comes from the texture alone: glTF multiplies COLOR_0 into it, which would darken it twice.
        material = PBRMaterial(baseColorTexture=Image.fromarray(t.image), metallicFactor=0.0, roughnessFactor=1.0)
        out = trimesh.Trimesh(mesh.vertices[t.source], t.faces, vertex_normals=mesh.normals[t.source],
                              visual=TextureVisuals(uv=t.uvs, material=material), process=False)
    else:
        out = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_normals=mesh.normals,
                              vertex_colors=_rgba8(mesh.colors), process=False)
    path.write_bytes(trimesh.exchange.gltf.export_glb(out, include_normals=True))
    return [path.name]


def _write_obj(mesh: MeshData, path: Path) -> list[str]:
    """OBJ with vertex colours (`v x y z r g b`, read by Blender, MeshLab, trimesh, open3d) and, when textured, a
    material whose diffuse map is the baked PNG."""
    t = mesh.texture
    source = t.source if t is not None else np.arange(len(mesh.vertices))
    faces = t.faces if t is not None else mesh.faces
    v = np.concatenate([mesh.vertices[source], np.clip(mesh.colors[source], 0, 1)], 1)
    lines = [f"# scoredream mesh: {len(v)} vertices, {len(faces)} faces"]
    names = []
    if t is not None:
        png, mtl = path.with_suffix(".png").name, path.with_suffix(".mtl").name
        Image.fromarray(t.image).save(path.parent / png)
        (path.parent / mtl).write_text(f"newmtl baked\nKa 0 0 0\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {png}\n")
        names += [png, mtl]
        lines += [f"mtllib {mtl}", "usemtl baked"]
    body = ["v " + " ".join(f"{x:.6f}" for x in row) for row in v]
    body += ["vn " + " ".join(f"{x:.5f}" for x in row) for row in mesh.normals[source]]
    f1 = faces + 1
    if t is not None:
        body += ["vt " + " ".join(f"{x:.6f}" for x in row) for row in t.uvs]
        body += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in f1]
    else:
        body += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in f1]
    path.write_text("\n".join(lines + body) + "\n")
    return [*names, path.name]


def _write_ply(mesh: MeshData, path: Path) -> list[str]:
    import trimesh

    out = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_normals=mesh.normals,
                          vertex_colors=_rgba8(mesh.colors), process=False)
    path.write_bytes(trimesh.exchange.ply.export_ply(out, encoding="binary", vertex_normal=True))
    return [path.name]
