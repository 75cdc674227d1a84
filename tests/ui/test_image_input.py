"""The Generate tab's image input through the handlers: an image run shows its input view beside the result, a bad
image gets the message and writes nothing."""

import json
import time

import pytest
from PIL import Image
from tiny_models import save_tiny_zero123

from ui.handlers import Handlers
from ui.image_input import example_images
from ui.jobs import JobRunner
from ui.tasks import PriorCache

TINY = {"render": {"num_samples": 8}, "hashgrid": {"levels": 2, "max_resolution": 32},
        "video": {"frames": 2, "resolution": 16}, "export": {"enabled": False}}


@pytest.fixture(scope="module")
def zero123(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("zero123")
    save_tiny_zero123(folder, "cc_projection", latent=False)
    return str(folder)


def start(h: Handlers, prompt: str, image: str, overrides: dict, model: str = "embedded"):
    return h.start_generate(prompt, "", model, "sds", "hashgrid", 2, 7.5, 0, 16, 0, "cpu", json.dumps(overrides),
                            "cpu", image)


def test_an_image_run_shows_the_input_view_beside_the_result(tmp_path, zero123, prior_model):
    h = Handlers(tmp_path / "outputs", JobRunner(), PriorCache())
    example = example_images(tmp_path / "outputs")[0]  # the red cube
    key, message, _, _ = start(h, "", example, {**TINY, "image": {"prior": {"model": zero123}}}, prior_model)
    assert key and "image a-red-cube" in message, message
    end = time.monotonic() + 120
    while h.runner.get(key).status in ("queued", "running") and time.monotonic() < end:
        time.sleep(0.2)
    job = h.runner.get(key)
    assert job.status == "done", job.error
    out = h.poll(key)
    input_view = out[7]
    width, height = Image.open(input_view).size
    assert width == 2 * height  # the input, then the result from the input camera
    run = job.results["run"]
    assert run.name.startswith("a-red-cube-image-s0") and (run / "input.png").exists()


@pytest.mark.parametrize("content, message", [(b"not an image", "not an image"), (None, "opaque everywhere")])
def test_a_bad_image_gets_the_message_and_writes_nothing(tmp_path, prior_model, content, message):
    outputs = tmp_path / "outputs"
    h = Handlers(outputs, JobRunner(), PriorCache())
    image = tmp_path / "upload.png"
    if content is None:
        Image.new("RGBA", (32, 32), (255, 0, 0, 255)).save(image)
    else:
        image.write_bytes(content)
    key, text, _, _ = start(h, "a red cube", str(image), TINY, prior_model)
    assert key == "" and message in text and str(tmp_path) not in text
    assert not outputs.exists() or not [p for p in outputs.iterdir()]
