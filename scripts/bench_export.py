"""Mesh export benchmark: accuracy of exported meshes against the shapes world's ground truth, and export time.

    .venv/bin/python scripts/bench_export.py [--part all|accuracy|timing|marching-cubes]
        [--checkpoints outputs/a-red-cube-sds-s0 ...] [--shapes cube mug ...] [--resolutions 128 256 512]

Fields: `--checkpoints` takes trained runs (e.g. from `scoredream generate "a red cube"` on the embedded prior;
the prompt names the ground-truth shape); without it each shape's ground-truth field (scoredream.world.field,
what a perfectly trained field would be) is exported, so the pipeline can be measured without training.

Metrics, in field units (shapes fit in a ball of radius 0.5): Chamfer distance to the true surface, the mean of
both directions (20k points sampled on the mesh -> |SDF|; 20k points on the true surface -> distance to the mesh),
and 3D IoU of the mesh's inside against the shape's on a 64^3 voxel grid (as in scoredream.world.evaluate).
Timing: wall time of each stage with the default settings (GLB, UV texture 1024, decimation to 50k faces), one
thread (torch.set_num_threads(1)).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import tyro

from scoredream.export import ExportConfig, export_mesh
from scoredream.export.extract import sample_grid
from scoredream.export.write import WORLD_TO_Y_UP
from scoredream.fields import Field
from scoredream.run_folder import RunFolder
from scoredream.world.field import WorldField
from scoredream.world.shapes import COLOURS, SHAPE_NAMES, SHAPES, parse_prompt
from scoredream.world.truth import grid_points, occupancy, surface_points

DEFAULT_COLOUR = {"cube": "red", "sphere": "green", "cylinder": "blue", "cone": "orange", "torus": "purple",
                  "mug": "yellow"}


@dataclass
class BenchArgs:
    part: Literal["all", "accuracy", "timing", "marching-cubes"] = "all"
    checkpoints: tuple[Path, ...] = ()
    """trained run folders or checkpoint files; default: the world's ground-truth fields"""
    shapes: tuple[str, ...] = SHAPE_NAMES
    """ground-truth shapes for the accuracy table (ignored with --checkpoints)"""
    accuracy_resolution: int = ExportConfig().resolution
    resolutions: tuple[int, ...] = (128, 256, 512)
    """export resolutions for the timing table"""
    timing_shape: str = "mug"
    out: Path = Path("outputs/bench_export")
    threads: int = 1


def world_points(mesh_vertices: np.ndarray, config: ExportConfig) -> np.ndarray:
    """Undo the file's axis mapping and scale."""
    rotation = WORLD_TO_Y_UP if config.up == "y" else np.eye(3)
    return mesh_vertices @ rotation / config.scale


def mesh_metrics(vertices: np.ndarray, faces: np.ndarray, shape: str) -> dict[str, float]:
    """Chamfer to the true surface: mesh samples -> |SDF| (exact), true surface samples -> distance to the mesh
    (exact, scoredream.export.measure: the same numbers open3d's RaycastingScene gave, without needing open3d)."""
    import trimesh

    from scoredream.export.measure import distance_to_mesh, inside_mesh

    mesh = trimesh.Trimesh(vertices, faces, process=False)
    ours = trimesh.sample.sample_surface(mesh, 20_000, seed=0)[0]
    to_truth = SHAPES[shape](torch.as_tensor(ours, dtype=torch.float32)).abs().numpy()
    truth = surface_points(shape, 20_000, torch.Generator().manual_seed(0)).numpy()
    to_mesh = distance_to_mesh(truth, vertices, faces)
    points = grid_points(64).reshape(-1, 3).numpy()
    inside = inside_mesh(points, vertices, faces)
    true_inside = occupancy(shape, 64).reshape(-1).numpy()
    iou = (inside & true_inside).sum() / max((inside | true_inside).sum(), 1)
    return {"chamfer": float(0.5 * (to_truth.mean() + to_mesh.mean())), "iou": float(iou),
            "watertight": bool(mesh.is_watertight)}


def load_fields(args: BenchArgs) -> list[tuple[str, str, Field]]:
    """(label, ground-truth shape, field) for each checkpoint or ground-truth shape."""
    if not args.checkpoints:
        return [(f"a {DEFAULT_COLOUR[s]} {s} (ground-truth field)", s, WorldField(s, DEFAULT_COLOUR[s]))
                for s in args.shapes]
    from scoredream.train import load_checkpoint

    fields = []
    for path in args.checkpoints:
        ckpt = load_checkpoint(path)
        _, shape = parse_prompt(ckpt.config.prompt)
        fields.append((f"{ckpt.config.prompt} ({RunFolder.of(ckpt.path).root.name}, step {ckpt.step})", shape,
                       ckpt.build_field("cpu")))
    return fields


