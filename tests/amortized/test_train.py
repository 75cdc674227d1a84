"""Amortized training: ASD over a corpus makes one object per prompt; a killed run resumes exactly."""

import dataclasses
import json
import os
import signal
import subprocess
import sys

import torch
from safetensors.torch import load_file

from scoredream.amortized.checkpoint import build_generator, load_generator_checkpoint
from scoredream.amortized.sample import LoadedGenerator
from scoredream.priors import PromptEmbeddings
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import orbit_cameras
from scoredream.render.volume import render
from scoredream.serialization import to_dict
from scoredream.world.evaluate import foreground_colour
from scoredream.world.shapes import COLOURS


def mean(xs):
    return sum(xs) / len(xs)


def object_colour(loaded: LoadedGenerator, prompt: str) -> torch.Tensor:
    with torch.no_grad():
        out = render(loaded.field(prompt), orbit_cameras(4), 24, 24, BackgroundConfig(kind="solid").setup())
    return foreground_colour(out.rgb.permute(0, 3, 1, 2), out.opacity.permute(0, 3, 1, 2)).mean(0)


def fixed_draw_loss(loaded: LoadedGenerator, prompts: list[str]) -> float:
    """The run's guidance loss on the same 8 cameras, timesteps and noise for any generator (common random numbers:
    the single-step losses of the history are too noisy to compare)."""
    c = loaded.checkpoint.config
    guidance, cams = c.guidance_config().setup(loaded.prior), orbit_cameras(8, distance=1.75)
    losses = []
    for prompt in prompts:
        embeddings = PromptEmbeddings(loaded.prior, prompt, config=c.prompts)
        with torch.no_grad():
            rgb = render(loaded.generator.field(loaded.generator(embeddings.plain), 0), cams, 16, 16,
                         BackgroundConfig(kind="solid").setup(), c.render).rgb
        losses.append(guidance(rgb, cams, embeddings, 0.5, torch.Generator().manual_seed(0)).loss.item())
    return mean(losses)


def test_asd_on_two_prompts_lowers_the_loss_and_makes_two_objects(tmp_path, make_config, embedded_prior):
    prompts = ["a red cube", "a blue sphere"]
    cfg = make_config(tmp_path, prompts, steps=24, prompts_per_step=2)
    result = train_generator_quietly(cfg, embedded_prior)
    last = LoadedGenerator.load(result.run_dir, "cpu", prior=embedded_prior)
    first = dataclasses.replace(last, generator=build_generator(cfg, embedded_prior))  # as training started
    assert fixed_draw_loss(last, prompts) < 0.8 * fixed_draw_loss(first, prompts)
    red, blue = object_colour(last, "a red cube"), object_colour(last, "a blue sphere")
    for colour, name in ((red, "red"), (blue, "blue")):  # each object nearer its own colour than the other's
        own, other = (torch.tensor(COLOURS[n]) for n in (name, "blue" if name == "red" else "red"))
        assert (colour - own).norm() < (colour - other).norm(), (name, colour)


def train_generator_quietly(cfg, prior, **kwargs):
    from scoredream.amortized.train import train_generator

    return train_generator(cfg, prior=prior, progress=False, **kwargs)


KILL_AT_STEP_3 = """
import json, os, signal
import torch
torch.set_num_threads({threads})  # the parent's: a float sum's order, and so the weights' last bits, follow it
from scoredream.amortized.config import AmortizedConfig
from scoredream.amortized.train import train_generator
from scoredream.serialization import from_dict

def kill(info):
    if info.step == 3:
        os.kill(os.getpid(), signal.SIGKILL)

train_generator(from_dict(AmortizedConfig, json.loads({config!r})), progress=False, on_step=kill)
"""


def test_resume_after_kill_9_reproduces_the_uninterrupted_run(tmp_path, make_config, embedded_prior):
    prompts = ["a red cube", "a blue sphere", "a green cone"]
    full = make_config(tmp_path / "full", prompts, steps=4, prompts_per_step=2)
    full.train.checkpoint_every, full.train.average_from = 2, 0.25  # an average begun before the kill, too
    done = train_generator_quietly(full, embedded_prior)
    killed = make_config(tmp_path / "killed", prompts, steps=4, prompts_per_step=2)
    killed.train.checkpoint_every, killed.train.average_from = 2, 0.25

    # A separate interpreter (spawned, not forked: a forked torch process can deadlock) that SIGKILLs itself after
    # step 3, past the step-2 checkpoint and before the next one: what a kill -9 loses.
    child = KILL_AT_STEP_3.format(config=json.dumps(to_dict(killed)), threads=torch.get_num_threads())
    done_child = subprocess.run([sys.executable, "-c", child], env={**os.environ}, timeout=600)
    assert done_child.returncode == -signal.SIGKILL
    assert load_generator_checkpoint(killed.run_dir()).step == 2
    resumed = train_generator_quietly(killed, embedded_prior, resume=True)
    assert resumed.step == 4 and len(resumed.history) == 4
    a, b = load_file(done.checkpoint), load_file(resumed.checkpoint)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in done.history]


def test_the_generator_sampled_is_the_average_of_the_weights_since_average_from(tmp_path, make_config,
                                                                                  embedded_prior):
    cfg = make_config(tmp_path, ["a red cube", "a blue sphere"], steps=4, prompts_per_step=2)
    cfg.train.snapshot_every, cfg.train.average_from = 1, 0.5  # steps 3 and 4 start at progress 0.5 and 0.75
    result = train_generator_quietly(cfg, embedded_prior)
    raw = [load_generator_checkpoint(result.run_dir / "checkpoints" / f"step_{k:06d}.safetensors").state("generator")
           for k in (2, 3, 4)]
    sampled = LoadedGenerator.load(result.run_dir, "cpu", prior=embedded_prior).generator.state_dict()
    moved = [key for key in sampled if not torch.equal(raw[1][key], raw[2][key])]
    assert moved  # training moved the weights between the averaged steps
    for key in moved:
        torch.testing.assert_close(sampled[key], (raw[1][key] + raw[2][key]) / 2)
    assert not torch.equal(sampled[moved[0]], raw[2][moved[0]])
    assert torch.equal(load_generator_checkpoint(result.checkpoint).state("generator")[moved[0]], raw[2][moved[0]])
