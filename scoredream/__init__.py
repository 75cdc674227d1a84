"""scoredream: text to 3D by score distillation, field conversion and mesh export."""

__version__ = "0.1.0"
