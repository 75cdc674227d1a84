"""Screenshot of the app after a real run: default settings, the embedded prior, in headless Chromium.

    .venv/bin/python scripts/ui_screenshot.py [--prompt "a purple torus"] [--out docs/ui.png]

Needs `pip install -e '.[ui]' playwright` and Chromium (Debian: `apt-get install -y chromium`). The run folder is
made under a temporary outputs folder; the default 600-step run takes ~2-3 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from ui.app import launch

ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-first-run"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompt", default="a purple torus")
    p.add_argument("--out", type=Path, default=Path("docs/ui.png"))
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as outputs:
        demo = launch("127.0.0.1", port, Path(outputs), block=False)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1250})
            page.goto(demo.local_url)
            page.locator("#prompt textarea").fill(args.prompt)
            start = time.perf_counter()
            page.get_by_role("button", name="Start", exact=True).click()
            page.get_by_text(f"{args.prompt}: done").wait_for(timeout=900_000)
            page.locator("#generate-mesh canvas").wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(3000)  # let the viewer draw the GLB
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        demo.close()
    print(f"{args.prompt}: run and export took {time.perf_counter() - start:.0f} s; screenshot: {args.out}")


if __name__ == "__main__":
    main()
