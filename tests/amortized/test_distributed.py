"""Two gloo processes train as one process with the same global batch does."""

import torch
from safetensors.torch import load_file

from scoredream.amortized.checkpoint import build_generator
from scoredream.amortized.launch import train_in_processes
from scoredream.amortized.train import train_generator

PROMPTS = ["a red cube", "a blue sphere", "a green cone", "a yellow torus"]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path, make_config, embedded_prior):
    one = make_config(tmp_path / "one", PROMPTS, steps=3, prompts_per_step=4)
    # Adam's eps 1e-15 (threestudio's) divides a near-zero gradient's rounding noise by its own size, so an entry
    # whose true gradient is ~0 moves by +-lr at random: what this test compares is the gradients DDP averages, so
    # both runs use torch's eps 1e-8, under which rounding noise stays rounding noise.
    one.optim.eps = 1e-8
    initial = build_generator(one, embedded_prior).state_dict()
    single = train_generator(one, prior=embedded_prior, progress=False).generator.state_dict()
    two = make_config(tmp_path / "two", PROMPTS, steps=3, prompts_per_step=4)
    two.optim.eps = 1e-8
    (tmp_path / "weights").mkdir()
    results = train_in_processes(two, 2, weights=str(tmp_path / "weights"))
    assert [r[2] for r in results] == [3, 3] and [r[1] for r in results] == [12, 12]
    rank0, rank1 = (load_file(tmp_path / "weights" / f"rank{r}.safetensors") for r in (0, 1))
    written = load_file(two.run_dir() / "checkpoints" / "last.safetensors")
    assert rank0.keys() == single.keys()
    for key, value in single.items():
        assert torch.equal(rank0[key], rank1[key]), key  # the replicas never drift apart
        assert torch.equal(written[f"generator.{key}"], rank0[key])  # rank 0 wrote the checkpoint
        # Float tolerance: the two runs sum the same gradients in another order, and Adam's first steps move every
        # entry by about lr whatever the gradient's size, so rounding differences show at up to ~1.5e-3 of how far
        # training moved the weights (measured on this CPU); a hundredth is allowed, a different draw would differ
        # by all of it.
        moved = (value - initial[key]).abs().amax() if value.numel() else 0.0
        assert torch.all((rank0[key] - value).abs() <= 1e-6 + 1e-2 * moved), (key, moved)
    trained = [k for k in single if not torch.equal(single[k], initial[k])]
    assert {"hypernetwork.1.weight", "template.mlp.0.weight", "template.encoding.dense.0"} <= set(trained)
