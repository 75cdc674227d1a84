"""Camera-conditioned priors (MVDream's idea): each render's camera is an input of the UNet, not only a view word.

A view prompt ("a red mug, side view") covers a quarter of the azimuths and every elevation, distance and field
of view, so the images a view-prompted prior averages over differ in where the mug's handle is; score
distillation climbs that average's density, which is highest without a handle (`scripts/prior_preference.py`).
Given the camera, the shapes world's image is one image.

The convention: a UNet with `class_embed_type="projection"` and `projection_class_embeddings_input_dim ==
CAMERA_LABEL_DIM` reads `camera_labels(cameras)` as its `class_labels` (diffusers adds their projection to the
time embedding): the camera-to-world matrix's top three rows and the focal length 1 / tan(fovy / 2).
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.render.cameras import Cameras

CAMERA_LABEL_DIM = 13


def camera_labels(cameras: Cameras) -> Float[Tensor, "B 13"]:
    focal = 1 / torch.tan(cameras.fovy / 2)
    return torch.cat([cameras.c2w[:, :3, :].reshape(-1, 12), focal[:, None].to(cameras.c2w)], -1).float()


def reads_cameras(unet: nn.Module) -> bool:
    """Whether this UNet is a camera-conditioned prior's (the convention above)."""
    config = unet.config  # type: ignore[attr-defined]
    return (config.get("class_embed_type") == "projection"
            and config.get("projection_class_embeddings_input_dim") == CAMERA_LABEL_DIM)
