"""Time one training step of SDS, VSD and ASD with a Stable-Diffusion-2.1-base-shaped UNet and VAE (random weights,
built from their configs; random 77x1024 text embeddings instead of a text encoder), at two render sizes, eager and
under torch.compile, with a per-component breakdown.

    .venv/bin/python scripts/bench_gpu_step.py                   # GPU: SD-2.1-base shapes, fp16, 64 and 512 renders
    .venv/bin/python scripts/bench_gpu_step.py --tiny --repeats 1  # CPU: tiny configs, exercises every code path

Components (ms, mean over --repeats after --warmup): render (field forward), encode (resize + VAE encoder),
unet (the prior's noise predictions), lora_noise (VSD's LoRA branch), lora_train (VSD's LoRA forward + backward +
AdamW), guidance_other (the rest of the guidance call), backward (surrogate -> VAE -> field), optimizer.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import nn
from transformers import PreTrainedTokenizerFast

from scoredream.fields import HashGridConfig
from scoredream.guidance import ASDConfig, SDSConfig, VSDConfig
from scoredream.priors import DiffusionPrior, PromptEmbeddings
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import CameraSamplerConfig
from scoredream.render.volume import RenderConfig, render

SD21_BASE_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
)
SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512,
    scaling_factor=0.18215,
)
TINY_UNET = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8, use_linear_projection=True,
)
TINY_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), norm_num_groups=8,
    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16,
)


class RandomTextEncoder(nn.Module):
    """Token ids -> fixed random embeddings (L x width), shaped like a CLIP text encoder's last hidden state."""

    def __init__(self, vocab: int, length: int, width: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(length, width))

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.table(ids) + self.position,)


def word_tokenizer(length: int) -> PreTrainedTokenizerFast:
    words = ["a", "red", "mug", "cube", "front", "side", "back", "overhead", "view", ","]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[PAD]", "[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", model_max_length=length)


def build_prior(tiny: bool, dtype: torch.dtype, device: torch.device) -> DiffusionPrior:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**(TINY_UNET if tiny else SD21_BASE_UNET))
    vae = AutoencoderKL(**(TINY_VAE if tiny else SD_VAE))
    tokenizer = word_tokenizer(12 if tiny else 77)
    text = RandomTextEncoder(len(tokenizer), tokenizer.model_max_length, unet.config.cross_attention_dim)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                              beta_end=0.012, prediction_type="epsilon")
    prior = DiffusionPrior(unet.to(dtype), text, tokenizer, scheduler, vae.to(dtype), source="random")
    return prior.to(device)


class Timer:
    """Wall-clock per component; synchronises the GPU around each timed call so the times are the work's own."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.ms: dict[str, float] = defaultdict(float)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            self.sync()
            self.ms[name] += 1000 * (time.perf_counter() - t0)
            return out

        return timed


def bench_method(method: str, prior: DiffusionPrior, resolution: int, compiled: bool, args: argparse.Namespace,
                 device: torch.device) -> dict[str, float]:
    cfg = {"sds": SDSConfig(), "vsd": VSDConfig(), "asd": ASDConfig()}[method]
    guidance = cfg.setup(prior)
    if compiled and method == "vsd":
        guidance.lora.unet[0].compile(mode=args.compile_mode)
    timer = Timer(device)
    prior.encode_images = timer.wrap("encode", prior.encode_images)  # type: ignore[method-assign]
    prior.predict_noise = timer.wrap("unet", prior.predict_noise)  # type: ignore[method-assign]
    if method == "vsd":
        guidance.lora_noise = timer.wrap("lora_noise", guidance.lora_noise)
        guidance.train_lora = timer.wrap("lora_train", guidance.train_lora)
    torch.manual_seed(0)
    field = HashGridConfig(backend="torch").setup().to(device)
    background = BackgroundConfig().setup().to(device)
    optimizer = torch.optim.AdamW(list(field.parameters()) + list(background.parameters()), lr=1e-2, eps=1e-15)
    prompt = PromptEmbeddings(prior, "a red mug")
    generator = torch.Generator().manual_seed(0)
    render_config = RenderConfig(num_samples=args.samples)
    step_ms = 0.0
    for i in range(args.warmup + args.repeats):
        if i == args.warmup:
            timer.ms.clear()
            step_ms = 0.0
        cams = CameraSamplerConfig().sample(args.batch, generator).to(device)
        timer.sync()
        t_start = time.perf_counter()
        out = timer.wrap("render", render)(field, cams, resolution, resolution, background, render_config,
                                           training=True, generator=generator)
        g = timer.wrap("guidance", guidance)(out.rgb, cams, prompt, 0, generator)
        optimizer.zero_grad(set_to_none=True)
        timer.wrap("backward", g.loss.backward)()
        timer.wrap("optimizer", optimizer.step)()
        step_ms += 1000 * (time.perf_counter() - t_start)
    for attr in ("encode_images", "predict_noise"):  # the prior's own methods again, for the next method
        del prior.__dict__[attr]
    ms = {k: v / args.repeats for k, v in timer.ms.items()}
    inner = sum(ms.get(k, 0.0) for k in ("encode", "unet", "lora_noise", "lora_train"))
    ms["guidance_other"] = ms.pop("guidance") - inner
    ms["step"] = step_ms / args.repeats
    if device.type == "cuda":
        ms["peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    return ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="tiny UNet/VAE (CPU check of the code paths)")
    p.add_argument("--methods", nargs="+", default=["sds", "vsd", "asd"], choices=["sds", "vsd", "asd"])
    p.add_argument("--resolutions", type=int, nargs="+", default=None, help="render sizes (default 64 512)")
    p.add_argument("--modes", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    p.add_argument("--compile-mode", default="default", help="torch.compile mode (default, reduce-overhead, ...)")
    p.add_argument("--batch", type=int, default=1, help="views per step (B)")
    p.add_argument("--samples", type=int, default=32, help="samples per ray")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--dtype", default=None, choices=["float32", "float16", "bfloat16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("float16" if device.type == "cuda" else "float32"))
    resolutions = args.resolutions or ([16, 32] if args.tiny else [64, 512])
    prior = build_prior(args.tiny, dtype, device)
    print(f"device {device}, dtype {dtype}, UNet {sum(p.numel() for p in prior.unet.parameters()) / 1e6:.1f}M "
          f"params, VAE {sum(p.numel() for p in prior.vae.parameters()) / 1e6:.1f}M, B={args.batch}", flush=True)
    columns = ["render", "encode", "unet", "lora_noise", "lora_train", "guidance_other", "backward", "optimizer",
               "step"] + (["peak_GiB"] if device.type == "cuda" else [])
    print("| mode | method | render px | " + " | ".join(columns) + " |")
    print("|---" * (3 + len(columns)) + "|", flush=True)
    for mode in args.modes:
        if mode == "compile":
            prior.unet.compile(mode=args.compile_mode)
            prior.vae.encoder.compile(mode=args.compile_mode)
        for resolution in resolutions:
            for method in args.methods:
                ms = bench_method(method, prior, resolution, mode == "compile", args, device)
                cells = [f"{ms.get(c, 0.0):.1f}" if c != "peak_GiB" else f"{ms[c]:.1f}" for c in columns]
                print(f"| {mode} | {method} | {resolution} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
