"""Text-to-image diffusion priors: loading, text embeddings, noise prediction, view-dependent prompts."""

from scoredream.priors.diffusion_prior import DiffusionPrior, PriorConfig, PromptError
from scoredream.priors.loading import PriorLoadError
from scoredream.priors.prompts import VIEWS, PromptBatch, PromptConfig, PromptEmbeddings, view_index, view_suffix


def load_prior(model: str = "embedded", device: str = "cpu", **kwargs: object) -> DiffusionPrior:
    return PriorConfig(model=model, **kwargs).setup(device)  # type: ignore[arg-type]


__all__ = [
    "VIEWS",
    "DiffusionPrior",
    "PriorConfig",
    "PriorLoadError",
    "PromptBatch",
    "PromptConfig",
    "PromptEmbeddings",
    "PromptError",
    "load_prior",
    "view_index",
    "view_suffix",
]
