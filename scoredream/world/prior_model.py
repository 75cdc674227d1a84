"""The embedded prior's architecture: a small pixel-space text-to-image diffusion model of the shapes world.

It is saved as a diffusers pipeline folder (model_index.json plus one `save_pretrained` folder per component),
so the library's generic loader (`scoredream.priors.load_prior("embedded")`) reads it like any hub model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import Tensor
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

from scoredream.priors.camera_labels import CAMERA_LABEL_DIM, reads_cameras
from scoredream.priors.diffusion_prior import GUIDANCE_DEFAULTS_FILE, Recommendations
from scoredream.priors.prompts import VIEWS
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES


@dataclass
class PriorModelConfig:
    image_size: int = 32
    """pixel resolution of the model"""
    block_out_channels: tuple[int, ...] = (32, 64, 96)
    """UNet widths per resolution level"""
    attention_levels: int = 1
    """cross-attention in this many of the coarsest levels (and the middle block); attention at 16x16 costs
    about 2x the whole step on a CPU for no gain at this size"""
    layers_per_block: int = 1
    text_width: int = 64
    """text encoder hidden size (= the UNet's cross-attention dim)"""
    text_layers: int = 2
    max_tokens: int = 16
    """the text encoder reads at most this many tokens (prompts are padded to it)"""
    camera_conditioned: bool = False
    """the UNet also reads each image's camera (`scoredream.priors.camera_labels`)"""
    beta_schedule: str = "squaredcos_cap_v2"
    """cosine betas: the linear schedules of 64px+ models leave 32px images too clean at large t"""


def vocabulary() -> list[str]:
    words = ["a", ",", "view", *VIEWS, *COLOUR_NAMES, *SHAPE_NAMES]
    return ["[PAD]", "[UNK]", *dict.fromkeys(words)]


def build_tokenizer(config: PriorModelConfig) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", model_max_length=config.max_tokens
    )


def build_text_encoder(config: PriorModelConfig, vocab_size: int) -> CLIPTextModel:
    text = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=config.text_width, intermediate_size=2 * config.text_width,
        num_hidden_layers=config.text_layers, num_attention_heads=4,
        max_position_embeddings=config.max_tokens,
        # No BOS/EOS tokens: the pooled output is unused, only the per-token states feed cross-attention.
        pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )
    return CLIPTextModel(text)


def build_unet(config: PriorModelConfig) -> UNet2DConditionModel:
    plain = len(config.block_out_channels) - config.attention_levels
    return UNet2DConditionModel(
        sample_size=config.image_size, in_channels=3, out_channels=3,
        layers_per_block=config.layers_per_block,
        block_out_channels=config.block_out_channels,
        down_block_types=(*["DownBlock2D"] * plain, *["CrossAttnDownBlock2D"] * config.attention_levels),
        up_block_types=(*["CrossAttnUpBlock2D"] * config.attention_levels, *["UpBlock2D"] * plain),
        cross_attention_dim=config.text_width, attention_head_dim=8, norm_num_groups=16,
        **({"class_embed_type": "projection", "projection_class_embeddings_input_dim": CAMERA_LABEL_DIM}
           if config.camera_conditioned else {}),
    )


def load_unet_weights(unet: UNet2DConditionModel, state: dict[str, Tensor]) -> None:
    """Load `state` into `unet`; a class embedding that `state` lacks starts with a zero output layer, so the UNet
    computes what the one that saved `state` did."""
    missing, unexpected = unet.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("class_embedding.") for k in missing):
        raise ValueError(f"UNet weights do not fit: missing {missing}, unexpected {unexpected}")
    if missing:
        with torch.no_grad():
            unet.class_embedding.linear_2.weight.zero_()
            unet.class_embedding.linear_2.bias.zero_()


def build_scheduler(config: PriorModelConfig) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=1000, beta_schedule=config.beta_schedule, prediction_type="epsilon",
        clip_sample=True,
    )


# Measured with scripts/bench_sds.py and scripts/ablate.py (README): on this small prior SDS at DreamFusion's CFG
# 100 saturates colours and swells objects; 7.5 keeps both. The reference t schedules of VSD and ASD, which spend
# most of the run at t <= 0.5, erode objects here; the full range [0.02, 0.98] throughout keeps their shape.
FULL_RANGE = {"min_start": 0.02, "min_end": 0.02, "max_start": 0.98, "max_end": 0.98, "start": 0.0, "end": 0.0}
EMBEDDED_GUIDANCE_DEFAULTS: Recommendations = {
    "sds": {"guidance_scale": 7.5}, "vsd": {"timesteps": FULL_RANGE}, "asd": {"timesteps": FULL_RANGE}
}
# A prior that reads the camera has one image to aim at per view, so CFG need not sharpen it: on the shapes world
# SDS and ASD at CFG 3 beat 7.5 in mean 3D IoU over 6 prompts x 2 seeds; VSD at 3 loses, and keeps its paper's 7.5
# (README, "A camera-conditioned prior").
CAMERA_GUIDANCE_DEFAULTS: Recommendations = {
    "sds": {"guidance_scale": 3.0}, "vsd": {"timesteps": FULL_RANGE},
    "asd": {"guidance_scale": 3.0, "timesteps": FULL_RANGE},
}


def save_prior(
    folder: Path,
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    tokenizer: PreTrainedTokenizerFast,
    scheduler: DDPMScheduler,
    guidance_defaults: Recommendations | None = None,
) -> None:
    """diffusers folder layout, plus the CFG scales score distillation should default to with this prior."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}
    index: dict[str, object] = {
        "_class_name": "ScoreDreamWorldPrior", "_diffusers_version": _version("diffusers")
    }
    for name, part in parts.items():
        part.save_pretrained(folder / name)
        index[name] = [type(part).__module__.split(".")[0], type(part).__name__]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    if guidance_defaults is None:
        guidance_defaults = CAMERA_GUIDANCE_DEFAULTS if reads_cameras(unet) else EMBEDDED_GUIDANCE_DEFAULTS
    (folder / GUIDANCE_DEFAULTS_FILE).write_text(json.dumps(guidance_defaults, indent=2) + "\n")


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
