"""How a shapes-world run's 3D IoU moves while it trains, and what averaging its last weights would give.

    .venv/bin/python scripts/iou_during_run.py RUN_DIR OUT_DIR [--overrides JSON] [--every 100]
        [--average-from 0.5 0.7 0.85] [--threads 1]

RUN_DIR is a finished benchmark run (`scripts/bench_image.py` or `scripts/bench_methods.py` folders: config.json,
and input.png for image runs); its config is trained again from scratch into OUT_DIR (with --overrides merged in,
config.json's keys), which reproduces RUN_DIR's field exactly on the same machine. Printed: the IoU against the
true shape (the benchmarks' `field_occupancy`, 64^3) every --every steps, of the final field, and of the field's
weights averaged (a plain mean, as stochastic weight averaging) from each --average-from fraction of the run to its
end. The shape is the config's prompt's, or RUN_DIR's name (`a-red-cube-s0`) for image-only runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablate import config_overrides, merge  # noqa: E402  (one owner for merging overrides into a config dict)

import scoredream.train.trainer as trainer  # noqa: E402
from scoredream.run_folder import RunFolder  # noqa: E402
from scoredream.serialization import from_dict  # noqa: E402
from scoredream.train import GenerateConfig, generate, load_checkpoint  # noqa: E402
from scoredream.world.evaluate import field_occupancy, iou  # noqa: E402
from scoredream.world.shapes import parse_prompt  # noqa: E402
from scoredream.world.truth import occupancy  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--overrides", type=config_overrides, default=None)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--average-from", type=float, nargs="+", default=[0.5, 0.7, 0.85])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = json.loads((args.run / "config.json").read_text())
    data["output_dir"], data["run_name"] = str(args.out), args.run.name
    if data.get("image", {}).get("path"):
        data["image"]["path"] = str(args.run / "input.png")
    config = from_dict(GenerateConfig, merge(data, args.overrides) if args.overrides else data)
    prompt = config.prompt or " ".join(args.run.name.rsplit("-s", 1)[0].split("-"))
    truth = occupancy(parse_prompt(prompt)[1], 64)
    steps = config.train.steps
    starts = {f: round(f * steps) for f in args.average_from}
    averages: dict[float, AveragedModel] = {}  # torch's SWA mean, as the amortized trainer's --train.average-from
    step_once = trainer.optimisation_step

    def observed_step(run: trainer.Run, step: int) -> dict[str, float]:
        row = step_once(run, step)
        for fraction, start in starts.items():
            if step >= start and fraction not in averages:
                averages[fraction] = AveragedModel(run.particles[0])  # a copy; its first update sets the mean
            if step >= start:
                averages[fraction].update_parameters(run.particles[0])
        if (step + 1) % args.every == 0 and step + 1 < steps:
            with torch.no_grad():
                print(f"step {step + 1}: IoU {iou(field_occupancy(run.particles[0]), truth):.3f}", flush=True)
        return row

    trainer.optimisation_step = observed_step  # the trainer looks it up per step; nothing else changes
    config.video.enabled = config.export.enabled = False
    generate(config, progress=False)
    field = load_checkpoint(RunFolder(config.run_dir()).checkpoint).build_field()
    with torch.no_grad():
        print(f"final (step {steps}): IoU {iou(field_occupancy(field), truth):.3f}")
        for fraction, average in averages.items():
            inside = field_occupancy(average.module)
            print(f"weights averaged from {fraction:.2f} of the run: IoU {iou(inside, truth):.3f}")


if __name__ == "__main__":
    main()
