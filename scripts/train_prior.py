"""Train the embedded shapes-world prior (32x32 pixel diffusion, or 64x64 with --image-size 64, + tiny CLIP text
encoder) into assets/prior.

    python scripts/train_prior.py --minutes 50 --device cpu           # what shipped: 50 min on 1 CPU core
    python scripts/train_prior.py --steps 20000 --batch-size 128 --device cuda   # better, minutes on a GPU
    python scripts/train_prior.py --init assets/prior --freeze-text-encoder --shape-weight mug=2 --minutes 50 \
        --checkpoint data/prior_checkpoint_v2.pt --out outputs/prior_v2                  # continue shipped weights
    python scripts/train_prior.py --image-size 64 --data data/world_geometry_64.pt \
        --checkpoint data/prior_checkpoint_64.pt --out outputs/prior64                    # a 64x64 prior

With --minutes the learning-rate schedule runs on wall time, so a busy shared machine gets a shorter but
complete schedule instead of an unfinished one.

Stop it at any time; rerunning the same command resumes from the last checkpoint (--checkpoint). The saved
prior holds the EMA weights; `--init` continues from a saved prior's weights (a fresh optimiser and schedule).
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from scoredream.errors import PriorLoadError
from scoredream.priors import PriorConfig
from scoredream.priors.camera_labels import camera_labels, reads_cameras
from scoredream.progress import cosine_decay
from scoredream.world.dataset import GeometryBank, render_bank, sample_batch
from scoredream.world.prior_model import (
    PriorModelConfig,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_unet,
    load_unet_weights,
    save_prior,
)
from scoredream.world.render import WorldRenderConfig
from scoredream.world.shapes import SHAPE_NAMES

UNET_WIDTHS = {32: (32, 64, 96), 64: (32, 48, 64, 96)}
"""UNet widths per level for each --image-size; 64's are narrower at full size to keep a CPU step near 1 s"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100_000, help="at most this many steps")
    parser.add_argument("--minutes", type=float, default=None, help="training time budget (wall time)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="CPU threads; 2 is 1.4x faster alone but stalls when the cores are shared"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path("data/world_geometry.pt"))
    parser.add_argument(
        "--image-size", type=int, default=32, choices=sorted(UNET_WIDTHS),
        help="pixel size of the prior (and of --data's renders); 64 adds a UNet level, so cross-attention stays "
        "at 8x8",
    )
    parser.add_argument("--views-per-shape", type=int, default=4000, help="when --data must be rendered")
    parser.add_argument("--checkpoint", type=Path, default=Path("data/prior_checkpoint.pt"))
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("assets/prior"))
    parser.add_argument(
        "--init", type=Path, default=None,
        help="start from this saved prior folder (e.g. assets/prior) instead of random weights; "
        "ignored when --checkpoint exists",
    )
    parser.add_argument(
        "--freeze-text-encoder", action="store_true",
        help="train the UNet only: the shipped one-step student (assets/student2d) borrows this prior's text "
        "encoder, so a continued prior that keeps it keeps the student's prompts meaning what they did",
    )
    parser.add_argument(
        "--camera-conditioned", action="store_true",
        help="the UNet also reads each image's camera (scoredream.priors.camera_labels); with --init, the camera "
        "embedding starts at zero, so training starts from the saved prior's predictions",
    )
    parser.add_argument(
        "--shape-weight", action="append", default=[], metavar="SHAPE=W",
        help="draw this shape's views W times as often as the others' (repeatable), e.g. mug=2",
    )
    args = parser.parse_args()
    args.shape_weights = shape_weights(args.shape_weight) if args.shape_weight else None
    return args


def shape_weights(pairs: list[str]) -> torch.Tensor:
    """`--shape-weight` values ("mug=3") as one weight per `SHAPE_NAMES` entry, the unnamed ones 1."""
    weights = torch.ones(len(SHAPE_NAMES))
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if name not in SHAPE_NAMES or not math.isfinite(weight) or weight <= 0:
            raise SystemExit(f"error: --shape-weight {pair!r}: want SHAPE=W, SHAPE one of {', '.join(SHAPE_NAMES)}, "
                             "W a positive number")
        weights[SHAPE_NAMES.index(name)] = weight
    return weights


