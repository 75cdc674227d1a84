"""Text-conditioned generators: a prompt's text embedding (L tokens x D) -> that prompt's field, in one forward pass.

Every generator owns a *template*, an ordinary field (`scoredream.fields`) whose weights are shared by all
prompts except for a few *slots* the generator fills from the text; `generate` computes the slots for a batch of
prompts and `field` makes one prompt's `GeneratedField`, which renders, exports and bakes into the template's
architecture.

- `HyperINGP` follows ATT3D's / ScaleDreamer's Hyper-iNGP: a multiresolution grid shared by all prompts and a
  hypernetwork from the text embedding to the prompt's output head. Theirs: the hash grid of a VolSDF field, a
  hypernetwork on the 1024-wide text embedding (64 neurons, one hidden layer) writing the SDF head [64, 1] and the
  feature head [64, 3]. Ours: a density field (our renderer, no SDF), the flattened token embeddings of the prior
  (16 x 64 = 1024 numbers on the embedded prior) in, and one head writing all 16 field features (density + the
  15 colour features of the shared colour head), so the prompt's field is an ordinary `hashgrid` checkpoint.
- `TriplaneGenerator` follows the Triplane-Transformer of ScaleDreamer / LRM: learned triplane tokens attend to
  the text tokens through a transformer decoder, are upsampled by transposed convolutions into three feature
  planes, and a small MLP shared by all prompts decodes them. LRM: 3 x 32 x 32 tokens of width 1024, 16 layers,
  image tokens from DINO, planes 3 x 80 x 64 x 64. Ours, sized for a CPU: 3 x 8 x 8 tokens of width 64, 2 layers,
  text tokens from the prior's text encoder, planes 3 x 16 x 32 x 32; the output is a `triplane` field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn

from scoredream.amortized.generated import GeneratedField, make_slots
from scoredream.fields import Field, FieldConfig, HashGridConfig, TriplaneConfig, build_field
from scoredream.serialization import ConfigError

GeneratorKind = Literal["hyper_ingp", "triplane"]


class TextToField(nn.Module):
    """Base class: subclasses fill `slots` of `template` from text embeddings in `generate`."""

    field_kind: str  # the template's architecture: the `field` of the run folders that baked objects go to

    def __init__(self, template: Field, slots: tuple[str, ...]) -> None:
        super().__init__()
        make_slots(template, slots)
        self.template = template
        self.slots = slots

    def generate(self, text: Float[Tensor, "B L D"]) -> dict[str, Tensor]:
        """Each slot's tensor for every prompt of the batch (leading dimension B)."""
        raise NotImplementedError

    def forward(self, text: Float[Tensor, "B L D"]) -> dict[str, Tensor]:
        return self.generate(text)

    def centre_on(self, corpus: Float[Tensor, "N L D"]) -> None:
        """Learn the corpus's text statistics before training (the generators that centre their input do)."""

    def field(self, tensors: dict[str, Tensor], index: int) -> GeneratedField:
        """Prompt `index` of a `generate` batch as a field."""
        return GeneratedField(self.template, {k: v[index] for k, v in tensors.items()})

    def field_config(self) -> FieldConfig:
        return self.template.config  # type: ignore[return-value]

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"grid": the template's tables or planes, "mlp": its shared networks, "generator": the rest}."""
        own = {id(p) for p in self.template.parameters()}
        groups = {k: [p for p in ps if id(p) in own] for k, ps in self.template.param_groups().items()}
        groups["generator"] = [p for p in self.parameters() if id(p) not in own]
        return groups


@dataclass
class HyperINGPConfig:
    """Hyper-iNGP (ATT3D, ScaleDreamer): a grid shared by all prompts, a hypernetwork writing each prompt's head."""

    grid: HashGridConfig = field(default_factory=lambda: HashGridConfig(
        levels=6, max_resolution=64, dense_max_resolution=64, backend="torch"))
    """the shared grid and MLP (CPU default: six dense levels 16-64; the head after it is generated)"""
    hidden_dim: int = 64
    """width of the hypernetwork's hidden layers (ScaleDreamer: 64)"""
    hidden_layers: int = 1
    """hidden layers of the hypernetwork (ScaleDreamer: 1)"""
    output_scale: float = 0.1
    """scale of the hypernetwork's initial output weights: every prompt starts near the template's own head"""
    centre_text: bool = False
    """subtract the training corpus's mean text embedding from the hypernetwork's input (kept in the weights): the
    prompts' embeddings share most of their numbers (the article, the padding), and uncentred, every prompt's
    gradient moves every other prompt's head along that shared part"""

    def validate(self, where: str) -> None:
        if self.hidden_dim < 1 or self.hidden_layers < 0 or self.output_scale < 0:
            raise ConfigError(f"{where}: hidden_dim must be >= 1, hidden_layers and output_scale >= 0")

    def setup(self, text_shape: tuple[int, int]) -> HyperINGP:
        return HyperINGP(self, text_shape)


