"""The jaxtyping shape annotations in scoredream are checked at run time in the tests.

pyproject's pytest addopts pass `--jaxtyping-packages=scoredream,beartype.beartype`: jaxtyping's import hook decorates
every function and dataclass of scoredream with `jaxtyped(typechecker=beartype)`. These tests fail if the hook is off.
"""

import pytest
import torch
from jaxtyping import TypeCheckError

from scoredream.render.cameras import Cameras
from scoredream.render.volume import composite


def test_correct_shapes_pass():
    assert composite(torch.ones(2, 3), torch.ones(2, 3)).shape == (2, 3)


def test_wrong_rank_raises():
    with pytest.raises(TypeCheckError):
        composite(torch.ones(2, 3), torch.ones(2, 3, 1))


def test_dimension_shared_between_arguments_must_agree():
    # Broadcasting would let this through unchecked: N is 2 for density but 1 for deltas.
    with pytest.raises(TypeCheckError):
        composite(torch.ones(2, 3), torch.ones(1, 3))


def test_dtype_is_checked():
    with pytest.raises(TypeCheckError):
        composite(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3))


def test_dataclass_fields_are_checked():
    c2w, angles = torch.eye(4).expand(2, 4, 4), torch.zeros(2)
    Cameras(c2w, angles, angles, angles, angles)
    with pytest.raises(TypeCheckError):  # B is 2 for c2w but 3 for the distances
        Cameras(c2w, angles, angles, angles, torch.zeros(3))
