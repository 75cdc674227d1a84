"""The one rule for a method's CFG scale and t range: the config's value, else the prior's recommendation (its
folder's scoredream_guidance.json), else the paper's reference. The guidance and the app both ask here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from scoredream.guidance.schedule import TimestepSchedule
from scoredream.priors.diffusion_prior import Recommendations
from scoredream.serialization import ConfigError

# CFG scales of the papers' reference settings: DreamFusion (SDS), ProlificDreamer (VSD), ScaleDreamer (ASD),
# Zero-1-to-3's SDS as threestudio's zero123 system runs it (over the image condition).
REFERENCE_GUIDANCE_SCALE = {"sds": 100.0, "vsd": 7.5, "asd": 7.5, "novel_view": 3.0}


@runtime_checkable  # so that the tests' runtime type checks (beartype) can check it
class ScaleAndSchedule(Protocol):
    """What the rule reads of a method's config (guidance.base.MethodConfig has it; no import cycle)."""

    guidance_scale: float | None
    timesteps: TimestepSchedule


@dataclass(frozen=True)
class MethodSettings:
    guidance_scale: float
    timesteps: TimestepSchedule


def method_settings(method: str, config: ScaleAndSchedule, recommendations: Recommendations) -> MethodSettings:
    """What `method` uses under `config` on a prior that recommends `recommendations`. A config's own default
    timestep schedule is the paper's (the reference); a changed one is the user's and is kept."""
    recommended = recommendations.get(method, {})
    scale = config.guidance_scale
    if scale is None:
        scale = float(recommended.get("guidance_scale", REFERENCE_GUIDANCE_SCALE[method]))
    reference = type(config)().timesteps  # type: ignore[operator]
    timesteps = config.timesteps
    if config.timesteps == reference and "timesteps" in recommended:
        try:
            timesteps = replace(reference, **recommended["timesteps"])
        except TypeError as e:
            raise ConfigError(f"the prior recommends an invalid {method} t range {recommended['timesteps']}: "
                              f"{e}") from e
    return MethodSettings(float(scale), timesteps)
