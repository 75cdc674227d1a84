"""A real browser (headless Chromium): a run survives a reload and stops; a short run shows its mesh in 3D; a second
browser sees only its own job."""

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


def test_browser_run_shows_the_mesh(app, tmp_path):
    url, outputs, _ = app
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1250})
        page.goto(url)
        # A long run survives a page reload: the fresh page re-attaches to it, and Stop from there ends it.
        page.locator("#prompt textarea").fill("a blue sphere")
        page.locator("#steps input").fill("5000")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text("a blue sphere: running").wait_for(timeout=60_000)
        job_id = page.locator("#job-key textarea").input_value()
        page.reload()
        page.get_by_text("a blue sphere: running").wait_for(timeout=30_000)
        assert job_id and page.locator("#job-key textarea").input_value() == job_id
        page.get_by_role("button", name="Stop", exact=True).click()
        page.get_by_text("a blue sphere: stopped at step").wait_for(timeout=60_000)
        # A short run ends with the mesh in the 3D viewer.
        page.locator("#prompt textarea").fill("a red cube")
        page.locator("#steps input").fill("4")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text("a red cube: done").wait_for(timeout=120_000)
        canvas = page.locator("#generate-mesh canvas")
        canvas.wait_for(state="visible", timeout=30_000)
        page.wait_for_timeout(2000)  # let the viewer draw the loaded GLB
        pixels = np.asarray(Image.open(BytesIO(canvas.screenshot())).convert("RGB"), dtype=np.float32)
        path = Path(SCREENSHOT) if SCREENSHOT else tmp_path / "ui.png"
        page.screenshot(path=str(path), full_page=True)
        # The Runs tab lists runs with thumbnails, newest first; clicking one reopens it.
        page.get_by_role("tab", name="Runs").click()
        page.get_by_role("button", name="Refresh").click()
        page.locator("#runs-gallery img").first.click(timeout=30_000)
        page.get_by_text("a red cube (step 4)").wait_for(timeout=30_000)
        browser.close()
    # The viewer drew something: a mesh on a plain background has more than one colour.
    assert pixels.std(axis=(0, 1)).max() > 3.0
    assert path.stat().st_size > 10_000
    assert any(outputs.glob("a-red-cube-sds-s0*/mesh.glb"))


def start_run(page, prompt: str, steps: int) -> None:
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#steps input").fill(str(steps))
    page.get_by_role("button", name="Start", exact=True).click()


def test_a_second_browser_sees_only_its_own_job(app):
    url = app[0]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        a, b = (browser.new_context(viewport={"width": 1400, "height": 1250}).new_page() for _ in range(2))
        a.goto(url)
        start_run(a, "a white cone", 5000)
        a.get_by_text("a white cone: running").wait_for(timeout=60_000)
        # User B (another browser profile) opens the page: it follows nothing and shows no key or Stop target.
        b.goto(url)
        b.get_by_text("no job yet").first.wait_for(timeout=30_000)
        b.wait_for_timeout(2000)  # the page load's attach (and a poll, were one started) have had their time
        assert b.locator("#job-key textarea").input_value() == "" and b.get_by_text("white cone").count() == 0
        b.get_by_role("button", name="Stop", exact=True).click()
        b.get_by_text("no job to stop").wait_for(timeout=30_000)
        # B's own run queues behind A's; a reload follows B's job, not A's; B's job list has only B's job.
        saved = b.evaluate(f"localStorage.getItem('{STORAGE_KEY}')")
        start_run(b, "a black cone", 4)
        b.get_by_text("a black cone: queued, position 2 (1 job ahead on cpu)").wait_for(timeout=30_000)
        key = b.locator("#job-key textarea").input_value()
        # The browser keeps the session's keys a moment after the start (a reload before that follows nothing).
        b.wait_for_function(f"localStorage.getItem('{STORAGE_KEY}') !== {json.dumps(saved)}", timeout=30_000)
        b.reload()
        b.get_by_text("a black cone: queued, position 2").wait_for(timeout=30_000)
        assert b.locator("#job-key textarea").input_value() == key and b.get_by_text("white cone").count() == 0
        b.get_by_role("tab", name="Runs").click()
        b.get_by_role("button", name="Refresh").click()
        sync_api.expect(b.locator("#jobs")).to_contain_text("a black cone", timeout=30_000)
        assert "white cone" not in b.locator("#jobs").inner_text() and b.get_by_text("white cone").count() == 0
        # A's Stop is still A's: it ends A's run while B's waits its turn.
        a.get_by_role("button", name="Stop", exact=True).click()
        a.get_by_text("a white cone: stopped at step").wait_for(timeout=60_000)
        b.get_by_role("tab", name="Generate").click()
        b.get_by_text(re.compile(r"a black cone: (running|done)")).wait_for(timeout=60_000)
        b.get_by_role("button", name="Stop", exact=True).click()
        b.get_by_text(re.compile(r"a black cone: (stopped|done)")).wait_for(timeout=120_000)
        browser.close()
