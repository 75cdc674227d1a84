"""Presets set a reference pipeline's every value; the README's table is printed from the same source."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

import pytest

import scoredream.cli as cli
from scoredream.serialization import ConfigError, from_dict, to_dict
from scoredream.train import GenerateConfig
from scoredream.train.presets import PRESETS, REFERENCES, PresetName, apply_preset, preset_table, preset_values

README = Path(__file__).parents[2] / "README.md"


@pytest.mark.parametrize("name", get_args(PresetName))
def test_each_preset_sets_the_values_of_its_table(name: PresetName) -> None:
    config = apply_preset(GenerateConfig(prompt="a red mug"), name)
    for setting in PRESETS:
        value = setting.values[REFERENCES.index(name)] if name != "cpu" else preset_values("cpu")[setting.key]
        if value is not None:
            assert cli_value(config, setting.key) == value, setting.key
    assert config.preset == name
    config.validate()


def cli_value(config: object, key: str) -> object:
    for part in key.split("."):
        config = getattr(config, part)
    return config


def test_reference_values_that_the_papers_state() -> None:
    df, pd, sd = (apply_preset(GenerateConfig(), n) for n in REFERENCES)
    assert (df.method, df.sds.guidance_scale, df.train.steps, df.render.num_samples) == ("sds", 100.0, 10000, 512)
    assert df.shading.enabled and df.train.orientation_weight == (10.0, 1000.0)
    assert (pd.method, pd.vsd.guidance_scale, pd.train.resolution_final, pd.train.opacity_weight) == (
        "vsd", 7.5, 512, 1000.0)
    assert pd.vsd.timesteps.fractions(0.1)[1] == 0.98 and pd.vsd.timesteps.fractions(0.2)[1] == 0.5
    assert pd.vsd.lora_lr == 1e-4 and GenerateConfig().vsd.lora_lr == 1e-3  # the cpu default's LoRA learns 10x faster
    assert (sd.method, sd.optim.betas, sd.asd.perp_neg.enabled, sd.asd.perp_neg.weight_scale) == (
        "asd", (0.0, 0.99), True, 0.5)
    assert sd.asd.timesteps.fractions(1.0) == (0.02, 0.5)


def test_cpu_preset_takes_a_reference_run_back_to_the_defaults() -> None:
    config = apply_preset(apply_preset(GenerateConfig(prompt="a red mug"), "scaledreamer"), "cpu")
    assert config == GenerateConfig(prompt="a red mug")


def test_readme_table_is_the_presets_table() -> None:
    assert preset_table() in README.read_text()


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_values("magic3d")  # type: ignore[arg-type]


def test_cli_preset_sets_every_value_later_flags_override_and_config_records_it(monkeypatch) -> None:
    seen: list[cli.GenerateArgs] = []
    command = dataclasses.replace(cli.COMMANDS["generate"], run=lambda a: seen.append(a) or 0)
    monkeypatch.setitem(cli.COMMANDS, "generate", command)
    assert cli.main(["generate", "a red mug", "--preset", "prolificdreamer", "--train.steps", "300"]) == 0
    settings = seen[0].settings
    assert settings.preset == "prolificdreamer" and settings.method == "vsd" and settings.train.steps == 300
    assert settings.train.sparsity_weight == 10.0 and settings.cameras.distance_range == (1.0, 1.5)
    saved = to_dict(settings)
    assert saved["preset"] == "prolificdreamer" and from_dict(GenerateConfig, saved) == settings
    assert cli.main(["generate", "a red mug", "--preset", "magic3d"]) == 2