def load_bank(data: Path, views_per_shape: int, seed: int, image_size: int = 32) -> GeometryBank:
    """The traced views in `data`, rendered first (`views_per_shape` per shape, at `image_size`) when it is missing."""
    if not data.exists():
        print(f"rendering {data} ...")
        render_bank(views_per_shape, torch.Generator().manual_seed(seed),
                    config=WorldRenderConfig(resolution=image_size)).save(data)
    bank = GeometryBank.load(data)
    if bank.resolution != image_size:
        raise SystemExit(f"error: {data} holds {bank.resolution}px renders, this model wants {image_size}px; "
                         "pass another --data")
    stale = bank.stale_shapes()
    if stale:
        raise SystemExit(
            f"error: {data} was rendered from an older world ({', '.join(stale)} changed since); "
            "delete it (or pass another --data) so it is rendered again"
        )
    return bank


def warm_start(models: torch.nn.ModuleDict, folder: Path) -> None:
    """Copy a saved prior's weights into the models, through the loader users have."""
    try:
        saved = PriorConfig(model=str(folder), local_files_only=True).setup("cpu")
    except PriorLoadError as e:
        raise SystemExit(f"error: --init {folder}: {e}") from None
    size, wanted = saved.unet.config.sample_size, models["unet"].config.sample_size
    if size != wanted:
        raise SystemExit(f"error: --init {folder} is a {size}px prior, not --image-size {wanted}")
    if saved.reads_cameras and not reads_cameras(models["unet"]):
        raise SystemExit(f"error: --init {folder} reads cameras; pass --camera-conditioned too")
    load_unet_weights(models["unet"], saved.unet.float().state_dict())  # a new camera embedding starts at zero
    models["text_encoder"].load_state_dict(saved.text_encoder.float().state_dict())
    print(f"started from {folder}")


SETTING_FLAGS = {"frozen_text_encoder": ("--freeze-text-encoder", False), "image_size": ("--image-size", 32),
                 "camera_conditioned": ("--camera-conditioned", False)}
"""Settings a checkpoint's weights and optimiser depend on: their flag, and their value in checkpoints written
before the setting existed"""


def same_settings(state: dict, settings: dict, checkpoint: Path) -> None:
    """Refuses to resume `checkpoint` (its saved `state`) under other `settings` than it was written with."""
    for key, value in settings.items():
        flag, legacy = SETTING_FLAGS[key]
        saved = state.get(key, legacy)
        if saved != value:
            written = (flag if saved else f"no {flag}") if isinstance(saved, bool) else f"{flag} {saved}"
            raise SystemExit(f"error: {checkpoint} was written with {written}; resume with the same setting, "
                             "or pass another --checkpoint")


def lr_factor(step: int, warmup: int, progress: float) -> float:
    """Linear warm-up, then cosine decay to 10% over the run's progress in [0, 1]."""
    if step < warmup:
        return (step + 1) / warmup
    return cosine_decay(progress, 0.1)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1 - decay)


