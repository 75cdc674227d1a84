"""config.json holds what the run uses: the chosen method's and field's sections, not the others'."""

from __future__ import annotations

from scoredream.serialization import from_dict, to_dict
from scoredream.train import GenerateConfig


def test_a_run_saves_only_its_method_and_field() -> None:
    data = to_dict(GenerateConfig(prompt="a red mug", method="asd", field="tensorf"))
    assert "asd" in data and "tensorf" in data
    assert not {"sds", "vsd", "hashgrid", "mlp", "voxel"} & data.keys()
    back = from_dict(GenerateConfig, data)
    assert back == GenerateConfig(prompt="a red mug", method="asd", field="tensorf")


def test_every_field_is_there_when_asked() -> None:
    assert {"sds", "vsd", "asd", "hashgrid", "mlp", "tensorf", "voxel"} <= to_dict(GenerateConfig(), True).keys()
