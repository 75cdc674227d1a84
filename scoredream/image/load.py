"""Read an input image and find its object: RGBA's alpha as given, or an RGB image's plain background removed.

Background removal without a segmentation model (dependency-light, for renders and product shots on a plain
backdrop): the background colour is the median of the image's border pixels; the border must be that colour
(at least `UNIFORM_BORDER` of its pixels within the threshold), else the image is refused with a message asking
for an alpha channel. A pixel belongs to the object when its colour is farther than the threshold from the
background's; the largest connected region is kept (specks of noise go) and holes smaller than `SMALL_HOLE` of
the image are filled (JPEG noise inside the object), while larger holes that show the background (a torus's
hole, a mug handle's gap) stay background.

The same rule mattes a generator's own samples (`scoredream sample2d`, text -> image -> 3D) at the generator's
resolution after a `GRAIN`-pixel median filter: their backdrops are plain but grainy pixel by pixel, which the
filter removes, while a border of several colours, a gradient or noise still fails the check (tests/image/
test_load.py). scripts/bench_text_image_3d.py measures how many samples pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float
from PIL import Image, UnidentifiedImageError
from scipy import ndimage
from torch import Tensor

from scoredream.errors import ImageError

MIN_SIDE = 16
"""smallest image side in pixels"""
MAX_PIXELS = 8192 * 8192
"""largest image (width x height); PIL's decompression-bomb guard would refuse twice this"""
MAX_BYTES = 100 << 20
UNIFORM_BORDER = 0.9
SMALL_HOLE = 0.002
GRAIN = 3
"""median-filter side (pixels) for a generator's samples at its own resolution, where its grain is per pixel"""
MIN_OBJECT = 0.001
"""the object must cover at least this fraction of the image (and 4 pixels)"""


def read_image(path: Path) -> tuple[np.ndarray, bool]:
    """RGBA as float32 in [0, 1] (H W 4) and whether the file had an alpha channel; ImageError for what is not an
    image, too small or too big."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no image file at {path}")
    if path.stat().st_size > MAX_BYTES:
        raise ImageError(f"{path} is {path.stat().st_size >> 20} MB; at most {MAX_BYTES >> 20} MB")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"{path} is {w}x{h} pixels; at most {MAX_PIXELS} pixels (resize it first)")
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"{path} is not an image PIL can read ({type(e).__name__}: {e})") from None
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{path} is {w}x{h} pixels; each side must be at least {MIN_SIDE}")
    return rgba, has_alpha


def check_alpha(alpha: np.ndarray, path: Path) -> None:
    if alpha.max() < 0.5:
        raise ImageError(f"{path}: the alpha channel is transparent everywhere, so the image shows no object")
    if alpha.min() > 0.99:
        raise ImageError(f"{path}: the alpha channel is opaque everywhere, so it does not say where the object is; "
                         "save the image without alpha (the object is then separated from a plain background) or "
                         "with the object's alpha")


def border_pixels(rgb: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([rgb[:width].reshape(-1, 3), rgb[-width:].reshape(-1, 3),
                           rgb[:, :width].reshape(-1, 3), rgb[:, -width:].reshape(-1, 3)])


def separate_background(rgb: np.ndarray, threshold: float, path: Path | str, denoise: int = 1) -> np.ndarray:
    """The object's mask (H W, float32 0/1) of an RGB image on a plain background; ImageError when the border is
    not one colour or no object stands out from it. `denoise` > 1: decide on the image median-filtered over
    denoise x denoise pixels (per-pixel grain); `path` names the image in messages."""
    h, w, _ = rgb.shape
    if denoise > 1:
        rgb = ndimage.median_filter(rgb, size=(denoise, denoise, 1), mode="nearest")
    border = border_pixels(rgb, max(1, min(h, w) // 64))
    background = np.median(border, axis=0)
    uniform = (np.linalg.norm(border - background, axis=-1) < threshold).mean()
    if uniform < UNIFORM_BORDER:
        raise ImageError(f"{path}: the image border is not one plain colour (only {uniform:.0%} of it is within "
                         f"{threshold} of its median colour), so the object cannot be separated from it; give an "
                         "RGBA image with the object's alpha, or raise --image.background-threshold")
    foreground = np.linalg.norm(rgb - background, axis=-1) > threshold
    labels, count = ndimage.label(foreground)
    if count == 0:
        raise ImageError(f"{path}: nothing in the image differs from its background colour "
                         f"{np.round(background, 2).tolist()} by more than {threshold}")
    sizes = ndimage.sum(foreground, labels, index=np.arange(1, count + 1))
    mask = labels == 1 + int(np.argmax(sizes))
    holes, n_holes = ndimage.label(ndimage.binary_fill_holes(mask) & ~mask)
    if n_holes:
        hole_sizes = ndimage.sum(holes > 0, holes, index=np.arange(1, n_holes + 1))
        small = 1 + np.flatnonzero(hole_sizes < SMALL_HOLE * h * w)
        mask |= np.isin(holes, small)
    return mask.astype(np.float32)


def object_rgba(path: Path, threshold: float) -> tuple[Float[Tensor, "3 H W"], Float[Tensor, "1 H W"]]:
    """The image composited on white, and the object's alpha (RGBA's own, or separated from the background)."""
    rgba, has_alpha = read_image(path)
    rgb, alpha = rgba[..., :3], rgba[..., 3]
    if has_alpha:
        check_alpha(alpha, path)
    else:
        alpha = separate_background(rgb, threshold, path)
    h, w = alpha.shape
    if (alpha > 0.5).sum() < max(4, MIN_OBJECT * h * w):
        raise ImageError(f"{path}: the object covers {(alpha > 0.5).sum()} pixels; too few to reconstruct it")
    on_white = rgb * alpha[..., None] + (1 - alpha[..., None])
    return torch.from_numpy(on_white).permute(2, 0, 1).contiguous(), torch.from_numpy(alpha)[None].contiguous()
