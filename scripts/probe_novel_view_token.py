"""Does the novel-view prior's image embedding know the input's shape? A nearest-centroid probe on it.

    python scripts/probe_novel_view_token.py [--prior embedded] [--samples 8]

Embeds held-out input views of every shapes-world object (`eval_novel_view.held_out_inputs`; centroids from views
drawn with another seed) with the prior's image encoder, the input of its one cross-attention token, and reports
how often the nearest shape centroid (cosine) is the input's shape. High here but low in `eval_novel_view.py`
means the UNet does not read the shape from the token; low here means the encoder never learnt it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_novel_view import HELD_OUT_SEED, held_out_inputs, shape_labels  # noqa: E402  (the same inputs)

from scoredream.priors.novel_view import NovelViewPrior, NovelViewPriorConfig  # noqa: E402
from scoredream.world.shapes import SHAPE_NAMES  # noqa: E402

CENTROID_SEED = 2_000_003  # neither the training data's seeds nor the held-out one


def shape_embeddings(prior: NovelViewPrior, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(unit image embeddings [N D], shape index [N]) of held-out views drawn with `seed`."""
    images, texts, _ = held_out_inputs(samples, seed)
    with torch.no_grad():
        embedding = prior.clip_embedding(images)[:, 0]
    return F.normalize(embedding, dim=-1), shape_labels(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", default="embedded")
    parser.add_argument("--samples", type=int, default=8, help="views per prompt, for centroids and for the test")
    args = parser.parse_args()
    torch.set_num_threads(1)
    prior = NovelViewPriorConfig(model=args.prior).setup("cpu")
    train, train_shape = shape_embeddings(prior, args.samples, CENTROID_SEED)
    test, test_shape = shape_embeddings(prior, args.samples, HELD_OUT_SEED)
    centroids = F.normalize(torch.stack([train[train_shape == s].mean(0) for s in range(len(SHAPE_NAMES))]), dim=-1)
    guess = (test @ centroids.T).argmax(-1)
    right = guess == test_shape
    per_shape = ", ".join(f"{name} {int(right[test_shape == s].sum())}/{int((test_shape == s).sum())}"
                          for s, name in enumerate(SHAPE_NAMES))
    print(f"{args.prior}: nearest shape centroid right for {int(right.sum())}/{len(right)} = "
          f"{100 * right.float().mean():.1f}% ({per_shape})")


if __name__ == "__main__":
    main()
