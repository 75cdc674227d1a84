"""Train the embedded novel-view prior (32x32 pixel Zero-1-to-3 of the shapes world) into assets/novel_view.

    python scripts/train_novel_view.py --minutes 70 --threads 1   # run 1 of the shipped weights (TRAINING.md: 1, 2, 5)
    python scripts/train_novel_view.py --steps 20000 --batch-size 128 --device cuda

Starts from the shipped text prior's UNet (conv_in widened to 6 channels, new weights zero); trains it with a tiny
CLIP image encoder and the camera projection on pairs of views of the same object (`sample_pairs`: the trainer's
camera distribution, exact renders of the world). The condition (token and concatenated image) is dropped for 10%
of the pairs, as Zero123's unconditional branch for classifier-free guidance.

With --minutes the learning-rate schedule runs on wall time. Stop it at any time; rerunning the same command
resumes from the last checkpoint (--checkpoint); `--init assets/novel_view` continues from shipped weights.
`--export-only` writes the folder from the checkpoint's EMA weights without training. The saved prior holds the EMA
weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_prior import TrainingRun, load_bank, shape_weights  # noqa: E402  (one owner for each)

from scoredream.errors import PriorLoadError  # noqa: E402
from scoredream.priors.novel_view import ImageCondition, NovelViewPrior, NovelViewPriorConfig  # noqa: E402
from scoredream.world.dataset import GeometryBank  # noqa: E402
from scoredream.world.novel_view_model import (  # noqa: E402
    NovelViewModelConfig,
    build_novel_view_model,
    sample_pairs,
    save_novel_view,
)
from scoredream.world.prior_model import load_unet_weights  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="at most this many steps")
    parser.add_argument("--minutes", type=float, default=None, help="training time budget (wall time)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="image encoder and camera projection")
    parser.add_argument("--unet-lr", type=float, default=3e-4, help="the UNet (initialised from the text prior)")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--ema-decay", type=float, default=0.998)
    parser.add_argument(
        "--token-in-resnets", action="store_true",
        help="the UNet also reads the conditioning token in every ResNet block (a zero-initialised projection class "
        "embedding; README, 'The novel-view prior'); the shipped weights do not",
    )
    parser.add_argument(
        "--orbit", type=float, default=0.0,
        help="fraction of pairs whose target keeps the input's elevation and apparent distance (`orbit_views`); "
        "runs 1-2 used 0, the shipped run 5 0.5 (assets/novel_view/TRAINING.md)",
    )
    parser.add_argument(
        "--noisy-weight", type=float, default=1.0,
        help="weigh each pair's noise error by min(1 / alpha_bar_t, this): above 1, the noisy steps where the "
        "condition decides the layout count more (1 / alpha_bar is v-prediction's weight); runs 1-2 used 1, run 5 20",
    )
    parser.add_argument(
        "--shape-weight", action="append", default=[], metavar="SHAPE=W",
        help="draw this shape's input views W times as often as the others' (repeatable; e.g. mug=3); runs 1-5 drew "
        "every view equally",
    )
    parser.add_argument("--drop", type=float, default=0.1, help="condition dropout (classifier-free guidance)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path("data/world_geometry.pt"))
    parser.add_argument("--views-per-shape", type=int, default=4000, help="when --data must be rendered")
    parser.add_argument("--checkpoint", type=Path, default=Path("data/novel_view_checkpoint.pt"))
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("assets/novel_view"))
    parser.add_argument("--export-only", action="store_true", help="write --out from the checkpoint and stop")
    parser.add_argument(
        "--init", type=Path, default=None,
        help="start from this saved novel-view prior folder (e.g. assets/novel_view) instead of the text prior; "
        "ignored when --checkpoint exists",
    )
    args = parser.parse_args()
    args.shape_weights = shape_weights(args.shape_weight) if args.shape_weight else None
    return args


def warm_start(models: torch.nn.ModuleDict, folder: Path) -> None:
    """Copy a saved prior's weights (its EMA, in float16) into the models, through the loader users have."""
    try:
        saved = NovelViewPriorConfig(model=str(folder), local_files_only=True).setup()
    except PriorLoadError as e:
        raise SystemExit(f"error: --init {folder}: {e}") from None
    load_unet_weights(models["unet"], saved.unet.state_dict())
    models["image_encoder"].load_state_dict(saved.image_encoder.state_dict())
    models["cc_projection"].projection.load_state_dict(saved.camera_projection.state_dict())
    print(f"started from {folder}")