def accuracy(args: BenchArgs) -> list[dict]:
    config = ExportConfig(resolution=args.accuracy_resolution)
    rows = []
    for label, shape, field in load_fields(args):
        result = export_mesh(field, args.out / f"{shape}-{len(rows)}.glb", config)
        m = result.mesh
        metrics = mesh_metrics(world_points(m.vertices, config), m.faces, shape)
        rows.append({"field": label, "faces": result.num_faces, "threshold": result.threshold, **metrics,
                     "seconds": sum(result.seconds.values())})
        print(f"| {label} | {metrics['chamfer']:.4f} | {metrics['iou']:.3f} | {metrics['watertight']} "
              f"| {result.num_faces} | {rows[-1]['seconds']:.1f} |", flush=True)
    return rows


def timing(args: BenchArgs) -> list[dict]:
    """Export time by resolution: of the first --checkpoints run, or of --timing-shape's ground-truth field."""
    if args.checkpoints:
        label, shape, field = load_fields(dataclasses.replace(args, checkpoints=args.checkpoints[:1]))[0]
    else:
        shape, field = args.timing_shape, WorldField(args.timing_shape, DEFAULT_COLOUR[args.timing_shape])
        label = f"{shape} (ground-truth field)"
    print(f"timing: {label}")
    rows = []
    for resolution in args.resolutions:
        config = ExportConfig(resolution=resolution)
        start = time.perf_counter()
        result = export_mesh(field, args.out / f"timing-{resolution}.glb", config)
        total = time.perf_counter() - start
        metrics = mesh_metrics(world_points(result.mesh.vertices, config), result.mesh.faces, shape)
        rows.append({"resolution": resolution, "grid": result.grid_shape, "total": total, **result.seconds,
                     **metrics})
        s = result.seconds
        print(f"| {resolution} | {'x'.join(map(str, result.grid_shape))} | {s['extract']:.1f} | {s['cleanup']:.1f} "
              f"| {s['vertex_colors'] + s['texture']:.1f} | {s['write']:.1f} | {total:.1f} "
              f"| {metrics['chamfer']:.4f} | {metrics['iou']:.3f} |", flush=True)
    return rows


def marching_cubes_libraries(args: BenchArgs) -> list[dict]:
    """scikit-image (Lewiner) against PyMCubes on the same density grids (the mug's ground-truth field)."""
    import mcubes
    from skimage.measure import marching_cubes

    field = WorldField(args.timing_shape, DEFAULT_COLOUR[args.timing_shape])
    rows = []
    for resolution in args.resolutions:
        grid = sample_grid(field, np.full(3, -0.5), 1.0 / (resolution - 1), (resolution,) * 3, 1 << 18).values
        level = field.peak / 2
        start = time.perf_counter()
        _, sk_faces, _, _ = marching_cubes(grid, level)
        sk = time.perf_counter() - start
        start = time.perf_counter()
        _, mc_faces = mcubes.marching_cubes(grid, level)
        mc = time.perf_counter() - start
        rows.append({"resolution": resolution, "skimage": sk, "pymcubes": mc, "faces": [len(sk_faces), len(mc_faces)]})
        print(f"| {resolution}^3 | {sk:.2f} | {mc:.2f} | {len(sk_faces)} | {len(mc_faces)} |", flush=True)
    return rows


def main() -> None:
    args = tyro.cli(BenchArgs)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"args": json.loads(json.dumps(dataclasses.asdict(args), default=str))}
    if args.part in ("all", "accuracy"):
        print(f"\nAccuracy at resolution {args.accuracy_resolution} (default settings, GLB):\n")
        print("| field | Chamfer | IoU (64^3) | watertight | faces | seconds |\n|---|---|---|---|---|---|")
        results["accuracy"] = accuracy(args)
    if args.part in ("all", "timing"):
        print(f"\nExport time of the {args.timing_shape} by resolution (seconds, one thread):\n")
        print("| resolution | fine grid | extract | cleanup | colour + texture | write | total | Chamfer | IoU |\n"
              "|---|---|---|---|---|---|---|---|---|")
        results["timing"] = timing(args)
    if args.part in ("all", "marching-cubes"):
        print("\nMarching cubes (seconds, one thread):\n")
        print("| grid | scikit-image | PyMCubes | faces (skimage) | faces (PyMCubes) |\n|---|---|---|---|---|")
        results["marching_cubes"] = marching_cubes_libraries(args)
    (args.out / f"results-{args.part}.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    assert set(DEFAULT_COLOUR) == set(SHAPE_NAMES) and set(DEFAULT_COLOUR.values()) <= set(COLOURS)
    main()
