"""ExportConfig.validate turns every bad setting into one ExportError line, NaN and infinity included."""

import math

import pytest

from scoredream.export import ExportConfig, ExportError


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"target_faces": -1}, "target_faces .* must not be negative, got -1"),
        ({"smooth_iterations": -2}, "smooth_iterations .* must not be negative"),
        ({"threshold": math.nan}, "finite numbers, got threshold=nan"),
        ({"threshold": math.inf}, "finite numbers, got threshold=inf"),
        ({"scale": math.nan, "color_depth": -math.inf}, "finite numbers, got color_depth=-inf, scale=nan"),
        ({"min_component_ratio": math.nan}, "finite numbers, got min_component_ratio=nan"),
        ({"min_component_ratio": 1.0}, r"min_component_ratio must be in \[0, 1\)"),
        ({"min_component_ratio": -0.1}, r"min_component_ratio must be in \[0, 1\)"),
        ({"color_depth": 0.0}, "color_depth positive"),
        ({"scale": -1.0}, "scale and color_depth positive"),
    ],
)
def test_bad_settings_are_one_clear_error(settings, message):
    with pytest.raises(ExportError, match=message):
        ExportConfig(**settings).validate()


@pytest.mark.parametrize("settings", [{}, {"target_faces": 0}, {"min_component_ratio": 0.0}, {"threshold": 3.5},
                                      {"smooth_iterations": 0, "scale": 2}])
def test_good_settings_pass(settings):
    ExportConfig(**settings).validate()
