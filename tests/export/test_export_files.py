"""Exported files reload in trimesh and open3d with the same counts and colours; GLB passes the Khronos glTF
validator; bad input gives a clear error and leaves no file behind."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from scoredream.export import EmptySurfaceError, ExportConfig, ExportError, export_mesh
from scoredream.export.analytic import SDFField, direction_colour
from scoredream.export.cleanup import open3d_or_none

NODE_DIR = Path(__file__).parent / "node"
SMALL = dict(resolution=48, coarse_resolution=32, target_faces=1500, texture_size=128)


def sphere_field() -> SDFField:
    return SDFField(lambda p: p.norm(dim=-1) - 0.4, direction_colour)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("meshes")
    field = sphere_field()
    return {
        "glb": export_mesh(field, folder / "m.glb", ExportConfig(**SMALL, format="glb")),
        "glb-colours": export_mesh(field, folder / "c.glb", ExportConfig(**SMALL, format="glb", texture=False)),
        "obj": export_mesh(field, folder / "m.obj", ExportConfig(**SMALL, format="obj")),
        "ply": export_mesh(field, folder / "m.ply", ExportConfig(**SMALL, format="ply")),
    }


def field_colour_in_file_frame(vertices: np.ndarray) -> np.ndarray:
    x, y, z = vertices.T  # file frame (y up) -> world (x, y, z) = (z, x, y)
    world = np.stack([z, x, y], 1)
    return (world / np.linalg.norm(world, axis=1, keepdims=True) + 1) / 2


def expected_colours(result) -> np.ndarray:
    """The field's colour at each vertex written: (direction + 1) / 2 in the world frame."""
    m = result.mesh
    return field_colour_in_file_frame(m.vertices[m.texture.source] if m.texture is not None else m.vertices)


