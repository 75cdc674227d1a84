"""VSD's camera-conditioned LoRA of a diffusion UNet (ProlificDreamer, threestudio's stage-1 setting).

The LoRA is injected with peft (rank r on to_q/to_k/to_v/to_out.0 of every attention). The camera (flattened 4x4
camera-to-world, 16 numbers; all zeros = no camera) goes through a timestep-style MLP whose output is added to the
UNet's time embedding by a forward hook that exists only during the LoRA's own calls, so the UNet module itself is
never changed for anyone else. Adapters are switched on only inside `LoraUNet.active()`: a UNet shared with the
prior answers every other caller exactly as before (peft's disabled path runs the base layer alone).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.models.embeddings import TimestepEmbedding
from jaxtyping import Float
from peft import LoraConfig
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import Tensor, nn

from scoredream.priors.loading import PriorLoadError, resolve_model_folder

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
_names = itertools.count()


class CameraEmbedding(nn.Module):
    """16 camera numbers -> a vector added to the UNet's time embedding (threestudio: TimestepEmbedding(16, dim))."""

    def __init__(self, time_embed_dim: int) -> None:
        super().__init__()
        self.mlp = TimestepEmbedding(16, time_embed_dim)
        # Zero output layer: the LoRA model starts as its base model, so VSD's first gradients are not noise
        # from a random embedding (a small departure from threestudio, which leaves it random).
        nn.init.zeros_(self.mlp.linear_2.weight)
        nn.init.zeros_(self.mlp.linear_2.bias)

    def forward(self, c2w: Float[Tensor, "B 4 4"]) -> Float[Tensor, "B D"]:
        return self.mlp(c2w.reshape(-1, 16).float())


@contextmanager
def add_to_time_embedding(unet: nn.Module, extra: Tensor) -> Iterator[None]:
    handle = unet.time_embedding.register_forward_hook(lambda _m, _i, out: out + extra.to(out.dtype))
    try:
        yield
    finally:
        handle.remove()


class LoraUNet(nn.Module):
    """A UNet with one named LoRA adapter and a camera embedding; `trainable` lists exactly what VSD trains."""

    def __init__(self, unet: UNet2DConditionModel, rank: int, prediction_type: str, alpha: float | None = None) -> None:
        super().__init__()
        self.name = f"vsd{next(_names)}"  # unique, so two VSD runs can share one prior's UNet
        config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=LORA_TARGETS)  # scale alpha / rank
        unet.add_adapter(config, adapter_name=self.name)
        self.layers = [m for m in unet.modules() if isinstance(m, BaseTunerLayer)]
        self.lora = {n: p for n, p in unet.named_parameters() if f".{self.name}." in n}
        for p in self.lora.values():
            p.data = p.data.float()  # AdamW on fp16 weights loses the small LoRA updates
        self._depth = 0
        self._toggle(False)
        self.unet = [unet]  # a list, so this module's state_dict holds only the LoRA and the camera embedding
        self.camera = CameraEmbedding(unet.time_embedding.linear_2.out_features).to(unet.device)
        self.prediction_type = prediction_type

    def _toggle(self, on: bool) -> None:
        for m in self.layers:
            if on:
                m.set_adapter(self.name)
            m.enable_adapters(on)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Adapter on. Re-entrant: a LoRA backward must run inside it, as peft clears requires_grad on exit."""
        self._depth += 1
        if self._depth == 1:
            self._toggle(True)
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._toggle(False)

    def trainable(self) -> list[nn.Parameter]:
        return [*self.lora.values(), *self.camera.parameters()]

    def lora_state(self) -> dict[str, Tensor]:
        return {**{f"lora.{k}": v for k, v in self._lora_by_key().items()},
                **{f"camera.{k}": v for k, v in self.camera.state_dict().items()}}

    def _lora_by_key(self) -> dict[str, Tensor]:
        # Keys without the instance's adapter name, so a checkpoint loads into any later run.
        return {k.replace(f".{self.name}.", ".default."): v for k, v in self.lora.items()}

    def load_lora_state(self, state: dict[str, Tensor]) -> None:
        lora = {k[len("lora."):]: v for k, v in state.items() if k.startswith("lora.")}
        mine = self._lora_by_key()
        if set(lora) != set(mine):
            raise ValueError("the checkpoint's VSD LoRA does not match this UNet (different model or rank)")
        with torch.no_grad():
            for k, p in zip(mine, self.lora.values(), strict=True):
                p.copy_(lora[k])
        self.camera.load_state_dict({k[len("camera."):]: v for k, v in state.items() if k.startswith("camera.")})

    def forward(
        self, x_t: Tensor, t: Tensor, text: Tensor, c2w: Float[Tensor, "B 4 4"], labels: Tensor | None = None
    ) -> Float[Tensor, "B C h w"]:
        """The raw model output (epsilon or v, see prediction_type) with this camera and the adapter on. `labels`:
        the camera labels a camera-conditioned base UNet reads (`scoredream.priors.camera_labels`; others ignore
        them)."""
        unet = self.unet[0]
        dtype = next(unet.parameters()).dtype
        labels = None if labels is None else labels.to(dtype)
        with self.active(), add_to_time_embedding(unet, self.camera(c2w)):
            return unet(x_t.to(dtype), t, encoder_hidden_states=text.to(dtype), class_labels=labels).sample.float()


def load_lora_base(model: str, dtype: torch.dtype, device: torch.device | str) -> tuple[UNet2DConditionModel, Any]:
    """The UNet and scheduler of a separate LoRA base model (threestudio: SD 2.1 v-prediction for SD 2.1-base)."""
    folder = resolve_model_folder(model)
    try:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=dtype)
        scheduler = DDPMScheduler.from_pretrained(folder / "scheduler")
    except Exception as e:  # from_pretrained raises many types; all mean the same to the user
        raise PriorLoadError(f"could not load the LoRA base model's unet/scheduler from {folder}: {e}") from e
    return unet.to(device).requires_grad_(False).eval(), scheduler
