"""A novel-view diffusion prior (Zero-1-to-3): noise prediction conditioned on one image and a relative camera.

A model folder is in Zero123's diffusers layout: `unet` (a UNet2DConditionModel whose input is the noisy latent
concatenated with the input image's latent: 2 x the latent channels), `image_encoder`
(CLIPVisionModelWithProjection), `vae` (AutoencoderKL; absent for a pixel-space model, whose "latent" is the
image), `scheduler`, optionally `feature_extractor` (CLIPImageProcessor: its mean/std normalise the CLIP input),
and the camera projection, a Linear (CLIP embedding + 4 camera numbers -> cross-attention width), in either of the
two published layouts:

- `cc_projection/`: the diffusers community `Zero1to3StableDiffusionPipeline`'s `CCProjection`, weights
  `projection.weight` / `projection.bias` (its config has no dimensions: they come from the weights);
- `clip_camera_projection/`: threestudio's `extern/zero123.py` `CLIPCameraProjection`, weights `proj.weight` /
  `proj.bias`, config `embedding_dim` and `additional_embeddings`.

Their model_index.json names the projection's class in the pipeline's own module ("pipeline_zero1to3",
"zero123"), which is not imported: the Linear's weights are read from the folder's safetensors (or a
`weights_only` torch .bin). The conditioning is Zero123's: the UNet's only cross-attention token is the projected
[CLIP image embedding, camera]; the unconditional branch of classifier-free guidance zeroes that token (after the
projection) and the concatenated image latent. The camera is [polar angle change (rad), sin and cos of the azimuth
change, distance change]; Zero123's polar angle is measured from the up axis, so a target camera *above* the input
one has a negative first entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from scoredream.errors import PriorLoadError
from scoredream.priors.diffusion_prior import DTYPES, DiffusionModel, Recommendations, read_guidance_defaults
from scoredream.priors.loading import listed, load_components, read_model_index, resolve_model_folder
from scoredream.render.cameras import Cameras

COMPONENTS = ("unet", "image_encoder", "scheduler", "vae", "feature_extractor")
REQUIRED = ("unet", "image_encoder", "scheduler")
PROJECTION_LAYOUTS = {"cc_projection": "projection", "clip_camera_projection": "proj"}
"""folder name -> the attribute name of its Linear (the weights' key prefix)"""
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CCProjection(ModelMixin, ConfigMixin):
    """The diffusers community Zero1to3 pipeline's camera projection (same weight names), with its dimensions in
    the config so that `save_pretrained` folders are self-describing."""

    @register_to_config
    def __init__(self, in_channel: int = 772, out_channel: int = 768) -> None:
        super().__init__()
        self.projection = nn.Linear(in_channel, out_channel)

    def forward(self, x: Float[Tensor, "B N I"]) -> Float[Tensor, "B N O"]:
        return self.projection(x)


class CLIPCameraProjection(ModelMixin, ConfigMixin):
    """threestudio's Zero123 camera projection (same config and weight names)."""

    @register_to_config
    def __init__(self, embedding_dim: int = 768, additional_embeddings: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(embedding_dim + additional_embeddings, embedding_dim)

    def forward(self, x: Float[Tensor, "B N I"]) -> Float[Tensor, "B N O"]:
        return self.proj(x)


def _projection_weights(folder: Path) -> dict[str, Tensor]:
    candidates = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    if not candidates:
        raise PriorLoadError(f"{folder} has no weights (*.safetensors or *.bin)")
    path = min(candidates, key=lambda p: (p.suffix != ".safetensors", "fp16" in p.name))  # full precision first
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt files raise many types
        raise PriorLoadError(f"could not read the camera projection's weights {path}: {e}") from e


def load_camera_projection(folder: Path, index: dict, dtype: torch.dtype) -> nn.Linear:
    """The camera projection of either published layout, as a plain Linear."""
    found = [name for name in PROJECTION_LAYOUTS if listed(index, name) or (folder / name).is_dir()]
    if not found:
        raise PriorLoadError(
            f"{folder} has no camera projection: a Zero123 folder has cc_projection/ (diffusers community "
            "Zero1to3StableDiffusionPipeline) or clip_camera_projection/ (threestudio's Zero123Pipeline)"
        )
    name = found[0]
    state = _projection_weights(folder / name)
    prefix = PROJECTION_LAYOUTS[name]
    weight, bias = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
    if weight is None or weight.ndim != 2:
        raise PriorLoadError(f"{folder / name} has no {prefix}.weight matrix (keys: {', '.join(state)[:200]})")
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)
    return linear.to(dtype)


@dataclass
class NovelViewPriorConfig:
    model: str = "embedded"
    """"embedded" (the shapes-world novel-view prior in assets/novel_view), a local folder or a hub id in Zero123's
    diffusers layout (cc_projection or clip_camera_projection; GPU recommended)"""
    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    """weights' precision (float16 on GPUs)"""
    local_files_only: bool = False
    """never contact the hub; use the local cache only"""

    def setup(self, device: torch.device | str = "cpu") -> NovelViewPrior:
        folder = resolve_model_folder(
            self.model, self.revision, self.local_files_only, embedded="novel_view",
            components=COMPONENTS + tuple(PROJECTION_LAYOUTS),
        )
        dtype = DTYPES[self.dtype]
        parts = load_components(
            folder, dtype, COMPONENTS, REQUIRED, "a Zero123-layout model (unet, image_encoder, scheduler, projection)"
        )
        projection = load_camera_projection(folder, read_model_index(folder), dtype)
        prior = NovelViewPrior(
            **parts, camera_projection=projection, source=self.model,  # type: ignore[arg-type]
            guidance_defaults=read_guidance_defaults(folder), camera_range=CameraRange.read(folder),
        )
        return prior.to(device)


@dataclass
class ImageCondition:
    """An input image encoded once: its CLIP image embedding and its latent (the image itself in pixel space)."""

    embedding: Float[Tensor, "B 1 D"]
    latent: Float[Tensor, "B C h w"]

    def expand(self, batch: int) -> ImageCondition:
        return ImageCondition(self.embedding.expand(batch, -1, -1), self.latent.expand(batch, -1, -1, -1))


def zero123_camera(
    d_elevation: Float[Tensor, " B"], d_azimuth: Float[Tensor, " B"], d_distance: Float[Tensor, " B"]
) -> Float[Tensor, "B 4"]:
    """Relative camera (radians; target minus input, elevation positive upwards) -> Zero123's 4 numbers. Zero123
    measures the polar angle from the up axis, so its first entry is minus the elevation change."""
    return torch.stack([-d_elevation, torch.sin(d_azimuth), torch.cos(d_azimuth), d_distance], -1)


CAMERA_RANGE_FILE = "scoredream_novel_view.json"
"""Optional file in a novel-view prior's folder: the input cameras it was trained on,
{"elevation": [lo, hi], "distance": [lo, hi], "fovy": [lo, hi]} (degrees; the embedded prior writes it)."""


@dataclass
class CameraRange:
    elevation: tuple[float, float]
    distance: tuple[float, float]
    fovy: tuple[float, float]

    @classmethod
    def read(cls, folder: Path) -> CameraRange | None:
        path = folder / CAMERA_RANGE_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(*(tuple(float(v) for v in data[k]) for k in ("elevation", "distance", "fovy")))
        except (ValueError, TypeError, KeyError, OSError) as e:
            raise PriorLoadError(f"{path} is not a camera range (elevation, distance, fovy: [lo, hi]): {e}") from e

    def write(self, folder: Path) -> None:
        (folder / CAMERA_RANGE_FILE).write_text(json.dumps(
            {"elevation": list(self.elevation), "distance": list(self.distance), "fovy": list(self.fovy)}) + "\n")

    def problems(self, camera: Cameras) -> list[str]:
        """What of one camera lies outside the range (empty: inside)."""
        values = {"elevation": float(camera.elevation[0]), "distance": float(camera.distance[0]),
                  "fovy": float(torch.rad2deg(camera.fovy[0]))}
        out = []
        for name, value in values.items():
            lo, hi = getattr(self, name)
            if not lo <= value <= hi:
                out.append(f"{name} {value:g} is outside [{lo:g}, {hi:g}]")
        return out


DISTANCE_FOVY = 50.0
"""the field of view (degrees) relative distances are measured at: the middle of the trainer's fovy range"""


def apparent_distance(cameras: Cameras, fovy_deg: float | None = DISTANCE_FOVY) -> Float[Tensor, " B"]:
    """The distance at which a camera with `fovy_deg` sees the object at the same size: d tan(fovy/2) /
    tan(fovy_deg/2), so a narrower view counts as a closer camera (None: the plain distance)."""
    if fovy_deg is None:
        return cameras.distance
    reference = torch.tan(torch.deg2rad(torch.tensor(fovy_deg / 2)))
    return cameras.distance * torch.tan(cameras.fovy / 2) / reference.to(cameras.distance)


def relative_camera(
    target: Cameras, reference: Cameras, fovy_deg: float | None = DISTANCE_FOVY
) -> tuple[Float[Tensor, " B"], Float[Tensor, " B"], Float[Tensor, " B"]]:
    """(d_elevation, d_azimuth) in radians and d_distance, target minus reference (`reference` may be one
    camera); the distances are apparent ones (`apparent_distance`)."""
    d_el = torch.deg2rad(target.elevation - reference.elevation)
    d_az = torch.deg2rad(target.azimuth - reference.azimuth)
    d_dist = apparent_distance(target, fovy_deg) - apparent_distance(reference, fovy_deg)
    return d_el, d_az, d_dist


class NovelViewPrior(DiffusionModel):
    def __init__(
        self,
        unet: nn.Module,
        image_encoder: nn.Module,
        scheduler: Any,
        camera_projection: nn.Module,
        vae: nn.Module | None = None,
        feature_extractor: Any = None,
        source: str = "",
        guidance_defaults: Recommendations | None = None,
        camera_range: CameraRange | None = None,
    ) -> None:
        super().__init__(unet, scheduler, vae, source, guidance_defaults)
        self.camera_range = camera_range  # the input cameras it was trained on (None: not known)
        self.image_encoder = image_encoder.requires_grad_(False).eval()
        self.camera_projection = camera_projection.requires_grad_(False).eval()
        mean = getattr(feature_extractor, "image_mean", None) or CLIP_MEAN
        std = getattr(feature_extractor, "image_std", None) or CLIP_STD
        self.register_buffer("clip_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("clip_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.check_layout()

    def check_layout(self) -> None:
        latent_channels = self.vae.config.latent_channels if self.vae is not None else 3
        if self.unet.config.in_channels != 2 * latent_channels:
            raise PriorLoadError(
                f"the unet reads {self.unet.config.in_channels} channels; a Zero123 unet reads the noisy latent and "
                f"the input image's latent: 2 x {latent_channels}"
            )
        width = self.unet.config.cross_attention_dim
        embed = self.image_encoder.config.projection_dim
        if self.camera_projection.in_features != embed + 4 or self.camera_projection.out_features != width:
            raise PriorLoadError(
                f"the camera projection maps {self.camera_projection.in_features} -> "
                f"{self.camera_projection.out_features}; this model needs {embed} + 4 -> {width}"
            )

    @property
    def clip_size(self) -> int:
        return int(self.image_encoder.config.image_size)

    def clip_embedding(self, rgb: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B 1 D"]:
        """CLIP image embedding of images in [0, 1] (resized and normalised as CLIPImageProcessor does)."""
        size = self.clip_size
        x = F.interpolate(rgb.float(), (size, size), mode="bicubic", align_corners=False, antialias=True)
        x = (x.clamp(0, 1) - self.clip_mean) / self.clip_std
        return self.image_encoder(x.to(self.dtype)).image_embeds[:, None].float()

    def image_latent(self, rgb: Float[Tensor, "B 3 H W"]) -> Float[Tensor, "B C h w"]:
        """The concatenated condition: the VAE posterior's mode *without* the scaling factor, as Zero123 was
        trained; for a pixel-space model, the image in [-1, 1]."""
        size = self.image_size
        x = F.interpolate(rgb.float(), (size, size), mode="bilinear", align_corners=False, antialias=True) * 2 - 1
        if self.vae is None:
            return x
        return self.vae.encode(x.to(self.dtype)).latent_dist.mode().float()

    @torch.no_grad()
    def encode_reference(self, rgb: Float[Tensor, "B 3 H W"]) -> ImageCondition:
        """The input image (RGB in [0, 1], composited on white) -> its condition; compute once per run."""
        return ImageCondition(self.clip_embedding(rgb), self.image_latent(rgb))

    def conditioning_token(
        self, condition: ImageCondition, camera: Float[Tensor, "B 4"]
    ) -> Float[Tensor, "B 1 W"]:
        x = torch.cat([condition.embedding.float(), camera[:, None].float()], -1)
        return self.camera_projection(x.to(self.dtype))

    def predict_noise(
        self,
        x_t: Float[Tensor, "B C h w"],
        t: Int[Tensor, " B"],
        condition: ImageCondition,
        d_elevation: Float[Tensor, " B"],
        d_azimuth: Float[Tensor, " B"],
        d_distance: Float[Tensor, " B"],
        unconditional: bool | Bool[Tensor, " B"] = False,
    ) -> Float[Tensor, "B C h w"]:
        """Epsilon at x_t for the view at (d_elevation, d_azimuth: radians, target minus input, elevation positive
        upwards; d_distance) from the input. `unconditional` (for all rows, or a mask of rows: training's
        condition dropout): Zero123's null condition, a zero token and a zero image latent."""
        batch = x_t.shape[0]
        condition = condition.expand(batch) if condition.latent.shape[0] == 1 else condition
        token = self.conditioning_token(condition, zero123_camera(d_elevation, d_azimuth, d_distance))
        keep = (~torch.as_tensor(unconditional, device=x_t.device)).float().expand(batch)
        token = token * keep.view(-1, 1, 1).to(token)
        latent = condition.latent * keep.view(-1, 1, 1, 1).to(condition.latent)
        x = torch.cat([x_t.to(self.dtype), latent.to(self.dtype)], 1)
        token = token.to(self.dtype)
        # A UNet with a projection class embedding (train_novel_view --token-in-resnets) reads the token there too.
        in_resnets = token[:, 0] if self.unet.config.class_embed_type == "projection" else None
        out = self.unet(x, t, encoder_hidden_states=token, class_labels=in_resnets).sample
        return self.to_epsilon(out.float(), x_t.float(), t)

    def guided_noise(
        self,
        x_t: Float[Tensor, "B C h w"],
        t: Int[Tensor, " B"],
        condition: ImageCondition,
        d_elevation: Float[Tensor, " B"],
        d_azimuth: Float[Tensor, " B"],
        d_distance: Float[Tensor, " B"],
        guidance_scale: float,
    ) -> Float[Tensor, "B C h w"]:
        """eps_u + s (eps_c - eps_u), both branches in one UNet call (predict_noise with the second half
        unconditional)."""
        batch = x_t.shape[0]
        condition = condition.expand(batch) if condition.latent.shape[0] == 1 else condition
        both = ImageCondition(condition.embedding.repeat(2, 1, 1), condition.latent.repeat(2, 1, 1, 1))
        unconditional = torch.arange(2 * batch, device=x_t.device) >= batch
        eps = self.predict_noise(x_t.repeat(2, 1, 1, 1), t.repeat(2), both, d_elevation.repeat(2),
                                 d_azimuth.repeat(2), d_distance.repeat(2), unconditional)
        eps_c, eps_u = eps.chunk(2)
        return eps_u + guidance_scale * (eps_c - eps_u)


def save_novel_view_folder(folder: Path, parts: dict[str, Any], class_name: str = "ScoreDreamNovelView") -> None:
    """A Zero123-layout folder: model_index.json plus one save_pretrained folder per component (the projection
    under the name its class's layout uses: cc_projection for CCProjection, clip_camera_projection otherwise)."""
    folder.mkdir(parents=True, exist_ok=True)
    index: dict[str, object] = {"_class_name": class_name}
    for name, part in parts.items():
        part.save_pretrained(folder / name)
        module = type(part).__module__.split(".")[0]
        index[name] = [module if module in ("diffusers", "transformers") else "scoredream", type(part).__name__]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


@torch.no_grad()
def sample_novel_views(
    prior: NovelViewPrior,
    condition: ImageCondition,
    d_elevation: Float[Tensor, " B"],
    d_azimuth: Float[Tensor, " B"],
    d_distance: Float[Tensor, " B"],
    guidance_scale: float = 3.0,
    steps: int = 25,
    generator: torch.Generator | None = None,
) -> Float[Tensor, "B 3 H W"]:
    """Images of the input object from the relative cameras: DDIM (eta 0) with classifier-free guidance."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(prior.scheduler.config)
    scheduler.set_timesteps(steps)
    batch, device = d_azimuth.shape[0], prior.alphas_cumprod.device
    channels = prior.vae.config.latent_channels if prior.vae is not None else 3
    size = prior.unet.config.sample_size
    x = torch.randn(batch, channels, size, size, generator=generator).to(device)
    cams = (d_elevation.to(device), d_azimuth.to(device), d_distance.to(device))
    for t in scheduler.timesteps:
        tt = torch.full((batch,), int(t), device=device)
        eps = prior.guided_noise(x, tt, condition, *cams, guidance_scale)
        x = scheduler.step(eps, t, x).prev_sample
    return prior.decode(x)
