"""Screenshots of the app after a real run, at a desktop (1280x800) and a phone (390x844) size, in headless Chromium.

    .venv/bin/python scripts/ui_screenshot.py [--prompt "a purple torus"] [--steps 600] [--tag after]

writes docs/ui_1280_<tag>.png and docs/ui_390_<tag>.png (what the window shows, not the whole page: the top of the
page, and on the phone the output, where Start jumps; the app before that jump showed the top there too). Needs
`pip install -e '.[ui]' playwright` and Chromium (Debian: `apt-get install -y chromium`). The run folder is made
under a temporary outputs folder; `--quick` makes the turntable and mesh small so the run ends in a minute or two.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from ui.app import launch

ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-first-run"]
SIZES = ((1280, 800), (390, 844))
TOP, OUTPUT = "window.scrollTo(0, 0)", "document.getElementById('generate-output').scrollIntoView()"
"""Where each shot looks: the top of the page, or on a phone the output, where Start jumps."""
QUICK = {"video": {"frames": 24, "resolution": 96}, "export": {"resolution": 64, "texture": False}}


def shoot(url: str, chromium: str, prompt: str, out: Path, tag: str) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": SIZES[0][0], "height": SIZES[0][1]})
        page.goto(url)
        page.locator("#prompt input, #prompt textarea").first.fill(prompt)
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text(f"{prompt}: done").wait_for(timeout=1_800_000)
        page.wait_for_timeout(3000)  # let the viewer draw the GLB
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate(TOP if width >= 768 else OUTPUT)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / f"ui_{width}_{tag}.png"))
        browser.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompt", default="a purple torus")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--quick", action="store_true", help="a small turntable and mesh")
    p.add_argument("--tag", default="after", help="the screenshots' name suffix")
    p.add_argument("--out", type=Path, default=Path("docs"), help="the folder of the screenshots")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    defaults = {"steps": args.steps, "overrides": json.dumps(QUICK) if args.quick else ""}
    with tempfile.TemporaryDirectory() as outputs:
        demo = launch("127.0.0.1", port, Path(outputs), defaults=defaults, block=False)
        start = time.perf_counter()
        args.out.mkdir(parents=True, exist_ok=True)
        shoot(demo.local_url, args.chromium, args.prompt, args.out, args.tag)
        demo.close()
    print(f"{args.prompt}: run and export took {time.perf_counter() - start:.0f} s; screenshots in {args.out}")


if __name__ == "__main__":
    main()