@dataclass
class TrainingRun:
    """The loop both prior-training scripts share: AdamW on the models' trainable weights with warm-up and cosine
    decay (on steps, or on wall time with --minutes), gradient clipping, an EMA copy (what gets saved), and a
    checkpoint that a rerun of the same command resumes from. `extra` is saved with it (settings a resume must
    match)."""

    args: argparse.Namespace  # steps, minutes, warmup, ema_decay, checkpoint, checkpoint_every
    models: torch.nn.ModuleDict
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    extra: dict = field(default_factory=dict)
    step: int = 0
    elapsed: float = 0.0
    loss: float | None = None  # running average

    def __post_init__(self) -> None:
        self.ema = copy.deepcopy(self.models).requires_grad_(False)
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.trained = [p for p in self.models.parameters() if p.requires_grad]

    def resume(self, check: Callable[[dict], None] | None = None) -> None:
        """Load --checkpoint if it exists, after `check` (which raises) has seen its state: a setting the saved
        optimiser depends on must match before the optimiser is loaded."""
        if not self.args.checkpoint.exists():
            return
        state = torch.load(self.args.checkpoint, weights_only=True)
        if check is not None:
            check(state)
        self.models.load_state_dict(state["models"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step, self.elapsed, self.loss = state["step"], state["elapsed"], state.get("loss")
        print(f"resumed from {self.args.checkpoint} at step {self.step}")

    def checkpoint(self) -> None:
        """Written to a temporary file and renamed, so a kill mid-write keeps the previous checkpoint."""
        path = self.args.checkpoint
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"models": self.models.state_dict(), "ema": self.ema.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                 "step": self.step, "elapsed": self.elapsed, "loss": self.loss, **self.extra}
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)

    def progress(self) -> float:
        done = self.step / self.args.steps
        return max(done, self.elapsed / (60 * self.args.minutes)) if self.args.minutes else done

    def train(self, loss_fn: Callable[[], torch.Tensor], desc: str, mininterval: float) -> None:
        """Steps of `loss_fn` until the run's steps or minutes are spent, with a progress bar."""
        bar = tqdm(total=self.args.steps, initial=self.step, desc=desc, mininterval=mininterval)
        while self.progress() < 1:
            start = time.perf_counter()
            loss = loss_fn()
            factor = lr_factor(self.step, self.args.warmup, self.progress())
            for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                group["lr"] = base * factor
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trained, 1.0)
            self.optimizer.step()
            # Short EMA warm-up so early checkpoints are not dominated by the random initialisation.
            ema_update(self.ema, self.models, min(self.args.ema_decay, (1 + self.step) / (10 + self.step)))
            self.step += 1
            self.elapsed += time.perf_counter() - start
            self.loss = loss.item() if self.loss is None else 0.98 * self.loss + 0.02 * loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{self.loss:.4f}", s_per_step=f"{self.elapsed / self.step:.2f}")
            if self.step % self.args.checkpoint_every == 0:
                self.checkpoint()
        self.checkpoint()
        bar.close()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bank = load_bank(args.data, args.views_per_shape, args.seed, args.image_size)
    torch.manual_seed(args.seed)
    config = PriorModelConfig(image_size=args.image_size, block_out_channels=UNET_WIDTHS[args.image_size],
                              camera_conditioned=args.camera_conditioned)
    tokenizer = build_tokenizer(config)
    text_encoder = build_text_encoder(config, len(tokenizer)).to(device)
    unet = build_unet(config).to(device)
    scheduler = build_scheduler(config)
    models = torch.nn.ModuleDict({"unet": unet, "text_encoder": text_encoder})
    if args.init and not args.checkpoint.exists():
        warm_start(models, args.init)
    text_encoder.requires_grad_(not args.freeze_text_encoder)
    trained = [p for p in models.parameters() if p.requires_grad]
    settings = {"frozen_text_encoder": args.freeze_text_encoder, "image_size": args.image_size,
                "camera_conditioned": args.camera_conditioned}
    run = TrainingRun(args, models, torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01),
                      torch.Generator().manual_seed(args.seed), extra=settings)
    run.resume(lambda state: same_settings(state, settings, args.checkpoint))
    n_params = sum(p.numel() for p in models.parameters())
    print(f"{n_params / 1e6:.2f}M parameters, {len(bank)} views, device {device}, {args.threads} threads")
    alphas_cumprod = scheduler.alphas_cumprod.to(device)

    def denoising_loss() -> torch.Tensor:
        batch = sample_batch(bank, args.batch_size, run.generator, shape_weights=args.shape_weights)
        x0 = (batch.images * 2 - 1).to(device)
        ids = tokenizer(
            batch.captions, padding="max_length", max_length=config.max_tokens, truncation=True,
            return_tensors="pt",
        ).input_ids.to(device)
        noise = torch.randn(x0.shape, generator=run.generator).to(device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=run.generator).to(device)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        cameras = camera_labels(batch.cameras).to(device) if args.camera_conditioned else None
        pred = unet(x_t, t, encoder_hidden_states=text_encoder(ids)[0], class_labels=cameras).sample
        return F.mse_loss(pred, noise)

    run.train(denoising_loss, desc="prior", mininterval=5.0)
    save_prior(args.out, run.ema["unet"], run.ema["text_encoder"], tokenizer, scheduler)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"saved EMA prior to {args.out} ({size / 1e6:.1f} MB); {run.step} steps x {args.batch_size} images in "
        f"{run.elapsed / 60:.1f} min of training on {device} ({args.threads} threads), final loss {run.loss:.4f}"
    )


if __name__ == "__main__":
    main()
