"""`scoredream amortized train|sample`: torch-free until the command runs (`scoredream --help` stays fast)."""

from __future__ import annotations

import sys
from typing import Any


def options(_: list[str]) -> Any:
    from scoredream.amortized.args import AmortizedArgs

    return AmortizedArgs


def run(args: Any) -> int:
    from scoredream.amortized.args import AmortizedTrainArgs

    command = args.command
    return train(command) if isinstance(command, AmortizedTrainArgs) else sample(command)


def train(a: Any) -> int:
    from scoredream.amortized.train import train_generator

    if a.corpus is not None:
        a.settings.corpus = a.corpus
    result = train_generator(a.settings, resume=a.resume)
    if result.run_dir and _rank() == 0:
        print(f"run folder: {result.run_dir}")
        print(f"checkpoint: {result.checkpoint} (step {result.step}{', stopped' if result.stopped else ''})")
        print(f"throughput: {result.samples / max(result.seconds, 1e-9):.2f} samples/s "
              f"({result.samples} prompt-views in {result.seconds:.1f} s)")
    return 0


def sample(a: Any) -> int:
    from tqdm.auto import tqdm

    from scoredream.amortized.sample import LoadedGenerator, sample_object

    loaded = LoadedGenerator.load(a.checkpoint, a.device)
    for prompt in tqdm(a.prompts, desc="sample", unit="object", disable=len(a.prompts) < 2):
        obj = sample_object(loaded, prompt, a.output_dir, video=a.video, mesh=a.mesh)
        print(f"{prompt!r}: {obj.run_dir} ({obj.milliseconds:.0f} ms to the field)", file=sys.stdout)
        for path in (obj.video, obj.mesh):
            if path is not None:
                print(f"    {path}")
    return 0


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))
