"""The embedded novel-view prior: a 32x32 pixel-space Zero-1-to-3 of the shapes world, and its training pairs.

Architecture (Zero123's layout, pixel space so no VAE): the UNet is the shipped text prior's (assets/prior/unet)
with conv_in widened from 3 to 6 input channels, the new channels' weights zero (as Zero123 widened Stable
Diffusion's), so training starts from a model that already draws the world; a tiny CLIPVisionModelWithProjection
(32x32 input) reads the input view; a CCProjection maps [image embedding, camera] to the UNet's one
cross-attention token (the text prior's token width).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from jaxtyping import Float, Int
from torch import Tensor
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from scoredream.priors.loading import assets_dir
from scoredream.priors.novel_view import (
    CameraRange,
    CCProjection,
    apparent_distance,
    relative_camera,
    save_novel_view_folder,
)
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig, make_cameras
from scoredream.world.dataset import GeometryBank, draw_views
from scoredream.world.prior_model import load_unet_weights
from scoredream.world.render import GeometryRender, composite, world_background
from scoredream.world.shapes import COLOURS


@dataclass
class NovelViewModelConfig:
    encoder_width: int = 64
    encoder_layers: int = 3
    patch_size: int = 4
    """32x32 input in 4x4 patches: 64 tokens"""
    text_prior: Path | None = None
    """the text prior whose UNet and scheduler start the model (default: assets/prior)"""
    token_in_resnets: bool = False
    """the conditioning token also enters every ResNet block through the time embedding (diffusers'
    class_embed_type="projection"), since one cross-attention token only adds a constant vector per attention layer,
    at 8x8 and below. Off for the shipped weights: a run with it did not raise the 2D check (README)"""


def build_image_encoder(
    config: NovelViewModelConfig, embedding_dim: int, image_size: int
) -> CLIPVisionModelWithProjection:
    vision = CLIPVisionConfig(
        image_size=image_size, patch_size=config.patch_size, hidden_size=config.encoder_width,
        intermediate_size=2 * config.encoder_width, num_hidden_layers=config.encoder_layers,
        num_attention_heads=4, projection_dim=embedding_dim,
    )
    return CLIPVisionModelWithProjection(vision)


def widen_unet(unet: UNet2DConditionModel, token_in_resnets: bool = False) -> UNet2DConditionModel:
    """The same UNet reading 2x its input channels; the new channels start with zero weights. With
    `token_in_resnets`, it also gets a class embedding of the cross-attention token whose output layer starts at
    zero: the widened UNet computes exactly what `unet` does until training moves the new weights."""
    config = dict(unet.config)
    config.pop("_use_default_values", None)  # else from_config resets the keys it lists (class_embed_type ...)
    config["in_channels"] = 2 * config["in_channels"]
    if token_in_resnets:
        config["class_embed_type"] = "projection"
        config["projection_class_embeddings_input_dim"] = config["cross_attention_dim"]
    wide = UNet2DConditionModel.from_config(config)
    state = unet.state_dict()
    old = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat([old, torch.zeros_like(old)], 1)
    load_unet_weights(wide, state)
    return wide


def build_novel_view_model(
    config: NovelViewModelConfig,
) -> tuple[UNet2DConditionModel, CLIPVisionModelWithProjection, CCProjection, DDPMScheduler]:
    folder = config.text_prior or assets_dir() / "prior"
    unet = widen_unet(UNet2DConditionModel.from_pretrained(folder / "unet"), config.token_in_resnets)
    scheduler = DDPMScheduler.from_pretrained(folder / "scheduler")
    width = int(unet.config.cross_attention_dim)
    encoder = build_image_encoder(config, width, int(unet.config.sample_size))
    projection = CCProjection(in_channel=width + 4, out_channel=width)
    # Start the projection as "pass the image embedding through" so the token is informative from step one.
    with torch.no_grad():
        projection.projection.weight.zero_()
        projection.projection.weight[:, :width].copy_(torch.eye(width))
        projection.projection.bias.zero_()
    return unet, encoder, projection, scheduler


def save_novel_view(
    folder: Path,
    unet: UNet2DConditionModel,
    image_encoder: CLIPVisionModelWithProjection,
    projection: CCProjection,
    scheduler: DDPMScheduler,
) -> None:
    """Weights stored in float16 (half the size; loading casts them back to the dtype asked for)."""
    half = {name: copy.deepcopy(m).to(torch.float16) for name, m in
            (("unet", unet), ("image_encoder", image_encoder), ("cc_projection", projection))}
    parts = {"unet": half["unet"], "image_encoder": half["image_encoder"], "scheduler": scheduler,
             "cc_projection": half["cc_projection"]}
    save_novel_view_folder(folder, parts, "ScoreDreamWorldNovelView")
    cams = CameraSamplerConfig()  # the training pairs' cameras (the bank's)
    CameraRange(cams.elevation_range, cams.distance_range, cams.fovy_range).write(folder)


@dataclass
class ViewPairs:
    """Two views of the same object (shape, colour), the second one's camera relative to the first."""

    reference: Float[Tensor, "B 3 H W"]  # in [0, 1]
    target: Float[Tensor, "B 3 H W"]
    d_elevation: Float[Tensor, " B"]  # radians, target minus reference
    d_azimuth: Float[Tensor, " B"]
    d_distance: Float[Tensor, " B"]
    shape: Int[Tensor, " B"]
    colour: Int[Tensor, " B"]
    target_azimuth: Float[Tensor, " B"]  # degrees


