"""The embedded shapes world: analytic shapes, exact renders, ground truth, and the judge of renders.

`scoredream.world.prior_model` (the embedded prior's architecture) imports diffusers and is not loaded here.
"""

from scoredream.world.judge import Judge, JudgeOutput, load_judge
from scoredream.world.render import WorldRenderConfig, render_world, trace_shape
from scoredream.world.shapes import (
    COLOUR_NAMES,
    COLOURS,
    SHAPE_NAMES,
    SHAPES,
    SIDES,
    all_prompts,
    parse_prompt,
    prompt,
    side_index,
)
from scoredream.world.truth import occupancy, surface_points

__all__ = [
    "COLOURS",
    "COLOUR_NAMES",
    "SHAPES",
    "SHAPE_NAMES",
    "SIDES",
    "Judge",
    "JudgeOutput",
    "WorldRenderConfig",
    "all_prompts",
    "load_judge",
    "occupancy",
    "parse_prompt",
    "prompt",
    "render_world",
    "side_index",
    "surface_points",
    "trace_shape",
]