def pair_loss(
    prior: NovelViewPrior, bank: GeometryBank, args: argparse.Namespace, generator: torch.Generator
) -> torch.Tensor:
    """Denoising loss on the target view given the reference view and the relative camera, each pair's noise error
    weighted by min(1 / alpha_bar_t, --noisy-weight) (1 for the default: plain noise MSE)."""
    device = prior.alphas_cumprod.device
    pairs = sample_pairs(bank, args.batch_size, generator, orbit=args.orbit, shape_weights=args.shape_weights)
    reference, x0 = pairs.reference.to(device), (pairs.target * 2 - 1).to(device)
    condition = ImageCondition(prior.clip_embedding(reference), prior.image_latent(reference))
    noise = torch.randn(x0.shape, generator=generator).to(device)
    t = torch.randint(0, prior.num_train_timesteps, (len(x0),), generator=generator).to(device)
    drop = (torch.rand(len(x0), generator=generator) < args.drop).to(device)
    cams = (pairs.d_elevation, pairs.d_azimuth, pairs.d_distance)
    eps = prior.predict_noise(prior.add_noise(x0, noise, t), t, condition, *(c.to(device) for c in cams), drop)
    weight = (1 / prior.alphas_cumprod[t]).clamp(max=args.noisy_weight)
    return (weight * (eps - noise).square().mean((1, 2, 3))).mean()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    model_config = NovelViewModelConfig(token_in_resnets=args.token_in_resnets)
    unet, encoder, projection, scheduler = build_novel_view_model(model_config)
    prior = NovelViewPrior(unet, encoder, scheduler, projection.projection, source="training").to(device)
    models = torch.nn.ModuleDict({"unet": unet, "image_encoder": encoder, "cc_projection": projection})
    if args.init and not args.checkpoint.exists():
        warm_start(models, args.init)
    models.requires_grad_(True).train()
    # Weights the text prior did not have (the token's class embedding) learn at the new modules' rate.
    new = list(unet.class_embedding.parameters()) if unet.class_embedding is not None else []
    started = [p for name, p in unet.named_parameters() if not name.startswith("class_embedding.")]
    groups = [
        {"params": started, "lr": args.unet_lr},
        {"params": [*new, *encoder.parameters(), *projection.parameters()], "lr": args.lr},
    ]
    run = TrainingRun(args, models, torch.optim.AdamW(groups, weight_decay=0.01),
                      torch.Generator().manual_seed(args.seed))
    run.resume()
    if args.export_only:
        return export(args, run, scheduler)
    bank = load_bank(args.data, args.views_per_shape, args.seed)
    n_params = sum(p.numel() for p in models.parameters())
    print(f"{n_params / 1e6:.2f}M parameters, {len(bank)} views, device {device}, {args.threads} threads")
    run.train(lambda: pair_loss(prior, bank, args, run.generator), desc="novel view", mininterval=10.0)
    export(args, run, scheduler)


def export(args: argparse.Namespace, run: TrainingRun, scheduler: object) -> None:
    ema = run.ema
    save_novel_view(args.out, ema["unet"], ema["image_encoder"], ema["cc_projection"], scheduler)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(
        f"saved EMA novel-view prior to {args.out} ({size / 1e6:.1f} MB); {run.step} steps x {args.batch_size} pairs "
        f"in {run.elapsed / 60:.1f} min of training on {args.device} ({args.threads} threads), final loss {run.loss}"
    )


if __name__ == "__main__":
    main()