def same_shape_views(bank: GeometryBank, idx: Int[Tensor, " B"], generator: torch.Generator) -> Int[Tensor, " B"]:
    """For each view index, a random view of the same shape."""
    order = torch.argsort(bank.shape, stable=True)
    counts = torch.bincount(bank.shape)
    starts = torch.cumsum(counts, 0) - counts
    shape = bank.shape[idx]
    offset = (torch.rand(len(idx), generator=generator) * counts[shape]).long()
    return order[starts[shape] + offset]


def orbit_views(
    bank: GeometryBank, idx: Int[Tensor, " B"], generator: torch.Generator, candidates: int = 16
) -> Int[Tensor, " B"]:
    """For each view index, a view of the same shape from about the same elevation and apparent distance (one of
    the `candidates` nearest in (elevation / 10 deg, apparent distance / 0.1)) at whatever azimuth it has: a step
    along the orbit around the object."""
    cams = make_cameras(bank.azimuth, bank.elevation, bank.distance, bank.fovy)
    place = torch.stack([bank.elevation / 10.0, apparent_distance(cams) / 0.1], -1)
    gap = torch.cdist(place[idx], place).square()  # [B, N]: one batch of distances, no loop over views
    gap[bank.shape[idx][:, None] != bank.shape[None]] = torch.inf
    near = torch.topk(gap, candidates + 1, largest=False).indices  # column 0 is the view itself
    pick = torch.randint(1, candidates + 1, (len(idx),), generator=generator)
    return near[torch.arange(len(idx)), pick]


def sample_pairs(
    bank: GeometryBank,
    batch_size: int,
    generator: torch.Generator,
    same_background: float = 0.5,
    background: BackgroundConfig | None = None,
    orbit: float = 0.0,
    shape_weights: Float[Tensor, " S"] | None = None,
) -> ViewPairs:
    """Pairs of views from the bank's cameras (the trainer's distribution); the reference gets the trainer's
    random background; the target keeps it with probability `same_background`, else draws its own (so that
    novel views rendered on the trainer's random backgrounds stay in distribution for SDS).

    A fraction `orbit` of the targets are `orbit_views` (same elevation and apparent distance, another azimuth),
    as in the fixed-elevation orbits of Zero123++ and SyncDreamer: for them the input image says where the
    object's silhouette lies, so the UNet learns to read its concatenated input, which random pairs alone never
    taught it (assets/novel_view/TRAINING.md).

    `shape_weights` draws the input views of some shapes more often than others (`draw_views`)."""
    ref = draw_views(bank, batch_size, generator, shape_weights)
    tgt = same_shape_views(bank, ref, generator)
    if orbit > 0:  # only then, so that runs without orbit pairs draw the pairs they always did
        on_orbit = torch.rand(batch_size, generator=generator) < orbit
        tgt[on_orbit] = orbit_views(bank, ref[on_orbit], generator)
    colour = torch.randint(len(COLOURS), (batch_size,), generator=generator)
    albedo = torch.tensor(list(COLOURS.values()))[colour]
    cams = [make_cameras(bank.azimuth[i], bank.elevation[i], bank.distance[i], bank.fovy[i]) for i in (ref, tgt)]
    size = bank.shade.shape[-1]
    bg_ref = world_background(cams[0], size, background, training=True, generator=generator)
    bg_own = world_background(cams[1], size, background, training=True, generator=generator)
    keep = (torch.rand(batch_size, generator=generator) < same_background)[:, None, None, None]
    bg_tgt = torch.where(keep, bg_ref, bg_own)
    images = [
        composite(GeometryRender(bank.shade[i], bank.alpha[i]), albedo, bg) for i, bg in ((ref, bg_ref), (tgt, bg_tgt))
    ]
    d_el, d_az, d_dist = relative_camera(cams[1], cams[0])
    return ViewPairs(images[0], images[1], d_el, d_az, d_dist, bank.shape[ref], colour, bank.azimuth[tgt])
