"""The 2D tab's handler: a student's image and its teacher's, or a one-line message."""

import pytest
from tiny_models import save_prior_folder, tiny_prior

from scoredream.distill2d import Distill2DConfig, StudentTrainer
from scoredream.priors import PriorConfig
from ui.text2image import SHOWN, Text2Image


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    prior = tmp_path_factory.mktemp("prior")
    save_prior_folder(tiny_prior(), prior)
    config = Distill2DConfig(prior=PriorConfig(model=str(prior)), prompts=("a red cube",), steps=1, batch_size=1,
                             eval_every=0, device="cpu")
    StudentTrainer(config, root / "my-student").run(progress=False)
    return root


def test_sample_gives_the_student_and_teacher_images(outputs):
    h = Text2Image(outputs, device="cpu")
    mine, theirs, timing = h.sample("a red cube", "my-student", 3)
    assert mine.size == theirs.size == (SHOWN, SHOWN) and mine.mode == "RGB"
    assert timing.startswith("student: one UNet call") and "25 DDIM steps" in timing
    again, _, _ = h.sample("a red cube", "my-student", 3)
    assert again.tobytes() == mine.tobytes()  # same seed, same image
    other, _, _ = h.sample("a red cube", "my-student", 4)
    assert other.tobytes() != mine.tobytes()


@pytest.mark.parametrize(("prompt", "student", "message"), [
    ("  ", "my-student", "the prompt is empty"),
    ("a red cube", "../elsewhere", "outside the outputs folder"),
    ("a red cube", "missing", "not a one-step student folder"),
])
def test_bad_input_is_a_message(outputs, prompt, student, message):
    mine, theirs, text = Text2Image(outputs, device="cpu").sample(prompt, student, 0)
    assert mine is None and theirs is None and text.startswith("**error:**") and message in text
    assert str(outputs) not in text
