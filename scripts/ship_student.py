"""Copy a trained student into assets/student2d in float16 (the app's shipped one-step student).

    python scripts/ship_student.py outputs/student2d_embedded
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scoredream.distill2d import OneStepStudent
from scoredream.priors.loading import assets_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("student", type=Path)
    parser.add_argument("--to", type=Path, default=assets_dir() / "student2d")
    args = parser.parse_args()
    OneStepStudent.from_pretrained(args.student).save_pretrained(args.to, half=True)
    size = sum(f.stat().st_size for f in args.to.iterdir()) / 2**20
    print(f"{args.to}: {size:.1f} MiB")


if __name__ == "__main__":
    main()
