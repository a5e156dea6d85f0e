"""Redraws docs/img/phone.png: the demo's overview and a Wrapped story card at 390x844, side by side.

brapped --home /tmp/demo demo && PYTHONPATH=src:. python docs/img/phone_screenshot.py /tmp/demo
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright
from tests.web.test_browser import CHROMIUM_ARGS
from tests.web.test_phone import PHONE

from brapped.config import load_settings
from brapped.store import open_store
from brapped.web import create_app

HERE = Path(__file__).resolve().parent


def main(home: Path) -> None:
    store = open_store(f"sqlite:///{home / 'brapped.db'}")
    app = create_app(store, load_settings({"timezone": "Europe/Berlin"}, env={}, home=home))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        sharp = {**PHONE, "device_scale_factor": 2}
        phone = browser.new_context(base_url=f"http://127.0.0.1:{port}", reduced_motion="reduce", **sharp)
        phone.route("https://*.scdn.co/**", lambda route: route.abort())  # no covers: no network
        page = phone.new_page()
        for path, taps in (("/?period=30d", 0), ("/wrapped", 1)):
            page.goto(path, wait_until="load")
            page.wait_for_timeout(1500)
            for _ in range(taps):
                page.touchscreen.tap(350, 400)
                page.wait_for_timeout(400)
            shots.append(base64.b64encode(page.screenshot()).decode())
        side_by_side = browser.new_context(viewport={"width": 900, "height": 904}, device_scale_factor=4 / 3)
        frame = side_by_side.new_page()
        images = "".join(f'<img src="data:image/png;base64,{shot}">' for shot in shots)
        frame.set_content(
            '<body style="margin:0;background:#0b0d12;display:flex;gap:40px;justify-content:center;'
            'align-items:center;height:904px"><style>img{width:390px;height:844px;border-radius:28px;'
            f"box-shadow:0 0 0 6px #262c3d}}</style>{images}</body>"
        )
        frame.screenshot(path=str(HERE / "phone.png"))
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main(Path(sys.argv[1]))
