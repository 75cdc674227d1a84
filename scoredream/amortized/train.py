"""Amortized score distillation (ScaleDreamer): one generator trained over a prompt corpus, data-parallel.

Each step draws a global batch of prompts; each process takes its share, generates their fields, renders
`views_per_prompt` random cameras of each, scores the renders with the run's guidance (ASD, SDS or VSD, the
classes of `scoredream.guidance`) and averages the losses over its prompts; DistributedDataParallel averages the
gradients over processes, so N processes step exactly as one process with the same global batch would. Every
random draw of batch slot s at step k comes from a generator seeded by (seed, k, s), not from a stream that runs
through the run, which is what makes that (and resuming after a kill) exact.

Run under `torchrun --nproc-per-node N` for N processes (gloo on CPUs, NCCL on GPUs); rank 0 writes the
checkpoints and shows the progress bar.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from scoredream.amortized.checkpoint import (
    GeneratorCheckpoint,
    build_generator,
    load_generator_checkpoint,
    save_generator,
)
from scoredream.amortized.config import AmortizedConfig
from scoredream.amortized.corpus import load_corpus
from scoredream.amortized.generators import TextToField
from scoredream.device import pick_device
from scoredream.errors import TrainingDiverged
from scoredream.fields import Field
from scoredream.fields.base import density_activation
from scoredream.guidance import Guidance
from scoredream.priors import DiffusionPrior, PromptEmbeddings
from scoredream.render.background import Background
from scoredream.render.cameras import Cameras
from scoredream.render.shading import Lighting
from scoredream.render.volume import render
from scoredream.run_folder import RunFolder
from scoredream.serialization import ConfigError, save_json
from scoredream.train.checkpoint import load_module, load_trainer_state, resume_point
from scoredream.train.interrupt import Interrupted, stop_on_interrupt
from scoredream.train.trainer import opacity_regularisers


@dataclass
class Processes:
    """This process's place among the data-parallel ones (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    started_group: bool = False  # this call set up the process group, so it takes it down

    def mean(self, value: Tensor) -> Tensor:
        if self.world > 1:
            value = value.clone()
            dist.all_reduce(value)
            value = value / self.world
        return value

    def anyone(self, flag: bool) -> bool:
        return bool(self.mean(torch.tensor(float(flag))) > 0)


def join_processes(device: torch.device) -> Processes:
    """The process group torchrun (or a test) describes in the environment; gloo on CPUs, NCCL on GPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Processes()
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), started)


@dataclass
class AmortizedStep:
    step: int  # steps completed
    total: int
    loss: float
    stats: dict[str, float]
    elapsed: float


@dataclass
class AmortizedResult:
    run_dir: Path
    checkpoint: Path
    step: int
    stopped: bool
    seconds: float
    samples: int  # prompt-views scored by all processes in this call
    generator: TextToField  # the trained generator (this process's replica)
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class SlotViews:
    """What one batch slot renders: its cameras, their lighting and the slot's random stream."""

    cameras: Cameras
    lighting: Lighting | None
    generator: torch.Generator


class _Trained(nn.Module):
    """What DistributedDataParallel wraps: every trained module; its forward goes from the texts to the renders,
    so that DDP sees every parameter a step uses (an empty hash table, say, is found unused, not waited for)."""

    def __init__(self, generator: TextToField, background: Background, config: AmortizedConfig) -> None:
        super().__init__()
        self.generator, self.background, self.config = generator, background, config

    def forward(self, text: Tensor, views: list[SlotViews]) -> list[tuple[Tensor, Tensor, Tensor]]:
        """(rgb, opacity, colour-logit excess) of each slot's views of its prompt's generated field."""
        tensors, t, out = self.generator(text), self.config.train, []
        for i, v in enumerate(views):
            field = self.generator.field(tensors, i)
            r = render(field, v.cameras, t.resolution, t.resolution, self.background, self.config.render,
                       training=True, generator=v.generator, lighting=v.lighting)
            excess = colour_logit_excess(field, t.colour_logit_bound) if t.colour_logit_weight else r.rgb.new_zeros(())
            out.append((r.rgb, r.opacity, excess))
        return out


