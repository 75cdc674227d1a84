"""Image to 3D: the input image and its object, the input view's camera, and the reference-view losses."""

from scoredream.errors import ImageError
from scoredream.image.conditioning import ImageConditioning, ReferenceLosses, psnr, reference_losses, render_reference
from scoredream.image.config import ImageConfig
from scoredream.image.load import object_rgba, read_image, separate_background
from scoredream.image.reference import ReferenceView, check_camera_range, load_reference, reference_camera

__all__ = [
    "ImageConditioning",
    "ImageConfig",
    "ImageError",
    "ReferenceLosses",
    "ReferenceView",
    "check_camera_range",
    "load_reference",
    "object_rgba",
    "psnr",
    "read_image",
    "reference_camera",
    "reference_losses",
    "render_reference",
    "separate_background",
]
