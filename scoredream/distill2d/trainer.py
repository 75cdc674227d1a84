"""Train a one-step student by score distillation of its own images (SwiftBrush): the guidance of the 3D path
(`ScoreDistillation.distill`) scores the student's x0 exactly as it scores a field's render, VSD's LoRA learning
the student's distribution as it learns a field's.

Output folder: the student (diffusers UNet folder + scoredream_student.json): the best weights by validation
accuracy (early stopping; rewritten at each evaluation that beats the best so far), or the latest checkpoint's
when nothing is evaluated; `distill2d.json` (the config), `training/state.pt` (the LAST student weights and AdamW
moments, the guidance's LoRA state, RNG, step, time and the best evaluation: tensors and plain types, loaded with
weights_only=True; --resume continues from it), `training/log.jsonl` (one row per step; judged accuracy on the
validation noise, `VALIDATION_SEED`, where evaluated) and `training/samples.png` (the latest evaluation's first
sample of each prompt).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from scoredream.device import pick_device
from scoredream.distill2d.config import Distill2DConfig
from scoredream.distill2d.evaluate import VALIDATION_SEED, judge_sampler, save_grid
from scoredream.distill2d.student import OneStepStudent
from scoredream.errors import CheckpointError, TrainingDiverged
from scoredream.priors.diffusion_prior import DiffusionPrior
from scoredream.priors.loading import is_embedded
from scoredream.priors.prompts import PromptBatch
from scoredream.render.cameras import unposed_cameras
from scoredream.run_folder import RunFolderExists
from scoredream.serialization import ConfigError, load_json, save_json
from scoredream.train.checkpoint import _atomic
from scoredream.world.shapes import all_prompts, parse_prompt

CONFIG_FILE = "distill2d.json"
STATE_FILE = "training/state.pt"
LOG_FILE = "training/log.jsonl"
SAMPLES_FILE = "training/samples.png"


@dataclass
class Distill2DResult:
    folder: Path
    step: int
    seconds: float  # training time (without evaluations and checkpoints), over all sessions of the run
    accuracy: float | None  # the last judged (validation) accuracy, if evaluated
    best: tuple[int, float] | None  # (step, validation accuracy) of the saved student, if evaluated


def training_prompts(config: Distill2DConfig, prior: DiffusionPrior) -> list[str]:
    if not config.prompts and not is_embedded(config.prior.model):
        raise ConfigError("give training prompts (--prompts ...): only the embedded prior knows the shapes world's")
    return [prior.check_prompt(p) for p in (config.prompts or all_prompts())]


def is_shapes_world(prompts: list[str]) -> bool:
    try:
        [parse_prompt(p) for p in prompts]
    except ValueError:
        return False
    return True


class StudentTrainer:
    """The student, its optimiser, the guidance and the run's position; `run()` trains to the step/time budget."""

    def __init__(self, config: Distill2DConfig, folder: Path, resume: bool = False,
                 prior: DiffusionPrior | None = None) -> None:
        config.validate()
        if config.threads:
            torch.set_num_threads(config.threads)
        self.config, self.folder = config, Path(folder)
        if not resume and (self.folder / STATE_FILE).exists():
            raise RunFolderExists(f"{self.folder} already holds a distill2d run; continue it with --resume or "
                                  "choose another --output")
        self.prior = prior or config.prior.setup(pick_device(config.device))
        if self.prior.reads_cameras:
            raise ConfigError(f"{config.prior.model} is camera-conditioned, and a one-step 2D student has no camera "
                              "to give it: distil from a view-prompted prior (--prior.model embedded)")
        self.prompts = training_prompts(config, self.prior)
        self.student = OneStepStudent.from_teacher(self.prior, config.timestep, config.min_signal)
        self.guidance = config.guidance_config().setup(self.prior)  # type: ignore[attr-defined]
        self.optimizer = torch.optim.AdamW(self.student.unet.parameters(), lr=config.lr, betas=config.betas,
                                           weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.ema = ({k: v.detach().clone() for k, v in self.student.unet.state_dict().items()}
                    if config.ema_decay else None)
        self.step, self.seconds, self.accuracy = 0, 0.0, None
        self.best: tuple[int, float] | None = None  # (step, validation accuracy) of the student folder's weights
        if resume:
            self.load_state()

    def train_step(self) -> dict[str, float]:
        """One student step: its images for random prompts, scored by the guidance, one AdamW step."""
        c = self.config
        pick = torch.randint(len(self.prompts), (c.batch_size,), generator=self.generator)
        batch = PromptBatch(self.prior, [self.prompts[i] for i in pick.tolist()], c.negative_prompt)
        x0 = self.student(self.student.noise(c.batch_size, self.generator), batch.cond)
        progress = self.step / c.steps
        out = self.guidance.distill_images(x0, unposed_cameras(c.batch_size), batch, progress, self.generator)
        if not math.isfinite(float(out.loss.detach())):
            raise TrainingDiverged(f"the distillation loss is {float(out.loss.detach())} at step {self.step}; the last "
                                   f"checkpoint in {self.folder} is kept")
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if c.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.student.unet.parameters(), c.max_grad_norm)
        self.optimizer.step()
        self.update_ema()
        extra = [self.guidance.train_lora(x0.detach(), batch.plain, unposed_cameras(c.batch_size).c2w.to(x0.device),
                                          self.generator) for _ in range(c.lora_steps - 1 if c.method == "vsd" else 0)]
        self.step += 1
        stats = {**out.stats, **({"lora_loss": extra[-1]} if extra else {})}
        return {"loss": float(out.loss.detach()), "grad_norm": out.grad_norm, "x0_std": float(x0.detach().std()),
                **stats}

    def update_ema(self) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            for k, v in self.student.unet.state_dict().items():
                if v.is_floating_point():
                    self.ema[k].lerp_(v, 1 - self.config.ema_decay)

    @contextmanager
    def ema_weights(self) -> Iterator[None]:
        """The student holds its EMA weights inside (evaluation, the saved folder), its raw ones again after."""
        if self.ema is None:
            yield
            return
        raw = {k: v.detach().clone() for k, v in self.student.unet.state_dict().items()}
        self.student.unet.load_state_dict(self.ema)
        try:
            yield
        finally:
            self.student.unet.load_state_dict(raw)

    def evaluates(self) -> bool:
        return bool(self.config.eval_every) and is_shapes_world(self.prompts)

    def evaluate(self) -> float | None:
        """Judged accuracy of 8 samples per shapes-world prompt from the validation noise (None when not
        evaluating: off, or off the shapes world)."""
        if not self.evaluates():
            return None
        from scoredream.world.judge import load_judge

        judge = load_judge(device=next(self.student.unet.parameters()).device)
        with self.ema_weights():
            accuracy, _, images = judge_sampler(lambda texts, g: self.student.sample(texts, g), judge, samples=8,
                                                seed=VALIDATION_SEED)
        save_grid(images[::8], 12, self.folder / SAMPLES_FILE)
        self.accuracy = accuracy
        return accuracy

    def save(self, accuracy: float | None = None) -> None:
        """The student folder if these weights are the best evaluated so far (`accuracy`: this step's validation
        accuracy), or at every checkpoint when nothing is evaluated; then the training state of the last step (both
        complete before the state says they are)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        save_json(self.config, self.folder / CONFIG_FILE)
        if accuracy is not None and (self.best is None or accuracy > self.best[1]):
            self.best = (self.step, accuracy)
            self.save_student(accuracy)
        elif not self.evaluates():
            self.save_student(None)
        state = {"step": self.step, "seconds": self.seconds,
                 "best_step": None if self.best is None else self.best[0],
                 "best_accuracy": None if self.best is None else self.best[1],
                 "student": {k: v.detach().cpu() for k, v in self.student.unet.state_dict().items()},
                 **({"ema": {k: v.cpu() for k, v in self.ema.items()}} if self.ema is not None else {}),
                 "optimizer": self.optimizer.state_dict(), "guidance": self.guidance.state_dict(),
                 "generator": self.generator.get_state()}
        _atomic(self.folder / STATE_FILE, lambda p: torch.save(state, p))

    def save_student(self, accuracy: float | None) -> None:
        """The student folder with the current weights (the EMA's, with one), their step and validation accuracy."""
        self.student.step, self.student.validation_accuracy = self.step, accuracy
        with self.ema_weights():
            self.student.save_pretrained(self.folder)

    def load_state(self) -> None:
        path = self.folder / STATE_FILE
        if not path.exists():
            raise CheckpointError(f"nothing to resume: no {STATE_FILE} in {self.folder}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.student.unet.load_state_dict(state["student"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.guidance.load_state_dict(state["guidance"])
            self.generator.set_state(state["generator"])
            if self.ema is not None:
                self.ema = {k: v.to(self.ema[k].device) for k, v in state["ema"].items()}
        except Exception as e:  # unpickling and shape errors come in many types
            raise CheckpointError(f"cannot resume from {path}: {e}") from e
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        if state.get("best_step") is not None:  # a run from before early stopping has none
            self.best = (int(state["best_step"]), float(state["best_accuracy"]))

    def log(self, row: dict[str, float | int | None]) -> None:
        path = self.folder / LOG_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def done(self) -> bool:
        c = self.config
        return self.step >= c.steps or (c.minutes > 0 and self.seconds >= 60 * c.minutes)

    def run(self, progress: bool = True, stop: threading.Event | None = None) -> Distill2DResult:
        """Train until the step or time budget (or `stop`), evaluating and checkpointing on the way."""
        c = self.config
        if self.step == 0:
            accuracy = self.evaluate()
            self.log({"step": 0, "seconds": 0.0, "accuracy": accuracy})
            self.save(accuracy)
        bar = tqdm(total=c.steps, initial=self.step, disable=not progress, desc="distill2d", unit="step")
        while not self.done() and not (stop is not None and stop.is_set()):
            start = time.perf_counter()
            row = self.train_step()
            self.seconds += time.perf_counter() - start
            evaluated = c.eval_every and self.step % c.eval_every == 0
            accuracy = self.evaluate() if evaluated else None
            self.log({"step": self.step, "seconds": round(self.seconds, 3), **row, "accuracy": accuracy})
            if self.step % c.checkpoint_every == 0 or evaluated:
                self.save(accuracy)
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3g}", acc="-" if self.accuracy is None else f"{self.accuracy:.2f}")
        bar.close()
        self.save()
        return Distill2DResult(self.folder, self.step, self.seconds, self.accuracy, self.best)


def distill2d(config: Distill2DConfig, folder: Path, resume: bool = False, progress: bool = True,
              stop: threading.Event | None = None) -> Distill2DResult:
    """Train (or, with resume, continue) a student into `folder`; resume reads the folder's own config."""
    if resume and (Path(folder) / CONFIG_FILE).exists():
        saved = load_json(Distill2DConfig, Path(folder) / CONFIG_FILE)
        # A resumed run may be lengthened, and may run on another device or thread count.
        saved.steps, saved.minutes = config.steps, config.minutes
        saved.device, saved.threads = config.device, config.threads
        config = saved
    return StudentTrainer(config, folder, resume).run(progress, stop)