def colour_logit_excess(field: Field, bound: float, points_per_side: int = 16) -> Tensor:
    """Mean squared excess of |colour logit| over `bound` on a fixed grid around the object (the inner 60% of the
    field's extent), each point weighted by its opacity over one grid spacing: the colours a render can see. A
    generator shares its colour head and grid among all prompts, and CFG pushes every colour channel away from the
    prompts' mean colour: unchecked, the logits run to +-20 or more, where the sigmoid is flat, and an orange pushed
    to yellow (or a pink to magenta) stays there, whatever the prior says afterwards."""
    axis = torch.linspace(-0.6, 0.6, points_per_side) * field.bound
    points = torch.cartesian_prod(axis, axis, axis).to(next(field.parameters()).device)
    features = field.encode(points)
    spacing = float(axis[1] - axis[0])
    seen = 1 - torch.exp(-density_activation(field.raw_density_from(points, features)).detach() * spacing)
    excess = (field.colour_logits_from(features).abs() - bound).clamp_min(0).square().sum(-1)
    return (seen * excess).sum() / seen.sum().clamp_min(1e-6)


@dataclass
class AmortizedRun:
    config: AmortizedConfig
    folder: RunFolder
    processes: Processes
    prior: DiffusionPrior
    prompts: list[str]
    guidance: Guidance
    generator: TextToField
    background: Background
    model: nn.Module  # DDP over _Trained, or _Trained itself in one process
    optimizer: torch.optim.Optimizer
    device: torch.device
    average: AveragedModel | None = None  # the generator's weights averaged since train.average_from
    start: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    embeddings: dict[str, PromptEmbeddings] = field(default_factory=dict)

    def embedding(self, prompt: str) -> PromptEmbeddings:
        """Computed once per prompt, when a batch first holds it."""
        if prompt not in self.embeddings:
            c = self.config
            self.embeddings[prompt] = PromptEmbeddings(self.prior, prompt, c.negative_prompt, c.prompts)
        return self.embeddings[prompt]

    def save(self, step: int, snapshot: bool = False) -> None:
        """The checkpoint to resume from (rank 0 only), or with `snapshot` a copy of the weights alone."""
        if self.processes.rank != 0:
            return
        modules = {"generator": self.generator, "background": self.background}
        if self.average is not None:
            modules["average"] = self.average
        if self.guidance.state_dict():
            modules["guidance"] = self.guidance  # type: ignore[assignment]  (VSD's LoRA: tensors only)
        if snapshot:
            save_generator(self.folder.checkpoints / f"step_{step:06d}.safetensors", self.config, step, modules)
            return
        keys = sorted({k for row in self.history for k in row})
        rows = torch.tensor([[row.get(k, float("nan")) for k in keys] for row in self.history], dtype=torch.float64)
        state = {"optimizer": self.optimizer.state_dict(), "history": rows, "history_keys": keys}
        save_generator(self.folder.checkpoint, self.config, step, modules, state)


