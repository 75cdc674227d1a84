"""The optimiser of photometric fitting and distillation: AdamW on a field's two parameter groups, with learning
rates that decay by a cosine."""

from __future__ import annotations

import torch
from torch import Tensor

from scoredream.fields import Field
from scoredream.progress import cosine_decay


class CosineAdamW:
    """AdamW with one learning rate for grids (tables, planes, voxels) and one for MLPs and heads, each decaying by
    a cosine from its value at step 0 to `final_factor` of it at step `steps`."""

    def __init__(self, field: Field, lr_grid: float, lr_mlp: float, steps: int, final_factor: float) -> None:
        groups = field.param_groups()
        self.optimizer = torch.optim.AdamW(
            [{"params": groups["grid"], "lr": lr_grid}, {"params": groups["mlp"], "lr": lr_mlp}],
            betas=(0.9, 0.99), eps=1e-15, weight_decay=0.0,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           lambda i: cosine_decay(i / steps, final_factor))

    def step(self, loss: Tensor) -> None:
        """One descent step on `loss`, then the next learning rate."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
