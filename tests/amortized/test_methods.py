"""SDS and VSD train the generator too (for comparison with ASD); what cannot run data-parallel is refused."""

import pytest

from scoredream.amortized.checkpoint import load_generator_checkpoint
from scoredream.amortized.train import Processes, check_batch, train_generator
from scoredream.serialization import ConfigError


@pytest.mark.parametrize("method", ["sds", "vsd"])
def test_other_methods_train_save_and_stop(tmp_path, make_config, embedded_prior, method):
    cfg = make_config(tmp_path, ["a red cube", "a blue sphere"], steps=3, prompts_per_step=2)
    cfg.method = method
    calls = iter(range(10))
    result = train_generator(cfg, prior=embedded_prior, progress=False, should_stop=lambda: next(calls) >= 2)
    assert result.stopped and result.step == 2 and len(result.history) == 2
    ckpt = load_generator_checkpoint(result.run_dir)
    assert ckpt.step == 2 and ckpt.config.method == method
    assert bool(ckpt.state("guidance")) == (method == "vsd")  # VSD's LoRA travels with the generator


def test_batches_that_do_not_split_and_vsd_over_processes_are_refused(tmp_path, make_config):
    cfg = make_config(tmp_path, ["a red cube"], prompts_per_step=3)
    with pytest.raises(ConfigError, match="multiple of the number of processes"):
        check_batch(cfg, Processes(rank=0, world=2))
    cfg.train.prompts_per_step, cfg.method = 2, "vsd"
    with pytest.raises(ConfigError, match="VSD"):
        check_batch(cfg, Processes(rank=0, world=2))
    check_batch(cfg, Processes())
