"""The field a generator makes for one prompt: an ordinary field (the generator's template) with some of its
weights replaced by tensors computed from the prompt's text embedding.

While training, those tensors carry the graph back to the generator, so a render of the generated field trains
it; `bake()` turns the field into the ordinary architecture it stands for (same state-dict keys, plain weights),
which a run folder's checkpoint holds and `render`, `export` and `convert` read like any other.
"""

from __future__ import annotations

import copy

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.fields import Field
from scoredream.fields.base import EXTENT_ATTRIBUTES


def make_slots(template: Field, names: tuple[str, ...]) -> None:
    """Turn the template's parameters `names` into non-persistent buffers: slots a generator fills per prompt.
    They then belong to no optimiser, no DDP gradient bucket and no checkpoint of the generator."""
    for name in names:
        owner_name, _, leaf = name.rpartition(".")
        owner = template.get_submodule(owner_name)
        value = getattr(owner, leaf).detach().clone()
        delattr(owner, leaf)
        owner.register_buffer(leaf, value, persistent=False)


class _Encode(nn.Module):
    """`functional_call` runs a module's forward; this one's forward is the field's `encode`."""

    def __init__(self, field: Field) -> None:
        super().__init__()
        self.field = field

    def forward(self, points: Tensor) -> Tensor:
        return self.field.encode(points)


class GeneratedField(Field):
    def __init__(self, template: Field, tensors: dict[str, Tensor]) -> None:
        super().__init__()
        for name in EXTENT_ATTRIBUTES:  # bound, initial shape, density kind: the template's
            setattr(self, name, getattr(template, name))
        self.template = template
        self.color_head = template.color_head
        self.tensors = tensors

    def encode(self, points: Float[Tensor, "N 3"]) -> Float[Tensor, "N 16"]:
        slots = {f"field.{k}": v for k, v in self.tensors.items()}
        return torch.func.functional_call(_Encode(self.template), slots, (points,))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return self.template.param_groups()

    def set_progress(self, progress: float) -> None:
        super().set_progress(progress)
        self.template.set_progress(progress)

    @torch.no_grad()
    def bake(self) -> Field:
        """The ordinary field this one stands for: the template's weights with the generated ones in their slots."""
        field = copy.deepcopy(self.template)
        for name, value in self.tensors.items():
            owner_name, _, leaf = name.rpartition(".")
            owner = field.get_submodule(owner_name)
            delattr(owner, leaf)
            owner.register_parameter(leaf, nn.Parameter(value.detach().clone()))
        return field.eval()
