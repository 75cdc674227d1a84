import json

import pytest
import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from PIL import Image
from tiny_models import save_prior_folder, tiny_prior

from scoredream.cli import main
from scoredream.distill2d import Distill2DConfig, OneStepStudent, StudentTrainer, preset, student_timestep
from scoredream.distill2d import trainer as trainer_module
from scoredream.distill2d.evaluate import TEST_SEED, VALIDATION_SEED
from scoredream.guidance import ASDGuidance, SDSGuidance, VSDGuidance
from scoredream.priors import PriorConfig, PromptBatch, load_prior
from scoredream.run_folder import RunFolderExists
from scoredream.serialization import ConfigError
from scoredream.world.judge import load_judge
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, parse_prompt

PROMPTS = ("a red cube", "a blue sphere")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prior")
    save_prior_folder(tiny_prior(), folder)
    return folder


def _config(folder, **kw) -> Distill2DConfig:
    base = {"prior": PriorConfig(model=str(folder)), "prompts": PROMPTS, "steps": 4, "batch_size": 2,
            "eval_every": 0, "checkpoint_every": 2, "device": "cpu", "lr": 1e-3}
    return Distill2DConfig(**{**base, **kw})


def _judge_loss(judge, images: torch.Tensor, texts: list[str]) -> float:
    """Cross-entropy of the prompts' shape and colour under the world's judge (which names the teacher's own samples
    right 90% of the time): lower = nearer the teacher's mode for that prompt."""
    verdict = judge(images)
    shape = torch.tensor([SHAPE_NAMES.index(parse_prompt(t)[1]) for t in texts])
    colour = torch.tensor([COLOUR_NAMES.index(parse_prompt(t)[0]) for t in texts])
    return float(F.cross_entropy(verdict.shape_logits, shape) + F.cross_entropy(verdict.colour_logits, colour))


def test_vsd_steps_move_the_student_towards_the_teachers_mode(tmp_path):
    """On the embedded prior (assets/), fixed noise: one VSD step, then two more, make the student's images more
    clearly their prompt's shape and colour (the judge's loss falls)."""
    prior, judge = load_prior("embedded"), load_judge()
    config = Distill2DConfig(steps=3, batch_size=8, eval_every=0, device="cpu", lr=1e-5, seed=0)
    trainer = StudentTrainer(config, tmp_path, prior=prior)
    texts = ["a red cube", "a blue sphere", "a green cylinder", "a yellow cone", "a purple torus", "a cyan mug",
             "a pink cube", "a orange sphere"]
    noise = trainer.student.noise(len(texts), torch.Generator().manual_seed(0))

    def loss() -> float:
        with torch.no_grad():
            return _judge_loss(judge, prior.decode(trainer.student(noise, prior.encode_text(texts))), texts)

    before = loss()
    trainer.train_step()
    one = loss()
    trainer.train_step()
    trainer.train_step()
    assert one < 0.95 * before and loss() < 0.85 * before


