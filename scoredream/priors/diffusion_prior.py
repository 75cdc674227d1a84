"""A frozen text-to-image diffusion model seen as a score function over images (pixels or latents)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from scoredream.errors import PromptError
from scoredream.priors.camera_labels import reads_cameras
from scoredream.priors.loading import PriorLoadError, is_embedded, load_components, resolve_model_folder

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class PriorConfig:
    model: str = "embedded"
    """"embedded" (the shapes-world prior in assets/prior), "embedded-camera" (its camera-conditioned
    version in assets/prior_camera, 3D generation's default), a local diffusers folder, or a hub id such as
    sd-legacy/stable-diffusion-v1-5 (GPU recommended; the hub must be reachable or the model cached)"""
    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """weights' precision (float16 on GPUs)"""
    local_files_only: bool = False
    """never contact the hub; use the local cache only"""
    recommendations: bool = True
    """use the settings the prior's folder recommends (scoredream_guidance.json: CFG scale, t range) where a
    method's config leaves them at their defaults; off: the papers' reference settings"""

    def setup(self, device: torch.device | str = "cpu") -> DiffusionPrior:
        folder = resolve_model_folder(self.model, self.revision, self.local_files_only)
        components = load_components(folder, DTYPES[self.dtype])
        guidance = read_guidance_defaults(folder) if self.recommendations else {}
        prior = DiffusionPrior(**components, source=self.model, guidance_defaults=guidance)  # type: ignore[arg-type]
        return prior.to(device)


GUIDANCE_DEFAULTS_FILE = "scoredream_guidance.json"
"""Optional file in a prior's folder: per method, the settings to use where the method's config leaves them at
their defaults, e.g. {"sds": {"guidance_scale": 7.5}, "asd": {"timesteps": {"max_end": 0.98}}} (a bare number is
a guidance scale). A prior trained by us knows what suits it; hub models fall back to each method's reference."""

Recommendations = dict[str, dict[str, Any]]
RECOMMENDABLE = {"guidance_scale": (int, float), "timesteps": dict}


def guidance_defaults_of(model: str) -> Recommendations:
    """The recommendations of a local or embedded prior without loading it ({} for hub ids and missing folders)."""
    try:
        folder = resolve_model_folder(model) if is_embedded(model) else Path(model).expanduser()
    except PriorLoadError:
        return {}
    return read_guidance_defaults(folder) if folder.is_dir() else {}


def read_guidance_defaults(folder: Path) -> Recommendations:
    path = folder / GUIDANCE_DEFAULTS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        out: Recommendations = {}
        for method, value in data.items():
            settings = {"guidance_scale": value} if isinstance(value, int | float) else dict(value)
            for key, setting in settings.items():
                if not isinstance(setting, RECOMMENDABLE[key]):
                    raise TypeError(f"{method}.{key} should be {RECOMMENDABLE[key]}")
            out[str(method)] = settings
        return out
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise PriorLoadError(
            f"{path} is not a JSON object of method -> {{guidance_scale, timesteps}} (or a guidance scale): {e}"
        ) from e


class DiffusionModel(nn.Module):
    """A frozen image diffusion model (pixel or latent space) whatever conditions it: renders in [0, 1] -> its x0
    space and back, the forward noising process, and its predictions as epsilon. The text prior and the
    novel-view prior (`scoredream.priors.novel_view`) add their conditions on top."""

    def __init__(
        self,
        unet: nn.Module,
        scheduler: Any,
        vae: nn.Module | None = None,
        source: str = "",
        guidance_defaults: Recommendations | None = None,
    ) -> None:
        super().__init__()
        self.unet, self.vae = unet, vae
        self.guidance_defaults = dict(guidance_defaults or {})  # the folder's scoredream_guidance.json
        # Training-time noise schedule only; DDPM's add_noise matches every epsilon/v model's forward process.
        from diffusers import DDPMScheduler  # here, not at the top: configs import this module, and fast

        self.scheduler = DDPMScheduler.from_config(scheduler.config)
        self.source = source
        for module in (unet, vae):
            if module is not None:
                module.requires_grad_(False).eval()
        self.register_buffer("alphas_cumprod", self.scheduler.alphas_cumprod.clone().float(), persistent=False)

    @property
    def reads_cameras(self) -> bool:
        """A camera-conditioned prior (`scoredream.priors.camera_labels`): its predictions need each image's camera."""
        return reads_cameras(self.unet)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler.config.num_train_timesteps)

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler.config.prediction_type)

    @property
    def is_latent(self) -> bool:
        return self.vae is not None

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def image_size(self) -> int:
        """Pixel resolution renders are resized to before scoring."""
        size = self.unet.config.sample_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        if self.vae is not None:
            size *= 2 ** (len(self.vae.config.block_out_channels) - 1)
        return int(size)

    def encode_images(
        self, rgb: Float[Tensor, "B 3 H W"], generator: torch.Generator | None = None
    ) -> Float[Tensor, "B C h w"]:
        """Renders in [0, 1] -> the model's x0 space; differentiable (through the VAE encoder for latent models)."""
        size = self.image_size
        if rgb.shape[-2:] != (size, size):
            rgb = F.interpolate(rgb, (size, size), mode="bilinear", align_corners=False)
        x = (rgb * 2 - 1).to(self.dtype)
        if self.vae is None:
            return x
        latents = self.vae.encode(x).latent_dist.sample(generator=generator)
        return latents * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, x0: Float[Tensor, "B C h w"]) -> Float[Tensor, "B 3 H W"]:
        if self.vae is not None:
            x0 = self.vae.decode(x0 / self.vae.config.scaling_factor).sample
        return ((x0.float() + 1) / 2).clamp(0, 1)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        a = self.alphas_cumprod[t].view(-1, *[1] * (x0.ndim - 1)).to(x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def to_epsilon(self, prediction: Tensor, x_t: Tensor, t: Tensor, prediction_type: str | None = None) -> Tensor:
        kind = prediction_type or self.prediction_type
        if kind == "epsilon":
            return prediction
        a = self.alphas_cumprod[t.long()].view(-1, *[1] * (x_t.ndim - 1)).to(x_t)
        if kind == "v_prediction":
            # x_t = sqrt(a) x0 + sqrt(1-a) eps and v = sqrt(a) eps - sqrt(1-a) x0  =>  eps = sqrt(a) v + sqrt(1-a) x_t
            return a.sqrt() * prediction + (1 - a).sqrt() * x_t
        if kind == "sample":
            return (x_t - a.sqrt() * prediction) / (1 - a).sqrt()
        raise ValueError(f"unknown prediction type {kind}")

    def to_sample(self, prediction: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """The model's prediction at (x_t, t) as x0, whatever it predicts (a one-step generator's output)."""
        if self.prediction_type == "sample":
            return prediction
        a = self.alphas_cumprod[t.long()].view(-1, *[1] * (x_t.ndim - 1)).to(x_t)
        if self.prediction_type == "v_prediction":
            return a.sqrt() * x_t - (1 - a).sqrt() * prediction
        return (x_t - (1 - a).sqrt() * self.to_epsilon(prediction, x_t, t)) / a.sqrt()


class DiffusionPrior(DiffusionModel):
    """A text-to-image diffusion model seen as a score function over images (pixels or latents)."""

    def __init__(
        self,
        unet: nn.Module,
        text_encoder: nn.Module,
        tokenizer: Any,
        scheduler: Any,
        vae: nn.Module | None = None,
        source: str = "",
        guidance_defaults: Recommendations | None = None,
    ) -> None:
        super().__init__(unet, scheduler, vae, source, guidance_defaults)
        self.text_encoder = text_encoder.requires_grad_(False).eval()
        self.tokenizer = tokenizer
        self._text_cache: dict[str, Tensor] = {}

    @property
    def max_prompt_tokens(self) -> int:
        return int(min(self.tokenizer.model_max_length, 4096))

    def check_prompt(self, prompt: str, suffix: str = "") -> str:
        text = prompt.strip()
        if not text:
            raise PromptError("the prompt is empty")
        n = len(self.tokenizer(text + suffix).input_ids)
        if n > self.max_prompt_tokens:
            raise PromptError(
                f"the prompt is {n} tokens long (with view suffix); this prior's text encoder reads at most "
                f"{self.max_prompt_tokens}. Shorten it."
            )
        return text

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> Float[Tensor, "B L D"]:
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            tokens = self.tokenizer(
                missing, padding="max_length", max_length=self.max_prompt_tokens, truncation=True,
                return_tensors="pt",
            )
            device = next(self.text_encoder.parameters()).device
            hidden = self.text_encoder(tokens.input_ids.to(device))[0]
            for p, h in zip(missing, hidden, strict=True):
                self._text_cache[p] = h
        return torch.stack([self._text_cache[p] for p in prompts])

    def predict_noise(
        self,
        x_t: Float[Tensor, "B C h w"],
        t: Int[Tensor, " B"],
        text_embeddings: Float[Tensor, "B L D"],
        camera: Float[Tensor, "B 13"] | None = None,
        **unet_kwargs: Any,
    ) -> Float[Tensor, "B C h w"]:
        """Epsilon prediction whatever the model predicts (v-prediction is converted). `camera`: each image's
        camera labels (`camera_labels`), which a camera-conditioned prior needs and any other ignores."""
        if self.reads_cameras:
            if camera is None:
                raise ValueError(f"{self.source or 'this prior'} is camera-conditioned: pass each image's camera")
            unet_kwargs["class_labels"] = camera.to(x_t.device, self.dtype)
        out = self.unet(x_t.to(self.dtype), t, encoder_hidden_states=text_embeddings.to(self.dtype), **unet_kwargs)
        return self.to_epsilon(out.sample.float(), x_t.float(), t)
