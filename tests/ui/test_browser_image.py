"""A real browser (headless Chromium, 1280x800): a shapes-world example fills the image input, Start without a
prompt runs image to 3D, and the input view shows beside the result from the same camera."""

import json
import os
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_browser import ARGS, CHROMIUM, DESKTOP, set_overrides, sync_api  # skips without chromium/playwright
from tiny_models import save_tiny_zero123

SCREENSHOT = os.environ.get("SCOREDREAM_UI_IMAGE_SCREENSHOT")  # where to keep the screenshot (default: tmp_path)


@pytest.fixture(scope="module")
def zero123(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("zero123")
    save_tiny_zero123(folder, "cc_projection", latent=False)
    return str(folder)


def test_an_example_image_runs_image_to_3d_and_shows_the_input_view(app, zero123, tmp_path):
    url, outputs, defaults = app
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        page.get_by_text("Image to 3D (optional input image)").click()
        page.locator("#image-examples").get_by_text("a cyan mug").click()
        page.locator("#input-image img").wait_for(timeout=30_000)  # the example filled the input
        page.locator("#steps input").fill("3")
        overrides = {**json.loads(defaults["overrides"]), "image": {"prior": {"model": zero123}}}
        set_overrides(page, json.dumps(overrides))
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text("image a-cyan-mug: done").wait_for(timeout=180_000)
        view = page.locator("#generate-input-view img")
        view.wait_for(state="visible", timeout=30_000)
        pixels = np.asarray(Image.open(BytesIO(view.screenshot())).convert("RGB"), dtype=np.float32)
        path = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "ui_image.png"
        page.screenshot(path=str(path))
        browser.close()
    # The strip holds the cyan input: some pixels are far more blue-green than red.
    assert ((pixels[..., 1] + pixels[..., 2]) / 2 - pixels[..., 0] > 60).any()
    run = next(outputs.glob("a-cyan-mug-image-s0*"))
    assert (run / "input.png").exists() and (run / "input_view.png").exists()


def test_make_it_3d_on_the_2d_tab_fills_the_generate_tabs_prompt_and_image(app):
    url, _, _ = app
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        page.get_by_role("tab", name="Text to image (one step)").click()
        page.locator("#t2i-prompt textarea, #t2i-prompt input").first.fill("a red cube")
        page.locator("#t2i-to-3d").click()  # the shipped student, finished by the teacher, matted
        page.locator("#prompt").wait_for(state="visible", timeout=60_000)  # the Generate tab is shown
        page.get_by_text("Image to 3D (optional input image)").click()
        page.locator("#input-image img").wait_for(state="visible", timeout=60_000)  # with the image in its input
        prompt = page.locator("#prompt textarea, #prompt input").first.input_value()
        browser.close()
    assert prompt == "a red cube"
