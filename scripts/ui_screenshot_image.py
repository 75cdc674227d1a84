"""A screenshot of the app after a real image-to-3D run (headless Chromium, 1280x800): a shapes-world example as the
input image, no prompt (or --prompt for text plus image), the input view beside the result from the same camera.

    .venv/bin/python scripts/ui_screenshot_image.py [--example "a cyan mug"] [--prompt ""] [--steps 600] [--quick]
        [--overrides JSON]

writes docs/ui_image.png (the page from its top down to the input view's strip). Needs `pip install -e '.[ui]'
playwright` and Chromium (Debian: `apt-get install -y chromium`). The run folder is made under a temporary outputs
folder; `--quick` makes the turntable and mesh small.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from ui_screenshot import ARGS, QUICK

from ui.app import launch
from ui.image_input import IMAGE_EXAMPLES


def shoot(url: str, args: argparse.Namespace) -> None:
    title = f"{args.prompt} + image" if args.prompt else f"image {args.example.replace(' ', '-')}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.get_by_text("Image to 3D (optional input image)").click()
        page.locator("#image-examples").get_by_text(args.example).click()
        page.locator("#input-image img").wait_for(timeout=30_000)
        page.locator("#prompt input, #prompt textarea").first.fill(args.prompt)
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text(f"{title}: done").wait_for(timeout=3_600_000)
        page.locator("#generate-input-view img").wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(3000)  # let the viewer draw the GLB
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(1500)
        # From the top of the page to the input view's strip: the input image, the 3D result and the comparison.
        bottom = page.locator("#generate-input-view").bounding_box()
        page.screenshot(path=str(args.out), full_page=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": bottom["y"] + bottom["height"] + 16})
        browser.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--example", default="a cyan mug", choices=[name for name, _ in IMAGE_EXAMPLES])
    p.add_argument("--prompt", default="", help="a prompt as well: text plus image")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--quick", action="store_true", help="a small turntable and mesh")
    p.add_argument("--overrides", default="{}",
                   help="more settings as JSON, e.g. '{\"image\": {\"novel_view_weight\": 0}}'")
    p.add_argument("--out", type=Path, default=Path("docs/ui_image.png"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    overrides = {**(QUICK if args.quick else {}), **json.loads(args.overrides)}
    defaults = {"steps": args.steps, "overrides": json.dumps(overrides) if overrides else ""}
    with tempfile.TemporaryDirectory() as outputs:
        demo = launch("127.0.0.1", port, Path(outputs), defaults=defaults, block=False)
        start = time.perf_counter()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shoot(demo.local_url, args)
        demo.close()
    print(f"{args.example}: the run took {time.perf_counter() - start:.0f} s; screenshot {args.out}")


if __name__ == "__main__":
    main()