def texture_colours(image: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup, OBJ convention (v = 0 at the image's bottom)."""
    size = image.shape[0]
    col = np.clip((uvs[:, 0] * size).astype(int), 0, size - 1)
    row = np.clip(((1 - uvs[:, 1]) * size).astype(int), 0, size - 1)
    return image[row, col, :3] / 255.0


@pytest.mark.parametrize("kind", ["glb", "glb-colours", "obj", "ply"])
def test_reload_with_trimesh_same_counts_and_colours(exports, kind):
    result = exports[kind]
    mesh = trimesh.load(result.path, force="mesh", process=False)
    assert (len(mesh.vertices), len(mesh.faces)) == (result.num_vertices, result.num_faces)
    assert np.allclose(mesh.vertices, result.mesh.vertices[result.mesh.texture.source]
                       if result.mesh.texture is not None else result.mesh.vertices, atol=1e-5)
    if isinstance(mesh.visual, trimesh.visual.TextureVisuals):
        material = mesh.visual.material
        image = np.asarray(material.baseColorTexture if kind == "glb" else material.image)
        assert np.array_equal(image[..., :3], result.mesh.texture.image)
        colours = texture_colours(image, mesh.visual.uv)
    else:
        colours = mesh.visual.vertex_colors[:, :3] / 255.0
    # Colours are the field's along the normal; the texture adds nearest-texel error at 128 x 128 texels.
    assert np.abs(colours - expected_colours(result)).mean() < (0.03 if kind in ("glb", "obj") else 0.01)


@pytest.mark.parametrize("kind", ["glb", "obj", "ply"])
def test_reload_with_open3d_same_counts_and_colours(exports, kind):
    o3d = open3d_or_none()
    if o3d is None:  # export itself does not need it (test_without_open3d.py)
        pytest.skip("open3d does not import here (its wheel links libusb-1.0: apt-get install libusb-1.0-0)")
    result = exports[kind]
    if kind == "ply":
        mesh = o3d.io.read_triangle_mesh(str(result.path))
        assert (len(mesh.vertices), len(mesh.triangles)) == (result.num_vertices, result.num_faces)
        assert np.abs(np.asarray(mesh.vertex_colors) - result.mesh.colors).max() < 1 / 255 + 1e-6
        return
    model = o3d.io.read_triangle_model(str(result.path))
    mesh = model.meshes[0].mesh  # open3d's importer reorders vertices, so compare what each corner shows
    assert (len(mesh.vertices), len(mesh.triangles)) == (result.num_vertices, result.num_faces)
    image = np.asarray(model.materials[model.meshes[0].material_idx].albedo_img)
    assert np.array_equal(image[..., :3], result.mesh.texture.image)
    corners = np.asarray(mesh.vertices)[np.asarray(mesh.triangles).reshape(-1)]
    shown = texture_colours(image, np.asarray(mesh.triangle_uvs))
    assert np.abs(shown - field_colour_in_file_frame(corners)).mean() < 0.02  # measured 0.0045


@pytest.fixture(scope="module")
def gltf_validator():
    """The Khronos validator (npm `gltf-validator`), installed into tests/export/node on first use."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed: the Khronos glTF validator runs on node")
    if not (NODE_DIR / "node_modules" / "gltf-validator").is_dir():
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"npm ci in {NODE_DIR} failed: {done.stderr}"

    def validate(path: Path) -> dict:
        done = subprocess.run(["node", str(NODE_DIR / "validate.js"), str(path)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return validate


@pytest.mark.parametrize("kind", ["glb", "glb-colours"])
def test_glb_passes_the_khronos_validator(exports, gltf_validator, kind):
    report = gltf_validator(exports[kind].path)
    issues = report["issues"]
    errors = [m for m in issues["messages"] if m["severity"] == 0]
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, errors or issues["messages"]
    info = report["info"]
    assert info["drawCallCount"] == 1 and info["totalTriangleCount"] == exports[kind].num_faces
    assert info["totalVertexCount"] == exports[kind].num_vertices
    assert info["hasTextures"] == (kind == "glb") and info["maxUVs"] == (kind == "glb")


def test_empty_scene_and_threshold_above_the_object_fail_without_a_file(tmp_path):
    empty = SDFField(lambda p: p.norm(dim=-1) + 10, direction_colour)  # density ~0 everywhere
    with pytest.raises(EmptySurfaceError, match="no surface"):
        export_mesh(empty, tmp_path / "e.glb", ExportConfig(**SMALL))
    with pytest.raises(EmptySurfaceError, match="no surface at density"):
        export_mesh(sphere_field(), tmp_path / "h.glb", ExportConfig(**SMALL, threshold=1e6))
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_mismatched_suffix_and_bad_settings(tmp_path):
    fbx = ExportConfig(**SMALL)
    fbx.format = "fbx"  # type: ignore[assignment]  # past __init__, whose type hints the tests check (beartype)
    with pytest.raises(ExportError, match="unknown mesh format 'fbx'"):
        export_mesh(sphere_field(), tmp_path / "m.fbx", fbx)
    with pytest.raises(ExportError, match="should end in .glb"):
        export_mesh(sphere_field(), tmp_path / "m.obj", ExportConfig(**SMALL, format="glb"))
    with pytest.raises(ExportError, match="resolution must be in"):
        export_mesh(sphere_field(), tmp_path / "m.glb", ExportConfig(**{**SMALL, "resolution": 4096}))
    with pytest.raises(ExportError, match="threshold must be positive"):
        export_mesh(sphere_field(), tmp_path / "m.glb", ExportConfig(**SMALL, threshold=0.0))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_fails_cleanly(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write"):
        export_mesh(sphere_field(), blocker / "m.glb", ExportConfig(**SMALL, texture=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_failure_while_writing_leaves_no_half_file(tmp_path, monkeypatch):
    import scoredream.export.write as write

    def broken_png(self, path, *args, **kwargs):  # the OBJ's texture fails after the mtl and obj were started
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("PIL.Image.Image.save", broken_png)
    with pytest.raises(ExportError, match="No space left"):
        export_mesh(sphere_field(), tmp_path / "m.obj", ExportConfig(**SMALL, format="obj"))
    assert list(tmp_path.iterdir()) == []
    assert write.FORMATS == ("glb", "obj", "ply")


def test_export_leaves_a_training_field_in_training_mode(tmp_path):
    field = sphere_field().train()
    export_mesh(field, tmp_path / "m.ply", ExportConfig(**SMALL, format="ply"))
    assert field.training and torch.is_grad_enabled()
