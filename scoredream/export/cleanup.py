"""Mesh cleanup with open3d: merge duplicates, drop degenerate faces and small components, optionally decimate and
smooth, and wind every component so its normals point outwards."""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import Float, Int

from scoredream.export.config import ExportError


def import_open3d() -> Any:
    try:
        import open3d
    except ImportError as e:
        # The PyPI wheels link libusb (for RealSense cameras); bare Debian images lack it.
        hint = " (on Debian/Ubuntu: apt-get install libusb-1.0-0)" if "libusb" in str(e) else ""
        raise ExportError(f"mesh cleanup needs open3d, which does not import: {e}{hint}") from e
    return open3d


def component_labels(faces: Int[np.ndarray, "F 3"], num_vertices: int) -> Int[np.ndarray, " F"]:
    """Connected component of each face (faces sharing a vertex are connected)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(num_vertices, num_vertices))
    _, vertex_label = connected_components(graph, directed=False)
    return vertex_label[faces[:, 0]]


def signed_volumes(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Enclosed volume of each component (positive when its faces wind counter-clockwise seen from outside)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    per_face = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return np.bincount(labels, weights=per_face)


def orient_outwards(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip the winding of every component whose enclosed volume is negative (inside out)."""
    if len(faces) == 0:
        return faces
    labels = component_labels(faces, len(vertices))
    flip = signed_volumes(vertices, faces, labels)[labels] < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, ::-1]
    return faces


def clean_mesh(
    vertices: Float[np.ndarray, "V 3"],
    faces: Int[np.ndarray, "F 3"],
    min_component_ratio: float,
    target_faces: int,
    smooth_iterations: int,
) -> tuple[Float[np.ndarray, "V2 3"], Int[np.ndarray, "F2 3"]]:
    o3d = import_open3d()
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.ascontiguousarray(vertices, dtype=np.float64)),
        o3d.utility.Vector3iVector(np.ascontiguousarray(faces, dtype=np.int32)),
    )

    def tidy() -> None:
        mesh.remove_duplicated_vertices()
        mesh.remove_duplicated_triangles()
        mesh.remove_degenerate_triangles()
        mesh.remove_unreferenced_vertices()

    tidy()
    if min_component_ratio > 0 and len(mesh.triangles):
        cluster, counts, _ = mesh.cluster_connected_triangles()
        counts = np.asarray(counts)
        small = counts < min_component_ratio * counts.max()
        mesh.remove_triangles_by_mask(small[np.asarray(cluster)])
        mesh.remove_unreferenced_vertices()
    if 0 < target_faces < len(mesh.triangles):
        mesh = mesh.simplify_quadric_decimation(target_number_of_triangles=target_faces)
        tidy()
    if smooth_iterations > 0:
        mesh = mesh.filter_smooth_taubin(number_of_iterations=smooth_iterations)
        tidy()
    out_vertices = np.asarray(mesh.vertices, dtype=np.float64)
    out_faces = orient_outwards(out_vertices, np.asarray(mesh.triangles, dtype=np.int64))
    return out_vertices, out_faces
