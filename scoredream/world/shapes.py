"""The shapes of the embedded world as exact (or lower-bound, 1-Lipschitz) signed distance functions.

World frame as in `scoredream.render.cameras`: +Z up, the object's front faces +X (a camera at azimuth 0 sits
on +X). Every shape is centred at the origin and fits inside a sphere of radius 0.53 (the cube's corners).

The mug is the one shape whose views differ: its handle sticks out towards +Y, so seen from the front (camera
on +X) the handle is on the image's right, seen from the back (camera on -X) it is on the left, and seen from a
side it is in the middle of the image (camera on +Y) or hidden behind the body (camera on -Y).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

SDF = Callable[[Float[Tensor, "*N 3"]], Float[Tensor, "*N"]]

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.10),
    "orange": (1.00, 0.55, 0.05),
    "yellow": (0.95, 0.90, 0.10),
    "green": (0.10, 0.75, 0.20),
    "cyan": (0.10, 0.80, 0.85),
    "blue": (0.15, 0.25, 0.95),
    "purple": (0.55, 0.15, 0.80),
    "pink": (1.00, 0.45, 0.70),
}

BOUND_RADIUS = 0.53
"""every shape lies inside this sphere around the origin"""


def _length2(x: Tensor, y: Tensor) -> Tensor:
    return torch.sqrt(x * x + y * y)


def sdf_box(p: Float[Tensor, "*N 3"], half: float = 0.3) -> Float[Tensor, "*N"]:
    q = p.abs() - half
    return q.clamp_min(0).norm(dim=-1) + q.max(dim=-1).values.clamp_max(0)


def sdf_sphere(p: Float[Tensor, "*N 3"], radius: float = 0.4) -> Float[Tensor, "*N"]:
    return p.norm(dim=-1) - radius


def sdf_cylinder(
    p: Float[Tensor, "*N 3"], radius: float = 0.2, half_height: float = 0.42, z_centre: float = 0.0
) -> Float[Tensor, "*N"]:
    """Capped cylinder along Z. Tall and thin by default, so that a mug whose handle is hidden behind it (seen
    from -Y) is not a cylinder too."""
    dx = _length2(p[..., 0], p[..., 1]) - radius
    dz = (p[..., 2] - z_centre).abs() - half_height
    outside = _length2(dx.clamp_min(0), dz.clamp_min(0))
    return outside + torch.maximum(dx, dz).clamp_max(0)


def sdf_cone(
    p: Float[Tensor, "*N 3"], radius: float = 0.35, half_height: float = 0.35
) -> Float[Tensor, "*N"]:
    """Cone along Z with its base (given radius) at z = -half_height and its apex at z = +half_height.

    Inigo Quilez's exact capped cone with a zero top radius."""
    qx, qy = _length2(p[..., 0], p[..., 1]), p[..., 2]
    h, r1 = half_height, radius
    # Point on the cap (bottom disc, or the apex at the top) nearest to q.
    cap_r = torch.where(qy < 0, torch.full_like(qx, r1), torch.zeros_like(qx))
    ca_x, ca_y = qx - torch.minimum(qx, cap_r), qy.abs() - h
    # Point on the slanted side nearest to q: k1 is the apex, k2 the side's direction (apex minus base rim).
    k2x, k2y = -r1, 2 * h
    s = (((0 - qx) * k2x + (h - qy) * k2y) / (k2x * k2x + k2y * k2y)).clamp(0, 1)
    cb_x, cb_y = qx - 0 + k2x * s, qy - h + k2y * s
    inside = (cb_x < 0) & (ca_y < 0)
    dist = torch.sqrt(torch.minimum(ca_x * ca_x + ca_y * ca_y, cb_x * cb_x + cb_y * cb_y))
    return torch.where(inside, -dist, dist)


def sdf_torus(p: Float[Tensor, "*N 3"], major: float = 0.3, minor: float = 0.12) -> Float[Tensor, "*N"]:
    """Torus lying flat: its axis is Z."""
    return _length2(_length2(p[..., 0], p[..., 1]) - major, p[..., 2]) - minor


MUG_TOP = 0.3
"""height of the cup's rim (the cup spans z -0.3 to 0.3)"""
MUG_FLOOR = -0.24
"""height of the cavity's floor: the cup's bottom is 0.06 thick"""


def mug_body(p: Float[Tensor, "*N 3"]) -> Float[Tensor, "*N"]:
    """The mug's cup filled: outer radius 0.25, height 0.6."""
    return sdf_cylinder(p, radius=0.25, half_height=MUG_TOP)


def mug_cup(p: Float[Tensor, "*N 3"], floor: float = MUG_FLOOR) -> Float[Tensor, "*N"]:
    """The open cup, walls 0.04 thick, its cavity from `floor` up (MUG_TOP or higher: the cup filled); the cavity
    pokes out of the top, so the rim is open."""
    top = MUG_TOP + 0.1
    cavity = sdf_cylinder(p, radius=0.21, half_height=(top - floor) / 2, z_centre=(top + floor) / 2)
    return torch.maximum(mug_body(p), -cavity)


def mug_handle(p: Float[Tensor, "*N 3"]) -> Float[Tensor, "*N"]:
    """Ring handle in the YZ plane (axis X) centred on the +Y wall; the half inside the cup is cut away."""
    ring = _length2(_length2(p[..., 1] - 0.25, p[..., 2]) - 0.14, p[..., 0]) - 0.035
    return torch.maximum(ring, 0.22 - p[..., 1])


def sdf_mug(p: Float[Tensor, "*N 3"]) -> Float[Tensor, "*N"]:
    """An open cup (outer radius 0.25, height 0.6, walls 0.04 thick) with a ring handle on its +Y side."""
    return torch.minimum(mug_cup(p), mug_handle(p))


SHAPES: dict[str, SDF] = {
    "cube": sdf_box,
    "sphere": sdf_sphere,
    "cylinder": sdf_cylinder,
    "cone": sdf_cone,
    "torus": sdf_torus,
    "mug": sdf_mug,
}

SHAPE_NAMES: tuple[str, ...] = tuple(SHAPES)
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
SIDES: tuple[str, ...] = ("front", "side", "back")
"""which side of the mug faces the camera (the judge's third head); same azimuth bins as the view prompts"""


def prompt(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def all_prompts() -> list[str]:
    return [prompt(c, s) for s in SHAPE_NAMES for c in COLOUR_NAMES]


def parse_prompt(text: str) -> tuple[str, str]:
    """(colour, shape) of a world prompt such as "a red mug" or "a red mug, front view"."""
    words = text.split(",")[0].split()
    if len(words) != 3 or words[0] != "a" or words[1] not in COLOURS or words[2] not in SHAPES:
        raise ValueError(f"'{text}' is not a shapes-world prompt ('a <colour> <shape>')")
    return words[1], words[2]


def side_index(azimuth_deg: Float[Tensor, " B"]) -> Tensor:
    """Index into SIDES of the mug's side facing a camera at this azimuth (elevation is ignored)."""
    az = azimuth_deg.abs()
    idx = torch.full_like(az, SIDES.index("side"), dtype=torch.long)
    idx[az < 45] = SIDES.index("front")
    idx[az > 135] = SIDES.index("back")
    return idx
