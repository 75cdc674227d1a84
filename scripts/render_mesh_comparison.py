"""Side by side: the NeRF's volume render and the exported mesh, from the same cameras, to compare by eye.

    .venv/bin/python scripts/render_mesh_comparison.py [--checkpoint outputs/a-red-cube-sds-s0] [--shape mug]
        [--format glb] [--out outputs/mesh_comparison]

Exports the field with the default settings (or the flags under --mesh.*), reloads the written file with trimesh
(what a viewer gets: the baked texture, or vertex colours for PLY) and rasterises it, unlit, with a small z-buffer
under the renderer's own cameras (orbit, elevation 15 deg, distance 1.75, fovy 50). Top row: NeRF; bottom row:
mesh. Without --checkpoint the field is a shapes-world ground-truth field (scoredream.world.field).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
import tyro
from PIL import Image

from scoredream.export import ExportConfig, export_mesh
from scoredream.export.appearance import rasterize_uv
from scoredream.export.write import WORLD_TO_Y_UP
from scoredream.fields import Field
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import Cameras, orbit_cameras
from scoredream.render.volume import RenderConfig, render
from scoredream.run_folder import RunFolder


@dataclass
class Args:
    checkpoint: Path | None = None
    """a trained run folder or checkpoint; default: the ground-truth field of --shape"""
    shape: str = "mug"
    colour: str = "yellow"
    views: int = 4
    resolution: int = 256
    out: Path = Path("outputs/mesh_comparison")
    mesh: ExportConfig = dataclasses.field(default_factory=ExportConfig)


def load_field(args: Args) -> tuple[Field, str]:
    if args.checkpoint is None:
        from scoredream.world.field import WorldField

        return WorldField(args.shape, args.colour), f"{args.colour}-{args.shape}"
    from scoredream.train import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    return ckpt.build_field("cpu"), RunFolder.of(ckpt.path).root.name


def mesh_colours_at(mesh: trimesh.Trimesh, faces: np.ndarray, bary: np.ndarray) -> np.ndarray:
    if isinstance(mesh.visual, trimesh.visual.TextureVisuals):
        material = mesh.visual.material
        image = np.asarray(getattr(material, "baseColorTexture", None) or material.image)[..., :3] / 255.0
        uv = np.einsum("nk,nkd->nd", bary, mesh.visual.uv[mesh.faces[faces]])
        size = image.shape[0]
        col = np.clip((uv[:, 0] * size).astype(int), 0, size - 1)
        row = np.clip(((1 - uv[:, 1]) * size).astype(int), 0, size - 1)
        return image[row, col]
    colours = mesh.visual.vertex_colors[:, :3] / 255.0
    return np.einsum("nk,nkd->nd", bary, colours[mesh.faces[faces]])


def rasterize_mesh(mesh: trimesh.Trimesh, world_vertices: np.ndarray, cameras: Cameras, size: int) -> np.ndarray:
    """Unlit z-buffered render of the mesh's colours on white, [B, size, size, 3]."""
    images = []
    for c2w, fovy in zip(cameras.c2w.numpy().astype(np.float64), cameras.fovy.numpy(), strict=True):
        cam = (world_vertices - c2w[:3, 3]) @ c2w[:3, :3]  # camera frame: looks down -z
        depth = -cam[:, 2]
        ndc = cam[:, :2] / depth[:, None] / np.tan(fovy / 2)
        # rasterize_uv's image frame: u right, v up, both in [0, 1].
        uv = (ndc + 1) / 2
        rows, cols, faces, bary = rasterize_uv(uv, mesh.faces, size)
        z = np.einsum("nk,nk->n", bary, depth[mesh.faces[faces]])
        zbuffer = np.full(size * size, np.inf)
        pixel = rows * size + cols
        np.minimum.at(zbuffer, pixel, z)
        front = z <= zbuffer[pixel]
        image = np.ones((size * size, 3))
        image[pixel[front]] = mesh_colours_at(mesh, faces[front], bary[front])
        images.append(image.reshape(size, size, 3))
    return np.stack(images)


def main() -> None:
    args = tyro.cli(Args)
    torch.set_num_threads(1)
    field, name = load_field(args)
    args.out.mkdir(parents=True, exist_ok=True)
    result = export_mesh(field, args.out / f"{name}.{args.mesh.format}", args.mesh)
    mesh = trimesh.load(result.path, force="mesh", process=False)
    rotation = WORLD_TO_Y_UP if args.mesh.up == "y" else np.eye(3)
    world_vertices = np.asarray(mesh.vertices) @ rotation / args.mesh.scale
    cameras = orbit_cameras(args.views, elevation=15.0, distance=1.75, fovy=50.0)
    with torch.no_grad():
        nerf = render(field, cameras, args.resolution, args.resolution, BackgroundConfig(kind="solid").setup(),
                      RenderConfig(num_samples=256)).rgb.clamp(0, 1).numpy()
    ours = rasterize_mesh(mesh, world_vertices, cameras, args.resolution)
    grid = np.concatenate([np.concatenate(list(nerf), 1), np.concatenate(list(ours), 1)], 0)
    path = args.out / f"{name}-nerf-vs-mesh.png"
    Image.fromarray(np.round(grid * 255).astype(np.uint8)).save(path)
    print(f"mesh: {result.path} ({result.num_faces} faces)\ncomparison (top: NeRF, bottom: mesh): {path}")


if __name__ == "__main__":
    main()
