"""Tiny random diffusion priors built in-process (no hub): pixel or latent, epsilon or v-prediction."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

from scoredream.priors import DiffusionPrior
from scoredream.priors.camera_labels import CAMERA_LABEL_DIM

WORDS = ["a", "red", "green", "blue", "cube", "sphere", "disc", "front", "side", "back", "overhead", "view", ","]


def tiny_tokenizer(max_length: int = 12) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", model_max_length=max_length
    )


def tiny_text_encoder(vocab_size: int, width: int = 32, max_length: int = 12) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=max_length, pad_token_id=0, bos_token_id=0, eos_token_id=0,
    )
    return CLIPTextModel(config)


def tiny_unet(channels: int = 3, sample_size: int = 16, cross_dim: int = 32,
              camera_conditioned: bool = False) -> UNet2DConditionModel:
    cameras = {"class_embed_type": "projection", "projection_class_embeddings_input_dim": CAMERA_LABEL_DIM}
    return UNet2DConditionModel(
        **(cameras if camera_conditioned else {}),
        sample_size=sample_size, in_channels=channels, out_channels=channels, layers_per_block=1,
        block_out_channels=(16, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=cross_dim,
        attention_head_dim=8, norm_num_groups=8,
    )


def tiny_vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8, sample_size=32,
    )


def tiny_prior(latent: bool = False, prediction_type: str = "epsilon", seed: int = 0,
               camera_conditioned: bool = False) -> DiffusionPrior:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = tiny_text_encoder(len(tokenizer))
    scheduler = DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction_type)
    vae = tiny_vae() if latent else None
    unet = tiny_unet(channels=4 if latent else 3, sample_size=8 if latent else 16,
                     camera_conditioned=camera_conditioned)
    return DiffusionPrior(unet, text_encoder, tokenizer, scheduler, vae, source="tiny")


def save_prior_folder(prior: DiffusionPrior, folder) -> None:
    """Write a prior as a diffusers pipeline folder (model_index.json + one subfolder per component)."""
    import json

    parts = {"unet": prior.unet, "text_encoder": prior.text_encoder, "tokenizer": prior.tokenizer,
             "scheduler": prior.scheduler}
    if prior.vae is not None:
        parts["vae"] = prior.vae
    index = {"_class_name": "ScoreDreamPrior"}
    for name, obj in parts.items():
        obj.save_pretrained(folder / name)
        index[name] = [type(obj).__module__.split(".")[0], type(obj).__name__]
    (folder / "model_index.json").write_text(json.dumps(index))


def tiny_image_encoder(image_size: int = 16, projection_dim: int = 16):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        image_size=image_size, patch_size=4, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, projection_dim=projection_dim,
    )
    return CLIPVisionModelWithProjection(config)


def save_tiny_zero123(folder, layout: str = "cc_projection", latent: bool = True, seed: int = 0) -> dict:
    """A tiny random Zero123 in a published diffusers layout, written as that layout writes it:
    - "cc_projection": the diffusers community Zero1to3StableDiffusionPipeline (its CCProjection registers no
      config, so cc_projection/config.json names only the class; the Linear is `projection`);
    - "clip_camera_projection": threestudio's Zero123Pipeline (CLIPCameraProjection, config embedding_dim and
      additional_embeddings, the Linear is `proj`).
    Returns the in-memory components (the projection as a Linear) for comparisons."""
    import json

    from diffusers import DDIMScheduler
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor

    torch.manual_seed(seed)
    width = 16
    channels = 4 if latent else 3
    unet = tiny_unet(channels=channels, sample_size=8 if latent else 16, cross_dim=width)
    unet = UNet2DConditionModel.from_config({**unet.config, "in_channels": 2 * channels})
    parts = {
        "unet": unet, "image_encoder": tiny_image_encoder(16, width),
        "scheduler": DDIMScheduler(num_train_timesteps=1000, prediction_type="epsilon"),
        "feature_extractor": CLIPImageProcessor(size={"shortest_edge": 16}, crop_size=16),
    }
    if latent:
        parts["vae"] = tiny_vae()
    index = {"_class_name": "Zero1to3StableDiffusionPipeline" if layout == "cc_projection" else "Zero123Pipeline"}
    for name, obj in parts.items():
        obj.save_pretrained(folder / name)
        index[name] = [type(obj).__module__.split(".")[0], type(obj).__name__]
    linear = torch.nn.Linear(width + 4, width)
    prefix = "projection" if layout == "cc_projection" else "proj"
    (folder / layout).mkdir()
    save_file({f"{prefix}.{k}": v.contiguous() for k, v in linear.state_dict().items()},
              folder / layout / "diffusion_pytorch_model.safetensors")
    if layout == "cc_projection":
        config = {"_class_name": "CCProjection", "_diffusers_version": "0.18.0"}
        index[layout] = ["pipeline_zero1to3", "CCProjection"]
    else:
        config = {"_class_name": "CLIPCameraProjection", "embedding_dim": width, "additional_embeddings": 4}
        index[layout] = ["zero123", "CLIPCameraProjection"]
    (folder / layout / "config.json").write_text(json.dumps(config))
    (folder / "model_index.json").write_text(json.dumps(index))
    return {**parts, "projection": linear}