def train_generator(
    config: AmortizedConfig,
    *,
    prior: DiffusionPrior | None = None,
    resume: bool = False,
    on_step: Callable[[AmortizedStep], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
) -> AmortizedResult:
    """1. check, 2. join the processes, 3. build (and restore), 4. optimise, 5. save."""
    config.validate()
    prompts = load_corpus(config.corpus).split(config.split)
    if not prompts:
        raise ConfigError(f"the corpus split {config.split!r} of {config.corpus} is empty")
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = pick_device(config.train.device)
    processes = join_processes(device)
    try:
        device = process_device(device, processes)
        check_batch(config, processes)
        folder = RunFolder(config.run_dir())
        # Rank 0 alone writes the folder, and holds its lock while it does.
        with folder.lock() if processes.rank == 0 else contextlib.nullcontext():
            resumed = resume_point(folder, resume, config.train.steps, load_generator_checkpoint)
            run = build_run(config, folder, processes, prompts, prior, device)
            run.generator.centre_on(torch.cat([run.embedding(p).plain for p in prompts]).to(device))
            if resumed is not None:
                restore_run(run, resumed)
            if processes.rank == 0:
                save_json(config, folder.config)
            t0 = time.perf_counter()
            with stop_on_interrupt() as interrupted:
                stop = lambda: interrupted.is_set() or bool(should_stop and should_stop())  # noqa: E731
                step, stopped = optimise(run, on_step, stop, progress)
                run.save(step)
            seconds = time.perf_counter() - t0
        if interrupted.is_set():
            raise Interrupted(step, folder.checkpoint)
        samples = (step - run.start) * config.train.prompts_per_step * config.train.views_per_prompt
        return AmortizedResult(folder.root, folder.checkpoint, step, stopped, seconds, samples, run.generator,
                               run.history)
    finally:
        if processes.started_group:
            dist.destroy_process_group()


def process_device(device: torch.device, processes: Processes) -> torch.device:
    if device.type == "cuda" and processes.world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", processes.rank)))
        torch.cuda.set_device(device)
    return device


def check_batch(config: AmortizedConfig, processes: Processes) -> None:
    if config.train.prompts_per_step % processes.world:
        raise ConfigError(f"train.prompts_per_step ({config.train.prompts_per_step}) must be a multiple of the "
                          f"number of processes ({processes.world})")
    if config.method == "vsd" and processes.world > 1:
        raise ConfigError("VSD's LoRA is trained inside each guidance call, unsynchronised across processes; train "
                          "VSD in one process (ASD and SDS run data-parallel)")


def build_run(config: AmortizedConfig, folder: RunFolder, processes: Processes, prompts: list[str],
              prior: DiffusionPrior | None, device: torch.device) -> AmortizedRun:
    prior = prior if prior is not None else config.prior.setup(device)
    torch.manual_seed(config.train.seed)
    guidance = config.guidance_config().setup(prior)
    generator = build_generator(config, prior).to(device)
    background = config.background.setup().to(device)
    trained = _Trained(generator, background, config)
    model: nn.Module = trained
    if processes.world > 1:
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(trained, device_ids=ids, find_unused_parameters=True)
    groups = generator.param_groups()
    o = config.optim
    optimizer = torch.optim.AdamW(
        [{"params": groups["grid"], "lr": o.lr_grid}, {"params": groups["mlp"], "lr": o.lr_mlp},
         {"params": groups["generator"], "lr": o.lr_generator},
         {"params": list(background.parameters()), "lr": o.lr_mlp}],
        betas=o.betas, eps=o.eps, weight_decay=0.0)
    # Averages the parameters; its buffers (a centred generator's text mean) are copied from the generator's at
    # every update, so the mean set after this copy is taken reaches the average too.
    average = AveragedModel(generator) if config.train.average_from is not None else None
    return AmortizedRun(config, folder, processes, prior, prompts, guidance, generator, background, model,
                        optimizer, device, average)


def restore_run(run: AmortizedRun, ckpt: GeneratorCheckpoint) -> None:
    load_module(run.generator, ckpt.state("generator"), ckpt.path)
    load_module(run.background, ckpt.state("background"), ckpt.path)
    if ckpt.state("guidance"):
        run.guidance.load_state_dict(ckpt.state("guidance"))
    if run.average is not None and ckpt.state("average"):
        load_module(run.average, ckpt.state("average"), ckpt.path)
    state = load_trainer_state(ckpt.path, ckpt.step)
    run.optimizer.load_state_dict(state["optimizer"])
    run.start = ckpt.step
    run.history = [dict(zip(state["history_keys"], row, strict=True)) for row in state["history"].tolist()]


def draw_generator(seed: int, step: int, slot: int) -> torch.Generator:
    """The random stream of batch slot `slot` at `step` (slot 0: the choice of prompts), the same in any process."""
    words = np.random.SeedSequence([seed, step, slot]).generate_state(2)
    return torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))


