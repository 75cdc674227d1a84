"""Exact point-to-mesh distance and inside tests on numpy and scipy, for the export tests and benchmark.

open3d's RaycastingScene did this before; it is optional now (its wheel needs libusb), so the metrics must not
need it. Both functions are exact, not sampled: distances are to the closest point of the closest triangle, and
inside is the parity of a ray's crossings.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float, Int
from scipy.spatial import cKDTree


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closest point of triangle (a, b, c) to p, row by row (Ericson, Real-Time Collision Detection 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = va + vb + vc
    denom = np.where(np.abs(denom) < 1e-30, 1e-30, denom)
    v, w = vb / denom, vc / denom
    out = a + ab * v[:, None] + ac * w[:, None]  # interior; the regions below override it in Ericson's order
    regions = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
         lambda: b + (c - b) * _ratio(d4 - d3, (d4 - d3) + (d5 - d6))),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), lambda: a + ac * _ratio(d2, d2 - d6)),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), lambda: a + ab * _ratio(d1, d1 - d3)),
        ((d6 >= 0) & (d5 <= d6), lambda: c),
        ((d3 >= 0) & (d4 <= d3), lambda: b),
        ((d1 <= 0) & (d2 <= 0), lambda: a),
    ]
    for mask, point in regions:  # later regions take precedence, as Ericson's early returns do
        out = np.where(mask[:, None], point(), out)
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return (num / np.where(np.abs(den) < 1e-30, 1e-30, den))[:, None]


def distance_to_mesh(
    points: Float[np.ndarray, "N 3"], vertices: Float[np.ndarray, "V 3"], faces: Int[np.ndarray, "F 3"]
) -> Float[np.ndarray, " N"]:
    """Unsigned distance from each point to the mesh surface.

    Candidates are the triangles with the nearest centroids; a point's answer is final once its k-th nearest
    centroid is farther than its best distance plus the largest triangle's circumradius (no unchecked triangle can
    be closer). Large triangles (a decimated flat side) are split first so that bound stays tight.
    """
    import trimesh.remesh

    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    edges = np.linalg.norm(vertices[faces] - vertices[np.roll(faces, 1, axis=1)], axis=-1)
    vertices, faces = trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=2 * float(np.median(edges)))
    tri = vertices[faces]
    centroids = tri.mean(1)
    radius = float(np.linalg.norm(tri - centroids[:, None], axis=-1).max())
    tree = cKDTree(centroids)
    points = np.asarray(points, dtype=np.float64)
    best = np.full(len(points), np.inf)
    todo = np.arange(len(points))
    k = 16
    while len(todo):
        k = min(k, len(faces))
        near, idx = tree.query(points[todo], k=k)
        near, idx = near.reshape(len(todo), -1), idx.reshape(len(todo), -1)
        p = np.repeat(points[todo], idx.shape[1], axis=0)
        t = tri[idx.reshape(-1)]
        d = np.linalg.norm(closest_on_triangles(p, t[:, 0], t[:, 1], t[:, 2]) - p, axis=-1)
        best[todo] = d.reshape(len(todo), -1).min(1)
        done = (near[:, -1] >= best[todo] + radius) | (k == len(faces))
        todo, k = todo[~done], 4 * k
    return best


def inside_mesh(
    points: Float[np.ndarray, "N 3"], vertices: Float[np.ndarray, "V 3"], faces: Int[np.ndarray, "F 3"]
) -> Bool[np.ndarray, " N"]:
    """Whether each point is inside the closed mesh: odd number of crossings of a ray towards +z.

    Points sharing (x, y) share one vertical line, so a voxel grid costs one line per column. The lines are
    shifted by ~1e-7 so they do not run exactly through the mesh's edges (a crossing counted twice)."""
    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    points = np.asarray(points, dtype=np.float64)
    columns, column_of = np.unique(points[:, :2], axis=0, return_inverse=True)
    column_of = column_of.reshape(-1)
    columns = columns + np.array([1.13e-7, 0.71e-7])
    tri = vertices[faces]
    lo, hi = tri[:, :, :2].min(1), tri[:, :, :2].max(1)
    tree = cKDTree(columns)
    hits = tree.query_ball_point((lo + hi) / 2, np.linalg.norm(hi - lo, axis=1) / 2 + 1e-9)
    counts = np.array([len(h) for h in hits])
    face_id = np.repeat(np.arange(len(faces)), counts)
    col = np.concatenate([np.asarray(h, dtype=np.int64) for h in hits]) if len(face_id) else face_id
    a, b, c = tri[face_id, 0], tri[face_id, 1], tri[face_id, 2]
    q = columns[col]
    den = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    safe = np.where(np.abs(den) < 1e-30, 1e-30, den)
    w1 = ((q[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (q[:, 1] - a[:, 1])) / safe
    w2 = ((b[:, 0] - a[:, 0]) * (q[:, 1] - a[:, 1]) - (q[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / safe
    w0 = 1 - w1 - w2
    crosses = (np.abs(den) >= 1e-30) & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    z = (w0 * a[:, 2] + w1 * b[:, 2] + w2 * c[:, 2])[crosses]
    col = col[crosses]
    # Crossings above each point: sort crossings by (column, z) and count those past the point's z in its column.
    order = np.lexsort((z, col))
    col, z = col[order], z[order]
    start = np.searchsorted(col, np.arange(len(columns)))
    end = np.searchsorted(col, np.arange(len(columns)), side="right")
    return _crossings_above(points[:, 2], column_of, z, start, end) % 2 == 1


def _crossings_above(pz: np.ndarray, column_of: np.ndarray, z: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> np.ndarray:
    """How many of the point's column's crossings (z sorted within each column's [start, end)) lie above it."""
    # Offset each column's z by a large multiple of its index, so one global searchsorted answers every column.
    span = float(np.abs(z).max() if len(z) else 1.0) + float(np.abs(pz).max()) + 1.0
    col_index = np.repeat(np.arange(len(start)), end - start)
    keyed = z + 4 * span * col_index
    below_or_at = np.searchsorted(keyed, pz + 4 * span * column_of, side="right")
    return end[column_of] - below_or_at
