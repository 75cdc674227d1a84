"""A real browser (headless Chromium) at 1280x800 and 390x844: Enter starts a run, which survives a reload and
stops; an example starts a short run whose finishing stages show and whose mesh shows in 3D above the fold; a phone
jumps to the output; a second browser sees only its own job."""

import json
import os
import re
import shutil
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = os.environ.get("SCOREDREAM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOT = os.environ.get("SCOREDREAM_UI_SCREENSHOT")  # where to keep the screenshot (default: tmp_path)

if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
    pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
STORAGE_KEY = pytest.importorskip("ui.app").STORAGE_KEY


DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
RECORD_PROGRESS = """() => { window.progressSeen = [];
  new MutationObserver(() => { const t = document.getElementById('generate-output')?.innerText || '';
    for (const line of t.split('\\n')) if (line.startsWith('finishing:')) window.progressSeen.push(line); })
  .observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


def job_key(page) -> str:
    """The job key box, inside its accordion."""
    box = page.locator("#job-key textarea")
    if not box.is_visible():
        page.get_by_text("Job key: share or watch a job").click()
    return box.input_value()


def in_view(page, selector: str) -> bool:
    """The element's top half is inside the window without scrolling (a pixel's slack at the top: scrolling is in
    whole pixels, layout in fractions, so an element scrolled into view may start at -0.1)."""
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= -1 and box["y"] + box["height"] / 2 <= height


def set_overrides(page, text: str) -> None:
    page.get_by_text("Advanced", exact=True).first.click()
    page.locator("#overrides .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def test_browser_run_shows_the_mesh(app, tmp_path):
    url, outputs, defaults = app
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=DESKTOP)
        page.goto(url)
        # Start sits beside the prompt, above the fold; Enter in the prompt starts a run too.
        assert in_view(page, "#start")
        assert page.get_by_role("button", name="Stop", exact=True).is_hidden()  # no job: nothing to stop
        # A long run survives a page reload: the fresh page re-attaches to it, and Stop from there ends it.
        page.locator("#prompt input, #prompt textarea").first.fill("a blue sphere")
        page.locator("#steps input").fill("5000")
        page.locator("#prompt input, #prompt textarea").first.press("Enter")
        page.get_by_text("a blue sphere: running").wait_for(timeout=60_000)
        job_id = job_key(page)
        page.reload()
        page.get_by_text("a blue sphere: running").wait_for(timeout=30_000)
        assert job_id and job_key(page) == job_id
        page.get_by_role("button", name="Stop", exact=True).click()
        page.get_by_text("a blue sphere: stopped at step").wait_for(timeout=60_000)
        # A click on an example fills the prompt and starts a short run, which ends with the mesh in the 3D viewer,
        # after the finishing work (a longer turntable here, so that its progress shows) reports its stages.
        page.locator("#steps input").fill("4")
        set_overrides(page, json.dumps({**json.loads(defaults["overrides"]), "video": {"frames": 120,
                                                                                       "resolution": 48}}))
        page.evaluate(RECORD_PROGRESS)
        page.get_by_text("a red mug", exact=True).click()
        sync_api.expect(page.locator("#prompt input, #prompt textarea").first).to_have_value("a red mug")
        page.get_by_text("a red mug: done").wait_for(timeout=180_000)
        seen = page.evaluate("window.progressSeen")
        assert any(line.startswith("finishing: turntable") and "frames" in line for line in seen), seen
        page.get_by_text("finished: turntable, mesh and views are ready").wait_for(timeout=30_000)
        canvas = page.locator("#generate-mesh canvas")
        canvas.wait_for(state="visible", timeout=30_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(2000)  # let the viewer draw the loaded GLB
        assert in_view(page, "#generate-mesh canvas")  # the object, without scrolling, at 1280x800
        assert page.locator("#generate-views img").is_visible()
        for label in ("Mesh (.glb)", "Mesh (.obj)", "Mesh (.ply)", "Turntable video", "Checkpoint"):
            assert page.get_by_role("button", name=label).is_visible(), label
        pixels = np.asarray(Image.open(BytesIO(canvas.screenshot())).convert("RGB"), dtype=np.float32)
        path = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "ui.png"
        page.screenshot(path=str(path))
        # On a phone the output is below the form: starting a run jumps to it.
        page.set_viewport_size(PHONE)
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("#prompt input, #prompt textarea").first.fill("a green cone")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text(re.compile(r"a green cone: (queued|running|done)")).wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        assert in_view(page, "#generate-status")
        page.get_by_text("a green cone: done").wait_for(timeout=180_000)
        page.set_viewport_size(DESKTOP)
        # The Runs tab lists runs with thumbnails, newest first; clicking one reopens it with its settings.
        page.get_by_role("tab", name="Runs").click()
        page.get_by_role("button", name="Refresh").click()
        page.locator("#runs-gallery img").nth(1).click(timeout=30_000)
        page.get_by_text("a red mug (step 4)").wait_for(timeout=30_000)
        page.get_by_text(re.compile("Settings: preset cpu, method sds")).wait_for(timeout=30_000)
        browser.close()
    # The viewer drew something: a mesh on a plain background has more than one colour.
    assert pixels.std(axis=(0, 1)).max() > 3.0
    assert path.stat().st_size > 10_000
    assert any(outputs.glob("a-red-mug-sds-s0*/mesh.glb"))


def start_run(page, prompt: str, steps: int) -> None:
    page.locator("#prompt input, #prompt textarea").first.fill(prompt)
    page.locator("#steps input").fill(str(steps))
    page.get_by_role("button", name="Start", exact=True).click()


def test_a_second_browser_sees_only_its_own_job(app):
    url = app[0]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        a, b = (browser.new_context(viewport=DESKTOP).new_page() for _ in range(2))
        a.goto(url)
        start_run(a, "a white cone", 5000)
        a.get_by_text("a white cone: running").wait_for(timeout=60_000)
        # User B (another browser profile) opens the page: it follows nothing and shows no key or Stop target.
        b.goto(url)
        b.get_by_text("no job yet").first.wait_for(timeout=30_000)
        b.wait_for_timeout(2000)  # the page load's attach (and a poll, were one started) have had their time
        assert job_key(b) == "" and b.get_by_text("white cone").count() == 0
        assert b.get_by_role("button", name="Stop", exact=True).is_hidden()
        # B's own run queues behind A's; a reload follows B's job, not A's; B's job list has only B's job.
        saved = b.evaluate(f"localStorage.getItem('{STORAGE_KEY}')")
        start_run(b, "a black cone", 5000)  # long: still running when B stops it below (4 steps raced the click)
        b.get_by_text("a black cone: queued, position 2 (1 job ahead on cpu)").wait_for(timeout=30_000)
        key = job_key(b)
        # The browser keeps the session's keys a moment after the start (a reload before that follows nothing).
        b.wait_for_function(f"localStorage.getItem('{STORAGE_KEY}') !== {json.dumps(saved)}", timeout=30_000)
        b.reload()
        b.get_by_text("a black cone: queued, position 2").wait_for(timeout=30_000)
        assert job_key(b) == key and b.get_by_text("white cone").count() == 0
        b.get_by_role("tab", name="Runs").click()
        b.get_by_role("button", name="Refresh").click()
        sync_api.expect(b.locator("#jobs")).to_contain_text("a black cone", timeout=30_000)
        assert "white cone" not in b.locator("#jobs").inner_text() and b.get_by_text("white cone").count() == 0
        # A's Stop is still A's: it ends A's run while B's waits its turn.
        a.get_by_role("button", name="Stop", exact=True).click()
        a.get_by_text("a white cone: stopped at step").wait_for(timeout=60_000)
        b.get_by_role("tab", name="Generate").click()
        b.get_by_text("a black cone: running").wait_for(timeout=60_000)
        b.get_by_role("button", name="Stop", exact=True).click()
        b.get_by_text("a black cone: stopped at step").wait_for(timeout=120_000)
        browser.close()