def batch_prompts(n_prompts: int, batch: int, seed: int, step: int) -> list[int]:
    """The global batch's prompt indices: distinct while the corpus is large enough."""
    g = draw_generator(seed, step, 0)
    if batch <= n_prompts:
        return torch.randperm(n_prompts, generator=g)[:batch].tolist()
    return torch.randint(0, n_prompts, (batch,), generator=g).tolist()


def optimise(run: AmortizedRun, on_step: Callable[[AmortizedStep], None] | None, should_stop: Callable[[], bool],
             progress: bool) -> tuple[int, bool]:
    c, t0 = run.config.train, time.perf_counter()
    before = run.history[-1].get("seconds", 0.0) if run.history else 0.0  # training time of a resumed run's past
    bar = tqdm(total=c.steps, initial=run.start, disable=not progress or run.processes.rank != 0,
               desc="amortized", unit="step")
    try:
        for step in range(run.start, c.steps):
            if run.processes.anyone(should_stop()):
                return step, True
            row = amortized_step(run, step)
            row["seconds"] = before + time.perf_counter() - t0
            bar.update(1)
            if (step + 1) % c.log_every == 0:
                bar.set_postfix(loss=f"{row['loss']:.4g}")
            if c.checkpoint_every and (step + 1) % c.checkpoint_every == 0:
                run.save(step + 1)
            if c.snapshot_every and (step + 1) % c.snapshot_every == 0:
                run.save(step + 1, snapshot=True)
            if on_step is not None:
                on_step(AmortizedStep(step + 1, c.steps, row["loss"], row, time.perf_counter() - t0))
    finally:
        bar.close()
    return c.steps, False


def amortized_step(run: AmortizedRun, step: int) -> dict[str, float]:
    c, p = run.config, run.processes
    chosen = batch_prompts(len(run.prompts), c.train.prompts_per_step, c.train.seed, step)
    share = c.train.prompts_per_step // p.world
    slots = range(p.rank * share, (p.rank + 1) * share)
    embeddings = [run.embedding(run.prompts[chosen[s]]) for s in slots]
    progress = step / c.train.steps
    run.generator.template.set_progress(progress)
    views = [slot_views(c, progress, draw_generator(c.train.seed, step, s + 1), run.device) for s in slots]
    renders = run.model(torch.cat([e.plain for e in embeddings]).to(run.device), views)
    losses, rows = [], []
    for (rgb, opacity, excess), v, prompt in zip(renders, views, embeddings, strict=True):
        g = run.guidance(rgb, v.cameras, prompt, progress, v.generator)
        losses.append(g.loss + c.train.sparsity_weight * opacity_regularisers(opacity)[0]
                      + c.train.colour_logit_weight * excess)
        rows.append({"guidance_loss": g.loss.item(), "grad_norm": g.grad_norm, "colour_logit_excess": excess.item(),
                     "t": float(g.timesteps.float().mean()), "opacity": opacity.mean().item(), **g.stats})
    loss = torch.stack(losses).mean()
    global_loss = p.mean(loss.detach()).item()
    if not np.isfinite(global_loss):
        raise TrainingDiverged(f"loss is {global_loss} at step {step}; the last good checkpoint is "
                               f"{run.folder.checkpoint}. Lower the learning rates or the guidance scale.")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    if run.average is not None and progress >= c.train.average_from:
        run.average.update_parameters(run.generator)
    stats = {k: p.mean(torch.tensor([r[k] for r in rows]).mean()).item() for k in rows[0]}
    row = {"step": step + 1, "loss": global_loss, **stats}
    run.history.append(row)
    return row


def slot_views(config: AmortizedConfig, progress: float, generator: torch.Generator,
               device: torch.device) -> SlotViews:
    cams = config.cameras.sample(config.train.views_per_prompt, generator).to(device)
    return SlotViews(cams, config.shading.draw(progress, cams, generator), generator)