def test_the_student_is_trained_by_the_3d_paths_guidance(tiny_folder, tmp_path, monkeypatch):
    """The VSD gradient is VSDGuidance's own: the trainer holds one, and its gradient and LoRA step run."""
    calls = []
    original = VSDGuidance.gradient

    def spy(self, inputs, generator):
        calls.append((self, inputs.x0.shape, inputs.cameras.c2w.abs().sum().item()))
        return original(self, inputs, generator)

    monkeypatch.setattr(VSDGuidance, "gradient", spy)
    trainer = StudentTrainer(_config(tiny_folder), tmp_path)
    assert type(trainer.guidance) is VSDGuidance
    lora = [p.clone() for p in trainer.guidance.lora.trainable()]
    weights = [p.clone() for p in trainer.student.unet.parameters()]
    trainer.train_step()
    assert len(calls) == 1 and calls[0][0] is trainer.guidance
    assert calls[0][1] == (2, 3, 16, 16) and calls[0][2] == 0.0  # the student's x0, unposed (null camera)
    assert any(not torch.equal(a, b) for a, b in zip(lora, trainer.guidance.lora.trainable(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(weights, trainer.student.unet.parameters(), strict=True))


@pytest.mark.parametrize(("method", "kind"), [("sds", SDSGuidance), ("asd", ASDGuidance)])
def test_sds_and_asd_are_selectable(tiny_folder, tmp_path, method, kind):
    trainer = StudentTrainer(_config(tiny_folder, method=method), tmp_path)
    assert type(trainer.guidance) is kind
    before = [p.clone() for p in trainer.student.unet.parameters()]
    row = trainer.train_step()
    assert row["grad_norm"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.student.unet.parameters(), strict=True))


def test_prompt_batch_gives_each_image_its_prompt(pixel_prior):
    batch = PromptBatch(pixel_prior, ["a red cube", "a blue sphere"])
    cond, uncond = batch.for_cameras(torch.zeros(2), torch.zeros(2))
    assert torch.equal(cond, pixel_prior.encode_text(["a red cube", "a blue sphere"]))
    assert uncond.shape == cond.shape
    with pytest.raises(ValueError, match="2 prompts for 3 images"):
        batch.for_cameras(torch.zeros(3), torch.zeros(3))


def test_saved_student_loads_with_from_pretrained_and_gives_the_same_images(tiny_folder, tmp_path):
    trainer = StudentTrainer(_config(tiny_folder, steps=1, ema_decay=0.0), tmp_path / "student")  # raw = saved
    trainer.run(progress=False)
    unet = UNet2DConditionModel.from_pretrained(tmp_path / "student")
    for (name, a), b in zip(trainer.student.unet.state_dict().items(), unet.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    info = json.loads((tmp_path / "student" / "scoredream_student.json").read_text())
    assert info["timestep"] == trainer.student.timestep and info["teacher"]["model"] == str(tiny_folder)
    loaded = OneStepStudent.from_pretrained(tmp_path / "student")  # its teacher from the json
    texts = ["a red cube", "a blue sphere", "a red cube"]
    a = trainer.student.sample(texts, torch.Generator().manual_seed(5))
    b = loaded.sample(texts, torch.Generator().manual_seed(5))
    assert a.shape == (3, 3, 16, 16) and torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(a[0], a[2])  # different noise, different images


def test_latent_student_decodes_through_the_vae(latent_prior):
    student = OneStepStudent.from_teacher(latent_prior)
    images = student.sample(["a red cube"], torch.Generator().manual_seed(0))
    assert images.shape == (1, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    batch = PromptBatch(latent_prior, ["a red cube"])
    x0 = student(student.noise(1), batch.cond)
    assert x0.shape == (1, 4, 8, 8) and x0.requires_grad


def test_resume_restores_every_state_and_continues(tiny_folder, tmp_path):
    first = StudentTrainer(_config(tiny_folder, steps=2), tmp_path / "run")
    first.run(progress=False)
    second = StudentTrainer(_config(tiny_folder), tmp_path / "run", resume=True)
    assert second.step == 2
    for a, b in zip(first.student.unet.parameters(), second.student.unet.parameters(), strict=True):
        assert torch.equal(a, b)
    for (key, a), b in zip(first.guidance.state_dict().items(), second.guidance.state_dict().values(), strict=True):
        assert torch.equal(a, b), key  # the LoRA, its camera embedding and its AdamW moments
    moments = first.optimizer.state_dict()["state"], second.optimizer.state_dict()["state"]
    assert all(torch.equal(moments[0][i]["exp_avg"], moments[1][i]["exp_avg"]) for i in moments[0])
    assert torch.equal(first.generator.get_state(), second.generator.get_state())
    # The same next step as the uninterrupted trainer (up to CPU float reduction order).
    a, b = first.train_step(), second.train_step()
    assert a["x0_std"] == b["x0_std"] and abs(a["loss"] - b["loss"]) < 1e-3 * abs(a["loss"])
    second.run(progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "training" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 4]  # the manual step 3 is not logged; run() logs step 4
    with pytest.raises(RunFolderExists, match="--resume"):
        StudentTrainer(_config(tiny_folder), tmp_path / "run")


def test_timestep_is_t_max_where_the_schedule_allows_it():
    sd_like = torch.linspace(0.9991, 0.0047, 1000)
    assert student_timestep(sd_like) == 999
    assert student_timestep(load_prior("embedded").alphas_cumprod) == 958  # cosine: 2.4e-9 at 999


def test_swiftbrush_preset_is_the_reference():
    c = preset("swiftbrush")
    assert (c.vsd.guidance_scale, c.vsd.lora_rank, c.vsd.lora_alpha, c.vsd.lora_lr, c.lr) == (4.5, 64, 108.0, 1e-3,
                                                                                               1e-6)
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("fast")


def test_cli_trains_samples_and_refuses_bad_input(tiny_folder, tmp_path, capsys):
    student = tmp_path / "student"
    assert main(["distill2d", "--prior", str(tiny_folder), "--prompts", *PROMPTS, "--steps", "2", "--batch-size",
                 "2", "--eval-every", "0", "--device", "cpu", "--output", str(student)]) == 0
    assert main(["distill2d", "--prior", str(tiny_folder), "--prompts", *PROMPTS, "--steps", "2", "--device", "cpu",
                 "--output", str(student)]) == 2  # a second run into a finished one's folder
    assert "--resume" in capsys.readouterr().err
    out = tmp_path / "pngs"
    assert main(["sample2d", str(student), "a red cube", "a blue sphere", "--samples", "2", "--size", "64",
                 "--output", str(out), "--device", "cpu"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["a_blue_sphere_0_0.png", "a_blue_sphere_0_1.png", "a_red_cube_0_0.png",
                                       "a_red_cube_0_1.png"]
    with Image.open(files[0]) as image:  # the tiny student draws noise: no background to matte, so RGB
        assert image.mode == "RGB" and image.size == (64, 64)
    assert "written as RGB (image-to-3D will refuse it;" in capsys.readouterr().err
    refined = tmp_path / "refined"  # the teacher's last 2 DDIM steps finish the images
    assert main(["sample2d", str(student), "a red cube", "--refine", "2", "--output", str(refined)]) == 0
    assert [f.name for f in refined.iterdir()] == ["a_red_cube_0_0.png"]
    assert main(["sample2d", str(student), "a red cube", "--refine", "26", "--output", str(refined / "x")]) == 2
    empty = tmp_path / "none"
    assert main(["sample2d", str(student), "a red cube", "  ", "--output", str(empty)]) == 2
    assert main(["sample2d", str(tmp_path), "a red cube", "--output", str(empty)]) == 2  # not a student folder
    assert not empty.exists()
    capsys.readouterr()
    assert main(["distill2d", "--prior", "embedded-camera", "--steps", "1", "--device", "cpu",
                 "--output", str(tmp_path / "cam")]) == 2  # a 2D student has no camera to give that prior
    assert "is camera-conditioned" in capsys.readouterr().err


def test_extra_lora_steps_and_the_ema_student(tiny_folder, tmp_path, monkeypatch):
    """lora_steps=3: the guidance's LoRA takes 3 AdamW steps per student step (the 2 extra through its own
    train_lora); ema_decay: the saved student and a resumed run hold the weights' moving average, not the raw ones."""
    calls = []
    original = VSDGuidance.train_lora
    monkeypatch.setattr(VSDGuidance, "train_lora", lambda self, *a: calls.append(1) or original(self, *a))
    trainer = StudentTrainer(_config(tiny_folder, steps=2, lora_steps=3, ema_decay=0.5), tmp_path / "run")
    start = {k: v.clone() for k, v in trainer.student.unet.state_dict().items()}
    trainer.run(progress=False)
    assert len(calls) == 6 and trainer.guidance.optimizer.state_dict()["state"][0]["step"] == 6
    raw = trainer.student.unet.state_dict()
    name = next(k for k in raw if not torch.equal(raw[k], start[k]))
    saved = UNet2DConditionModel.from_pretrained(tmp_path / "run").state_dict()[name]
    assert torch.allclose(saved, trainer.ema[name]) and not torch.allclose(saved, raw[name])
    assert torch.equal(trainer.student.unet.state_dict()[name], raw[name])  # raw weights back after the save
    resumed = StudentTrainer(_config(tiny_folder, lora_steps=3, ema_decay=0.5), tmp_path / "run", resume=True)
    assert torch.equal(resumed.ema[name], trainer.ema[name])


def test_early_stopping_keeps_the_best_validation_weights_and_resume_continues_from_the_last(
        tiny_folder, tmp_path, monkeypatch):
    """A judge whose accuracy rises then falls (steps 0, 2, 4, 6, 8): the student folder holds step 4's weights and
    says so; the training state, and so --resume, holds the last step's; the evaluations use the validation noise."""
    script, seeds, weights = iter([0.2, 0.5, 0.9, 0.4, 0.6]), [], {}

    def fake_judge(sample, judge, samples, seed):
        seeds.append(seed)
        weights[len(seeds) - 1] = {k: v.clone() for k, v in trainer.student.unet.state_dict().items()}
        return next(script), 0.0, torch.zeros(48 * samples, 3, 16, 16)

    monkeypatch.setattr(trainer_module, "judge_sampler", fake_judge)
    trainer = StudentTrainer(_config(tiny_folder, steps=6, eval_every=2, ema_decay=0.0), tmp_path / "run")
    result = trainer.run(progress=False)
    assert seeds == [VALIDATION_SEED] * 4 and VALIDATION_SEED != TEST_SEED
    assert result.best == (4, 0.9) and result.step == 6 and result.accuracy == 0.4

    def assert_folder_holds_step_4() -> None:
        saved = OneStepStudent.from_pretrained(tmp_path / "run")
        assert (saved.step, saved.validation_accuracy) == (4, 0.9)
        for name, value in saved.unet.state_dict().items():
            assert torch.equal(value, weights[2][name]), name

    assert_folder_holds_step_4()
    last = {k: v.clone() for k, v in trainer.student.unet.state_dict().items()}
    resumed = StudentTrainer(_config(tiny_folder, steps=8, eval_every=2, ema_decay=0.0), tmp_path / "run",
                             resume=True)
    assert resumed.step == 6 and resumed.best == (4, 0.9)
    assert all(torch.equal(v, last[k]) for k, v in resumed.student.unet.state_dict().items())
    trainer = resumed  # fake_judge records this trainer's weights now
    assert resumed.run(progress=False).best == (4, 0.9)  # step 8's 0.6 does not beat step 4's 0.9
    assert_folder_holds_step_4()


def test_the_shipped_student_is_named_embedded(tmp_path):
    """assets/student2d loads by name, records the early-stopped step, and sample2d finishes its image (--refine 5)
    into an RGBA PNG that image-to-3D takes."""
    student = OneStepStudent.from_pretrained("embedded")
    assert student.teacher.source == "embedded" and student.step is not None and student.validation_accuracy
    assert main(["sample2d", "embedded", "a red cube", "--refine", "5", "--output", str(tmp_path), "--device",
                 "cpu"]) == 0
    with Image.open(tmp_path / "a_red_cube_0_0.png") as image:
        assert image.mode == "RGBA" and image.size == (256, 256)
