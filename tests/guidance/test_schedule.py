"""Schedules are fractions of the run: --train.steps alone scales a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoredream.guidance import ASDConfig, TimestepSchedule, VSDConfig
from scoredream.serialization import ConfigError, from_dict
from scoredream.train import GenerateConfig
from scoredream.train.config import TrainConfig


@pytest.mark.parametrize("schedule", [ASDConfig().timesteps, VSDConfig().timesteps])
@pytest.mark.parametrize("k", [0, 60, 119, 120, 300, 599])
def test_step_k_of_n_is_step_2k_of_2n(schedule: TimestepSchedule, k: int) -> None:
    short, long = TrainConfig(steps=600), TrainConfig(steps=1200)
    assert schedule.bounds(short.progress(k), 1000) == schedule.bounds(long.progress(2 * k), 1000)


def test_render_size_and_opacity_switch_at_the_same_fraction() -> None:
    for steps in (100, 25_000):
        t = TrainConfig(steps=steps, resolution=64, resolution_final=256, resolution_switch=0.4)
        switch = int(0.4 * steps)
        assert t.resolution_at(switch - 1) == 64 and t.resolution_at(switch) == 256


def test_reference_schedules_anneal_over_the_whole_run() -> None:
    asd = ASDConfig().timesteps
    assert asd.fractions(0.0) == (0.5, 0.98) and asd.fractions(1.0) == (0.02, 0.5)
    vsd = VSDConfig().timesteps  # threestudio: max t 0.98 until 5000 of 25000 steps, then 0.5
    assert vsd.fractions(4999 / 25000)[1] == 0.98 and vsd.fractions(5000 / 25000)[1] == 0.5


def test_schedules_saved_in_steps_load_as_fractions() -> None:
    old = {"prompt": "a red mug", "train": {"steps": 1000, "resolution_switch_step": 250, "opacity_start_step": 500},
           "asd": {"timesteps": {"min_start": 0.5, "min_end": 0.02, "max_start": 0.98, "max_end": 0.5,
                                 "start_step": 0, "end_step": 1000}}}
    config = from_dict(GenerateConfig, json.loads(json.dumps(old)))
    assert (config.asd.timesteps.start, config.asd.timesteps.end) == (0.0, 1.0)
    assert (config.train.resolution_switch, config.train.opacity_start) == (0.25, 0.5)
    never = from_dict(GenerateConfig, {"train": {"steps": 10, "resolution_switch_step": 0}})
    assert never.train.resolution_switch == 1.0  # 0 meant "never switch"


@pytest.mark.parametrize("bad", [{"start": 0.5, "end": 0.2}, {"start": 1.5, "end": 1.5}, {"max_end": -0.1}])
def test_bad_schedules_are_refused(bad: dict) -> None:
    config = GenerateConfig(prompt="a red mug", method="asd")
    for key, value in bad.items():
        setattr(config.asd.timesteps, key, value)
    with pytest.raises(ConfigError):
        config.validate()


def test_a_config_saved_before_shading_existed_trains_unshaded() -> None:
    old = json.loads((Path(__file__).parents[1] / "fixtures" / "run_v0" / "config.json").read_text())
    assert "shading" not in old
    assert not from_dict(GenerateConfig, old).shading.enabled
    assert GenerateConfig().shading.enabled  # today's default
