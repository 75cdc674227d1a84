"""The world's judge: a small CNN that names the shape, the colour and (for mugs) the side in view of a render.

It scores 2D samples of the prior and renders of trained fields alike (`load_judge()(images)`), so "does this
look like a red mug seen from the front" has a measurable answer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, SIDES


def judge_dir() -> Path:
    from scoredream.priors.loading import assets_dir

    return assets_dir() / "judge"


@dataclass
class JudgeConfig:
    image_size: int = 32
    widths: tuple[int, int, int] = (32, 64, 128)
    """channels of the three conv stages (each halves the resolution)"""
    shapes: tuple[str, ...] = SHAPE_NAMES
    colours: tuple[str, ...] = COLOUR_NAMES
    sides: tuple[str, ...] = SIDES


@dataclass
class JudgeOutput:
    shape_logits: Float[Tensor, "B S"]
    colour_logits: Float[Tensor, "B C"]
    side_logits: Float[Tensor, "B 3"]  # meaningful for mugs only

    @property
    def shape(self) -> Int[Tensor, " B"]:
        return self.shape_logits.argmax(-1)

    @property
    def colour(self) -> Int[Tensor, " B"]:
        return self.colour_logits.argmax(-1)

    @property
    def side(self) -> Int[Tensor, " B"]:
        return self.side_logits.argmax(-1)

    def names(self) -> list[tuple[str, str, str]]:
        """(colour, shape, side) per image, as words."""
        return [
            (COLOUR_NAMES[c], SHAPE_NAMES[s], SIDES[v])
            for c, s, v in zip(self.colour.tolist(), self.shape.tolist(), self.side.tolist(), strict=True)
        ]


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.MaxPool2d(2),
    )


class Judge(nn.Module):
    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or JudgeConfig()
        w = config.widths
        self.features = nn.Sequential(_stage(3, w[0]), _stage(w[0], w[1]), _stage(w[1], w[2]))
        flat = w[2] * (config.image_size // 8) ** 2
        # Flatten, not global pooling: the mug's side is where the handle is in the image.
        self.trunk = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(flat, 256), nn.ReLU())
        self.shape_head = nn.Linear(256, len(config.shapes))
        self.colour_head = nn.Linear(256, len(config.colours))
        self.side_head = nn.Linear(256, len(config.sides))

    def forward(self, images: Float[Tensor, "B 3 H W"]) -> JudgeOutput:
        """Images in [0, 1]; resized to the judge's resolution if needed."""
        size = self.config.image_size
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, (size, size), mode="bilinear", align_corners=False, antialias=True)
        h = self.trunk(self.features(images * 2 - 1))
        return JudgeOutput(self.shape_head(h), self.colour_head(h), self.side_head(h))


def save_judge(judge: Judge, folder: Path, metrics: dict[str, float] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, folder / "model.safetensors")
    config = {**asdict(judge.config), "metrics": metrics or {}}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def load_judge(folder: Path | None = None, device: torch.device | str = "cpu") -> Judge:
    """The shipped judge (assets/judge), in eval mode."""
    folder = folder or judge_dir()
    raw = json.loads((folder / "config.json").read_text())
    raw.pop("metrics", None)
    config = JudgeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    judge = Judge(config)
    judge.load_state_dict(load_file(folder / "model.safetensors"))
    return judge.to(device).eval().requires_grad_(False)


@torch.no_grad()
def judged_right(judge: Judge, images: Float[Tensor, "B 3 H W"], texts: list[str]) -> Tensor:
    """Per image: does the judge see its prompt's shape AND colour (texts are shapes-world prompts)?"""
    from scoredream.world.shapes import parse_prompt

    verdict = judge(images.to(next(judge.parameters()).device))
    wanted = [parse_prompt(t) for t in texts]
    shape = torch.tensor([SHAPE_NAMES.index(s) for _, s in wanted], device=verdict.shape.device)
    colour = torch.tensor([COLOUR_NAMES.index(c) for c, _ in wanted], device=verdict.shape.device)
    return ((verdict.shape == shape) & (verdict.colour == colour)).cpu()
