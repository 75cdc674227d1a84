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


def test_make_it_3d_hands_a_matted_rgba_image_of_the_shipped_student_to_the_generate_tab(outputs):
    from PIL import Image

    from ui.text2image import FOR_3D_FOLDER

    path, prompt, line = Text2Image(outputs, device="cpu").image_for_3d("a red cube", "shipped", 0)
    assert prompt == "a red cube" and "Generate tab" in line
    assert path is not None and path.startswith(str(outputs / FOR_3D_FOLDER))  # served: inside the outputs folder
    image = Image.open(path)
    alpha = image.getchannel("A")
    assert image.mode == "RGBA" and image.size == (SHOWN, SHOWN)
    assert alpha.getextrema() == (0, 255)  # an object and a background, not all one
    from pathlib import Path

    from scoredream.image import ImageConfig, object_rgba  # the Generate tab's loader takes it as it is
    _, mask = object_rgba(Path(path), ImageConfig().background_threshold)
    assert 0.05 < mask.mean().item() < 0.9


def test_make_it_3d_refuses_an_image_without_an_object(outputs):
    path, prompt, line = Text2Image(outputs, device="cpu").image_for_3d("a red cube", "my-student", 0)
    assert path is None and prompt == "a red cube" and line.startswith("**error:**")