class HyperINGP(TextToField):
    field_kind = "hashgrid"
    HEAD = ("mlp.2.weight", "mlp.2.bias")  # the grid field's last layer: hidden -> 16 features

    def __init__(self, config: HyperINGPConfig, text_shape: tuple[int, int]) -> None:
        template = build_field(dataclasses.replace(config.grid, backend="torch"))
        head = template.get_submodule("mlp.2")
        initial = torch.cat([head.weight.detach().flatten(), head.bias.detach()])
        super().__init__(template, self.HEAD)
        self.head_shape = tuple(head.weight.shape)
        width, layers = math.prod(text_shape), []
        for _ in range(config.hidden_layers):
            layers += [nn.Linear(width, config.hidden_dim), nn.ReLU()]
            width = config.hidden_dim
        out = nn.Linear(width, initial.numel())
        with torch.no_grad():
            out.weight.mul_(config.output_scale)
            out.bias.copy_(initial)  # the mean head is the template's initial one
        self.hypernetwork = nn.Sequential(nn.Flatten(), *layers, out)
        self.text_mean: Tensor | None
        self.register_buffer("text_mean", torch.zeros(text_shape) if config.centre_text else None)

    def centre_on(self, corpus: Float[Tensor, "N L D"]) -> None:
        if self.text_mean is not None:
            self.text_mean.copy_(corpus.mean(0))

    def generate(self, text: Float[Tensor, "B L D"]) -> dict[str, Tensor]:
        flat = self.hypernetwork(text if self.text_mean is None else text - self.text_mean)
        n = math.prod(self.head_shape)
        return {"mlp.2.weight": flat[:, :n].reshape(-1, *self.head_shape), "mlp.2.bias": flat[:, n:]}


@dataclass
class TriplaneGeneratorConfig:
    """Triplane-Transformer (ScaleDreamer, LRM family), CPU-sized."""

    planes: TriplaneConfig = field(default_factory=TriplaneConfig)
    """the triplane field every prompt gets (its planes are generated, its decoder MLP shared)"""
    tokens: int = 8
    """triplane tokens per plane side (the planes' resolution must be this times a power of 2)"""
    width: int = 64
    """transformer width"""
    layers: int = 2
    """transformer decoder layers (self-attention over plane tokens, cross-attention to the text tokens)"""
    heads: int = 4
    """attention heads"""

    def validate(self, where: str) -> None:
        ratio = self.planes.resolution / max(self.tokens, 1)
        if self.tokens < 1 or ratio < 1 or ratio != 2 ** round(math.log2(ratio)):
            raise ConfigError(f"{where}.planes.resolution must be {where}.tokens times a power of 2")
        if self.width % max(self.heads, 1) or self.layers < 1:
            raise ConfigError(f"{where}.width must be a multiple of {where}.heads, and layers >= 1")

    def setup(self, text_shape: tuple[int, int]) -> TriplaneGenerator:
        return TriplaneGenerator(self, text_shape)


class TriplaneGenerator(TextToField):
    field_kind = "triplane"

    def __init__(self, config: TriplaneGeneratorConfig, text_shape: tuple[int, int]) -> None:
        super().__init__(build_field(config.planes), ("planes",))
        self.config = config
        t, w = config.tokens, config.width
        self.text_projection = nn.Linear(text_shape[1], w)
        self.queries = nn.Parameter(0.02 * torch.randn(3 * t * t, w))  # one learned token per plane cell
        layer = nn.TransformerDecoderLayer(w, config.heads, 2 * w, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerDecoder(layer, config.layers)
        self.norm = nn.LayerNorm(w)
        ups = round(math.log2(config.planes.resolution // t))
        convs: list[nn.Module] = []
        for _ in range(ups - 1):
            convs += [nn.ConvTranspose2d(w, w, 4, stride=2, padding=1), nn.ReLU()]
        convs.append(nn.ConvTranspose2d(w, config.planes.channels, 4, stride=2, padding=1) if ups
                     else nn.Conv2d(w, config.planes.channels, 1))
        self.upsample = nn.Sequential(*convs)

    def generate(self, text: Float[Tensor, "B L D"]) -> dict[str, Tensor]:
        b, t, w = text.shape[0], self.config.tokens, self.config.width
        tokens = self.transformer(self.queries.expand(b, -1, -1), self.text_projection(text))
        grid = self.norm(tokens).reshape(b * 3, t, t, w).permute(0, 3, 1, 2)
        planes = self.upsample(grid)
        return {"planes": planes.reshape(b, 3, *planes.shape[1:])}
