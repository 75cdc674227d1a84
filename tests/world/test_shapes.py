import math

import pytest
import torch

from scoredream.world.shapes import (
    BOUND_RADIUS,
    MUG_FLOOR,
    MUG_TOP,
    SHAPES,
    all_prompts,
    mug_body,
    mug_cup,
    parse_prompt,
    sdf_box,
    sdf_cone,
    sdf_cylinder,
    sdf_sphere,
    sdf_torus,
    side_index,
)


def test_cube_sdf_at_known_points():
    p = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.4, 0.4, 0.4], [0.3, 0.1, -0.2], [0.0, -0.1, 0.0]])
    expected = torch.tensor([-0.3, 0.2, math.sqrt(3) * 0.1, 0.0, -0.2])
    assert torch.allclose(sdf_box(p), expected, atol=1e-6)


def test_sphere_cylinder_torus_cone_at_known_points():
    assert torch.allclose(sdf_sphere(torch.tensor([[0.0, 0.7, 0.0]])), torch.tensor([0.3]))
    # Cylinder: radius 0.2, half height 0.42; the nearest point to (0.5, 0, 0.82) is the rim (0.2, 0, 0.42).
    assert torch.allclose(sdf_cylinder(torch.tensor([[0.5, 0.0, 0.82]])), torch.tensor([0.5]), atol=1e-6)
    assert torch.allclose(sdf_torus(torch.tensor([[0.0, 0.3, 0.0], [0.0, 0.0, 0.0]])), torch.tensor([-0.12, 0.18]))
    cone = sdf_cone(torch.tensor([[0.0, 0.0, 0.35], [0.0, 0.0, -0.5], [0.0, 0.0, 0.6], [0.35, 0.0, -0.35]]))
    assert torch.allclose(cone, torch.tensor([0.0, 0.15, 0.25, 0.0]), atol=1e-6)
    # A point beside the slanted side: the distance is along the side's normal.
    slant = torch.tensor([0.35, 2 * 0.35])  # the side runs from the rim (0.35, -0.35) to the apex (0, 0.35)
    normal = torch.tensor([slant[1], slant[0]]) / slant.norm()
    mid = torch.tensor([0.175, 0.0])
    q = mid + 0.1 * normal
    assert torch.allclose(sdf_cone(torch.tensor([[q[0], 0.0, q[1]]])), torch.tensor([0.1]), atol=1e-5)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_sdf_is_one_lipschitz_and_shape_fits_the_bound(shape):
    g = torch.Generator().manual_seed(0)
    sdf = SHAPES[shape]
    a = torch.rand(20000, 3, generator=g) * 1.4 - 0.7
    b = a + 0.05 * torch.randn(20000, 3, generator=g)
    assert ((sdf(a) - sdf(b)).abs() <= (a - b).norm(dim=-1) + 1e-5).all()
    on_bound = torch.nn.functional.normalize(torch.randn(20000, 3, generator=g), dim=-1) * BOUND_RADIUS
    assert (sdf(on_bound) > 0).all()


def test_prompts_and_mug_sides():
    prompts = all_prompts()
    assert len(prompts) == 48 and "a red mug" in prompts
    assert parse_prompt("a cyan torus, back view") == ("cyan", "torus")
    with pytest.raises(ValueError):
        parse_prompt("a white mug")
    idx = side_index(torch.tensor([0.0, 44.0, -60.0, 90.0, 150.0, -179.0]))
    assert idx.tolist() == [0, 0, 1, 1, 2, 2]


def test_mug_cup_cavity_floor():
    """The cavity is open from its floor up: at its default floor the cup is hollow down to the 0.06 thick bottom,
    raised halfway it is solid below the new floor, raised to the rim it is the filled cup."""
    axis = torch.tensor([[0.0, 0.0, z] for z in (-0.27, -0.2, 0.0, 0.2)])
    assert (mug_cup(axis) > 0).tolist() == [False, True, True, True]
    half = (MUG_FLOOR + MUG_TOP) / 2  # 0.03
    assert (mug_cup(axis, floor=half) > 0).tolist() == [False, False, False, True]
    p = torch.rand(5000, 3, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.7
    assert torch.equal(mug_cup(p, floor=MUG_TOP) < 0, mug_body(p) < 0)
