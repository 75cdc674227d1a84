"""A generator's output is a field the renderer, the checkpoint and the mesh export read like any other."""

import pytest
import torch

from scoredream.amortized.generators import HyperINGPConfig, TriplaneGeneratorConfig
from scoredream.export import ExportConfig, export_mesh
from scoredream.render.background import BackgroundConfig
from scoredream.render.cameras import orbit_cameras
from scoredream.render.volume import render
from scoredream.serialization import ConfigError
from scoredream.train import GenerateConfig, load_checkpoint
from scoredream.train.checkpoint import save_checkpoint


def small_generators():
    hyper = HyperINGPConfig()
    hyper.grid.levels, hyper.grid.max_resolution, hyper.grid.dense_max_resolution = 3, 32, 32
    tri = TriplaneGeneratorConfig()
    tri.planes.resolution, tri.planes.channels, tri.layers = 16, 8, 1
    return [("hashgrid", hyper), ("triplane", tri)]


@pytest.mark.parametrize(("kind", "config"), small_generators())
def test_generated_fields_render_bake_save_and_export(tmp_path, kind, config):
    torch.manual_seed(0)
    generator = config.setup((16, 64))
    text = torch.randn(2, 16, 64)
    tensors = generator(text)
    fields = [generator.field(tensors, i) for i in range(2)]
    cams = orbit_cameras(2, distance=1.75)
    out = render(fields[0], cams, 16, 16, BackgroundConfig(kind="solid").setup())
    assert out.rgb.shape == (2, 16, 16, 3) and out.opacity.max() > 0.5  # the density blob shows
    points = torch.rand(500, 3) * 2 - 1
    a, b = fields[0](points), fields[1](points)
    assert not torch.allclose(a.features, b.features)  # two texts, two fields
    baked = fields[0].bake()
    assert type(baked).__name__ == {"hashgrid": "HashGridField", "triplane": "TriplaneField"}[kind]
    assert torch.equal(baked(points).density, a.density) and torch.equal(baked(points).rgb, a.rgb)
    run = GenerateConfig(prompt="a red cube", output_dir=tmp_path, run_name="obj", field=kind)
    setattr(run, kind, generator.field_config())
    path = tmp_path / "obj" / "checkpoints" / "last.safetensors"
    save_checkpoint(path, run, 1, {"field": baked, "background": BackgroundConfig().setup()})
    reloaded = load_checkpoint(path).build_field()
    assert torch.equal(reloaded(points).density, a.density)
    mesh = export_mesh(reloaded, tmp_path / "obj.ply", ExportConfig(format="ply", resolution=32))
    assert mesh.num_faces > 100


def test_generated_fields_train_the_generator():
    hyper = small_generators()[0][1].setup((16, 64))
    tensors = hyper(torch.randn(1, 16, 64))
    hyper.field(tensors, 0)(torch.rand(64, 3)).density.sum().backward()
    params = dict(hyper.named_parameters())
    used = [k for k in params if k.startswith(("hypernetwork.", "template.encoding.dense.", "template.mlp.0."))]
    assert len(used) == 4 + 3 + 2 and all(params[k].grad.abs().sum() > 0 for k in used)
    assert "template.mlp.2.weight" not in dict(hyper.named_parameters())  # a slot, not a shared weight


def test_triplane_token_grid_must_divide_the_planes():
    config = TriplaneGeneratorConfig(tokens=6)
    with pytest.raises(ConfigError, match="power of 2"):
        config.validate("triplane")


def test_a_centred_hypernetwork_sees_the_corpus_mean_text_as_zero():
    config = small_generators()[0][1]
    corpus = torch.randn(5, 16, 64) + 3.0  # texts sharing a large common part
    torch.manual_seed(0)
    plain = config.setup((16, 64))
    config.centre_text = True
    torch.manual_seed(0)
    centred = config.setup((16, 64))
    assert centred.state_dict().keys() - plain.state_dict().keys() == {"text_mean"}  # saved with the weights
    centred.centre_on(corpus)
    for key, value in centred(corpus.mean(0, keepdim=True)).items():
        torch.testing.assert_close(value, plain(torch.zeros(1, 16, 64))[key])
    plain.centre_on(corpus)  # a generator that does not centre keeps no statistics
    torch.testing.assert_close(plain(corpus)["mlp.2.bias"], centred(corpus + corpus.mean(0))["mlp.2.bias"])
