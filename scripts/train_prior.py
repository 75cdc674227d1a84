"""Train the embedded shapes-world prior (32x32 pixel diffusion + tiny CLIP text encoder) into assets/prior.

    python scripts/train_prior.py --minutes 50 --device cpu           # what shipped: 50 min on 1 CPU core
    python scripts/train_prior.py --steps 20000 --batch-size 128 --device cuda   # better, minutes on a GPU
    python scripts/train_prior.py --init assets/prior --freeze-text-encoder --shape-weight mug=2 --minutes 50 \
        --checkpoint data/prior_checkpoint_v2.pt --out outputs/prior_v2                  # continue shipped weights

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
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from scoredream.errors import PriorLoadError
from scoredream.priors import PriorConfig
from scoredream.world.dataset import GeometryBank, render_bank, sample_batch
from scoredream.world.prior_model import (
    PriorModelConfig,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_unet,
    save_prior,
)
from scoredream.world.shapes import SHAPE_NAMES


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


def load_bank(args: argparse.Namespace) -> GeometryBank:
    """The traced views of `--data`, rendered first when the file is missing."""
    if not args.data.exists():
        print(f"rendering {args.data} ...")
        render_bank(args.views_per_shape, torch.Generator().manual_seed(args.seed)).save(args.data)
    bank = GeometryBank.load(args.data)
    stale = bank.stale_shapes()
    if stale:
        raise SystemExit(
            f"error: {args.data} was rendered from an older world ({', '.join(stale)} changed since); "
            "delete it (or pass another --data) so it is rendered again"
        )
    return bank


def warm_start(models: torch.nn.ModuleDict, folder: Path) -> None:
    """Copy a saved prior's weights into the models, through the loader users have."""
    try:
        saved = PriorConfig(model=str(folder), local_files_only=True).setup("cpu")
    except PriorLoadError as e:
        raise SystemExit(f"error: --init {folder}: {e}") from None
    models["unet"].load_state_dict(saved.unet.float().state_dict())
    models["text_encoder"].load_state_dict(saved.text_encoder.float().state_dict())
    print(f"started from {folder}")


def lr_factor(step: int, warmup: int, progress: float) -> float:
    """Linear warm-up, then cosine decay to 10% over the run's progress in [0, 1]."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1 - decay)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bank = load_bank(args)
    torch.manual_seed(args.seed)
    config = PriorModelConfig()
    tokenizer = build_tokenizer(config)
    text_encoder = build_text_encoder(config, len(tokenizer)).to(device)
    unet = build_unet(config).to(device)
    scheduler = build_scheduler(config)
    models = torch.nn.ModuleDict({"unet": unet, "text_encoder": text_encoder})
    if args.init and not args.checkpoint.exists():
        warm_start(models, args.init)
    text_encoder.requires_grad_(not args.freeze_text_encoder)
    ema = copy.deepcopy(models).requires_grad_(False)
    trained = [p for p in models.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    alphas_cumprod = scheduler.alphas_cumprod.to(device)
    generator = torch.Generator().manual_seed(args.seed)
    step, elapsed = 0, 0.0
    if args.checkpoint.exists():
        state = torch.load(args.checkpoint, weights_only=True)
        if bool(state.get("frozen_text_encoder", False)) != args.freeze_text_encoder:
            raise SystemExit(
                f"error: {args.checkpoint} was written {'without' if args.freeze_text_encoder else 'with'} "
                "--freeze-text-encoder; resume with the same setting, or pass another --checkpoint"
            )
        models.load_state_dict(state["models"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed from {args.checkpoint} at step {step}")
    n_params = sum(p.numel() for p in models.parameters())
    print(f"{n_params / 1e6:.2f}M parameters, {len(bank)} views, device {device}, {args.threads} threads")

    def checkpoint() -> None:
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        state = {"models": models.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                 "generator": generator.get_state(), "step": step, "elapsed": elapsed,
                 "frozen_text_encoder": args.freeze_text_encoder}
        torch.save(state, args.checkpoint.with_suffix(".tmp"))
        args.checkpoint.with_suffix(".tmp").replace(args.checkpoint)

    def progress() -> float:
        done = step / args.steps
        return max(done, elapsed / (60 * args.minutes)) if args.minutes else done

    bar = tqdm(total=args.steps, initial=step, desc="prior", mininterval=5.0)
    running = None
    while progress() < 1:
        start = time.perf_counter()
        batch = sample_batch(bank, args.batch_size, generator, shape_weights=args.shape_weights)
        x0 = (batch.images * 2 - 1).to(device)
        ids = tokenizer(
            batch.captions, padding="max_length", max_length=config.max_tokens, truncation=True,
            return_tensors="pt",
        ).input_ids.to(device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=generator).to(device)
        a = alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        pred = unet(x_t, t, encoder_hidden_states=text_encoder(ids)[0]).sample
        loss = F.mse_loss(pred, noise)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * lr_factor(step, args.warmup, progress())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        # Short EMA warm-up so early checkpoints are not dominated by the random initialisation.
        ema_update(ema, models, min(args.ema_decay, (1 + step) / (10 + step)))
        step += 1
        elapsed += time.perf_counter() - start
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", s_per_step=f"{elapsed / step:.2f}")
        if step % args.checkpoint_every == 0:
            checkpoint()
    checkpoint()
    bar.close()

    save_prior(args.out, ema["unet"], ema["text_encoder"], tokenizer, scheduler)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"saved EMA prior to {args.out} ({size / 1e6:.1f} MB); {step} steps x {args.batch_size} images in "
        f"{elapsed / 60:.1f} min of training on {device} ({args.threads} threads), final loss {running:.4f}"
    )


if __name__ == "__main__":
    main()
