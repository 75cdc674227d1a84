"""The one-step student (SwiftBrush): the teacher's UNet, fine-tuned to map pure noise and a prompt to an image.

It reads noise at one fixed timestep t and its prediction, converted to x0 by the teacher's prediction type, is
the image (pixels in [-1, 1], or latents that the teacher's VAE decodes): one UNet call per image, no CFG.

A student folder is the UNet's own diffusers folder (`UNet2DConditionModel.from_pretrained(folder)` loads it) plus
`scoredream_student.json`: the timestep and the teacher, whose tokenizer, text encoder and VAE it borrows.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.errors import CheckpointError
from scoredream.priors.diffusion_prior import DiffusionPrior, PriorConfig
from scoredream.priors.loading import assets_dir
from scoredream.serialization import ConfigError, from_dict, to_dict

STUDENT_FILE = "scoredream_student.json"
SHIPPED = "embedded"
"""the name of the shipped student, assets/student2d (the embedded prior's, as `--prior embedded` names it)"""
FORMAT = "scoredream-one-step-student/1"
MIN_SIGNAL = 0.004
"""Lowest alpha_bar at the student's timestep: Stable Diffusion's last timestep (999) has 0.0047, where SwiftBrush
reads its noise. Below it the epsilon -> x0 conversion divides the UNet's error by sqrt(alpha_bar): the embedded
prior's cosine schedule reaches 2.4e-9 at 999 (error x 20,000; its one-step images there have std 1000)."""


def student_timestep(alphas_cumprod: Float[Tensor, " T"], min_signal: float = MIN_SIGNAL) -> int:
    """SwiftBrush's t = T: the last timestep, or the last one with alpha_bar >= min_signal where T has less."""
    ok = (alphas_cumprod >= min_signal).nonzero()
    if len(ok) == 0:
        raise ConfigError(f"no timestep of this prior has alpha_bar >= {min_signal}")
    return int(ok.max())


@dataclass
class StudentInfo:
    """What a student needs besides its UNet: the teacher (for prompts and decoding) and its timestep."""

    teacher: PriorConfig
    timestep: int
    format: str = FORMAT
    step: int | None = None
    """the training step of these weights (None: not recorded)"""
    validation_accuracy: float | None = None
    """their judged accuracy on the validation noise (`VALIDATION_SEED`) when the trainer kept them as its best"""


class OneStepStudent(nn.Module):
    def __init__(self, unet: nn.Module, prior: DiffusionPrior, timestep: int) -> None:
        super().__init__()
        if not 0 <= timestep < prior.num_train_timesteps:
            raise ConfigError(f"the student's timestep must be in [0, {prior.num_train_timesteps}), got {timestep}")
        self.unet = unet
        self.prior = [prior]  # a list: the teacher is not a submodule (its weights are not the student's)
        self.timestep = timestep
        self.step: int | None = None  # where these weights come from, recorded in the folder's json
        self.validation_accuracy: float | None = None

    @classmethod
    def from_teacher(cls, prior: DiffusionPrior, timestep: int | None = None,
                     min_signal: float = MIN_SIGNAL) -> OneStepStudent:
        """A trainable copy of the teacher's UNet (SwiftBrush's initialisation)."""
        unet = copy.deepcopy(prior.unet).requires_grad_(True).float()
        return cls(unet, prior, student_timestep(prior.alphas_cumprod, min_signal) if timestep is None else timestep)

    @property
    def teacher(self) -> DiffusionPrior:
        return self.prior[0]

    def noise(self, n: int, generator: torch.Generator | None = None) -> Float[Tensor, "B C h w"]:
        config = self.unet.config  # type: ignore[attr-defined]
        size = config.sample_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        device = next(self.unet.parameters()).device
        return torch.randn(n, config.in_channels, size, size, generator=generator).to(device)

    def forward(self, noise: Float[Tensor, "B C h w"], text: Float[Tensor, "B L D"]) -> Float[Tensor, "B C h w"]:
        """x0 in the teacher's space, differentiable w.r.t. the student's weights."""
        t = torch.full((noise.shape[0],), self.timestep, device=noise.device, dtype=torch.long)
        dtype = next(self.unet.parameters()).dtype
        out = self.unet(noise.to(dtype), t, encoder_hidden_states=text.to(dtype)).sample.float()
        return self.teacher.to_sample(out, noise.float(), t)

    @torch.no_grad()
    def sample(
        self, prompts: list[str], generator: torch.Generator | None = None, noise: Tensor | None = None
    ) -> Float[Tensor, "B 3 H W"]:
        """Images in [0, 1], one per prompt (the teacher's VAE decodes a latent student's output)."""
        prompts = [self.teacher.check_prompt(p) for p in prompts]
        noise = self.noise(len(prompts), generator) if noise is None else noise
        return self.teacher.decode(self(noise, self.teacher.encode_text(prompts)))

    def info(self) -> StudentInfo:
        teacher = self.teacher
        return StudentInfo(PriorConfig(model=teacher.source, dtype=_dtype_name(teacher.dtype)), self.timestep,
                           step=self.step, validation_accuracy=self.validation_accuracy)

    def save_pretrained(self, folder: Path, half: bool = False) -> None:
        """`half`: float16 weights (half the size; loaded back in the teacher's precision)."""
        folder = Path(folder)
        unet = copy.deepcopy(self.unet).half() if half else self.unet
        unet.save_pretrained(folder)  # type: ignore[operator]
        (folder / STUDENT_FILE).write_text(json.dumps(to_dict(asdict(self.info())), indent=2) + "\n")

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, prior: DiffusionPrior | None = None, device: torch.device | str = "cpu"
    ) -> OneStepStudent:
        """A saved student (a folder, or `embedded`: the shipped one); its teacher is loaded from the folder's json
        unless given."""
        folder = student_folder(folder)
        info = read_student_info(folder)
        from diffusers import UNet2DConditionModel

        prior = prior or info.teacher.setup(device)
        try:
            unet = UNet2DConditionModel.from_pretrained(folder, torch_dtype=prior.dtype)
        except Exception as e:  # from_pretrained raises many types; all mean the same to the user
            raise CheckpointError(f"{folder} holds no loadable student UNet: {e}") from e
        student = cls(unet.to(device).eval().requires_grad_(False), prior, info.timestep)
        student.step, student.validation_accuracy = info.step, info.validation_accuracy
        return student


def student_folder(name: str | Path) -> Path:
    """The folder of a student: `embedded` names the shipped one (assets/student2d), anything else is a path."""
    return assets_dir() / "student2d" if str(name) == SHIPPED else Path(name)


def read_student_info(folder: Path) -> StudentInfo:
    path = folder / STUDENT_FILE
    if not path.exists():
        raise CheckpointError(f"{folder} is not a one-step student folder (no {STUDENT_FILE}; train one with "
                              "`scoredream distill2d`)")
    try:
        info = from_dict(StudentInfo, json.loads(path.read_text()))
    except (ValueError, ConfigError) as e:
        raise CheckpointError(f"{path} is broken: {e}") from e
    if info.format != FORMAT:
        raise CheckpointError(f"{path} has format {info.format!r}, expected {FORMAT!r}")
    return info


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
