"""The input view of an image-conditioned run: the image on white, the object's mask, and the camera it was seen
from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from jaxtyping import Float
from PIL import Image
from torch import Tensor

from scoredream.errors import ImageError
from scoredream.image.config import ImageConfig
from scoredream.image.load import object_rgba
from scoredream.render.cameras import Cameras, CameraSamplerConfig, make_cameras
from scoredream.serialization import ConfigError


@dataclass
class ReferenceView:
    rgb: Float[Tensor, "3 H W"]  # in [0, 1], composited on white
    mask: Float[Tensor, "1 H W"]  # the object's alpha
    camera: Cameras  # one camera

    def to(self, device: torch.device | str) -> ReferenceView:
        return ReferenceView(self.rgb.to(device), self.mask.to(device), self.camera.to(device))

    def save(self, path: Path) -> Path:
        """The framed input as an RGBA PNG (colour un-premultiplied from the composite on white)."""
        alpha = self.mask.clamp(0, 1)
        colour = ((self.rgb - (1 - alpha)) / alpha.clamp_min(1e-6)).clamp(0, 1)
        rgba = torch.cat([colour, alpha]).permute(1, 2, 0).mul(255).round().byte().cpu().numpy()
        Image.fromarray(rgba, "RGBA").save(path)
        return path


def square(rgb: Float[Tensor, "3 H W"], alpha: Float[Tensor, "1 H W"], center: tuple[float, float], side: float,
           size: int) -> tuple[Float[Tensor, "3 S S"], Float[Tensor, "1 S S"]]:
    """The square of `side` pixels around `center` (row, col), resampled to size x size with area averaging of the
    premultiplied colour; outside the image is transparent."""
    h, w = alpha.shape[1:]
    premultiplied = torch.cat([(rgb - (1 - alpha)), alpha])  # colour x alpha, and alpha: both 0 on the background
    top, left = round(center[0] - side / 2), round(center[1] - side / 2)
    s = max(1, round(side))
    pad = (max(0, -left), max(0, left + s - w), max(0, -top), max(0, top + s - h))
    padded = F.pad(premultiplied, pad)
    crop = padded[:, top + pad[2] : top + pad[2] + s, left + pad[0] : left + pad[0] + s]
    out = F.interpolate(crop[None], size=(size, size), mode="area" if s >= size else "bilinear")[0]
    a = out[3:].clamp(0, 1)
    return (out[:3] + (1 - a)).clamp(0, 1), a


def frame(rgb: Float[Tensor, "3 H W"], alpha: Float[Tensor, "1 H W"], config: ImageConfig,
          size: int) -> tuple[Float[Tensor, "3 S S"], Float[Tensor, "1 S S"]]:
    """Kept framing (padded to a square about the image centre), or recentred on the object."""
    h, w = alpha.shape[1:]
    if not config.recenter:
        return square(rgb, alpha, (h / 2, w / 2), max(h, w), size)
    rows, cols = torch.nonzero(alpha[0] > 0.5, as_tuple=True)
    top, bottom, left, right = rows.min().item(), rows.max().item() + 1, cols.min().item(), cols.max().item() + 1
    side = max(bottom - top, right - left) / config.object_fraction
    return square(rgb, alpha, ((top + bottom) / 2, (left + right) / 2), side, size)


def check_camera_range(config: ImageConfig, cameras: CameraSamplerConfig, where: str = "image") -> None:
    """The input camera must lie in the range the priors were trained on (the training cameras' ranges)."""
    for name, value, (lo, hi) in (("elevation", config.elevation, cameras.elevation_range),
                                  ("distance", config.distance, cameras.distance_range),
                                  ("fovy", config.fovy, cameras.fovy_range)):
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ConfigError(f"{where}.{name} {value} is outside the range the run's cameras cover ({lo} to {hi}, "
                              f"cameras.{name}_range), which the priors are trained on")


def reference_camera(config: ImageConfig) -> Cameras:
    one = torch.ones(1)
    return make_cameras(one * config.azimuth, one * config.elevation, one * config.distance, one * config.fovy)


def load_reference(config: ImageConfig, size: int, cameras: CameraSamplerConfig | None = None) -> ReferenceView:
    """The input view, framed and resized to size x size; ImageError or ConfigError for what cannot be used."""
    if config.path is None:
        raise ImageError("no input image given (--image FILE)")
    config.validate()
    if cameras is not None:
        check_camera_range(config, cameras)
    rgb, alpha = object_rgba(config.path, config.background_threshold)
    rgb, alpha = frame(rgb, alpha, config, size)
    return ReferenceView(rgb, alpha, reference_camera(config))
