#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open a local HTML page (the audit's report) in headless Chromium and say what it showed.

Runs on the test client beside cdp_video.py, whose Chromium driver it uses. It
opens the page, waits until it has loaded, collects every console message of
level error or warning, every uncaught exception and every Content Security
Policy violation, reads a few facts of the page, writes a PNG of the top of
the page when asked, and prints one JSON object:

    {"ok", "title", "console_errors": [...], "text_has": {needle: bool},
     "details": <number of collapsible evidence blocks>, "screenshot"}

or {"ok": false, "error": ...} when Chromium could not show it.

Exit status 0 when the page loaded with no console error and shows every
--expect text; 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time

from cdp_video import Browser, start_chromium

# Open the element's collapsible parts and give the page offset to start the picture at.
FOCUS = """(() => {
  const element = document.querySelector(SELECTOR);
  if (!element) return null;
  element.querySelectorAll('details').forEach(details => { details.open = true; });
  return Math.max(0, element.getBoundingClientRect().top + window.scrollY - 16);
})()"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="path of the HTML file")
    parser.add_argument("--expect", action="append", default=[], help="text the page must show")
    parser.add_argument("--screenshot", help="write a PNG of the page's top here")
    parser.add_argument("--size", default="1280,1500", help="window size, WIDTH,HEIGHT")
    parser.add_argument("--focus", help="CSS selector of an element: the picture starts there, "
                        "with the element's collapsible evidence open")
    args = parser.parse_args()

    try:
        report = look(args)
    except Exception as error:  # noqa: BLE001 - the test shows why, in one JSON line
        report = {"error": f"{type(error).__name__}: {error}", "console_errors": [],
                  "csp_violations": [], "text_has": {}}
    report["ok"] = (not report.get("error") and not report["console_errors"]
                    and not report["csp_violations"] and all(report["text_has"].values()))
    print(json.dumps(report))
    return 0 if report["ok"] else 1


def look(args):
    """Open the page once and report what it showed (see the module's docstring)."""
    # Chromium's helper processes may still write into the profile as it is removed.
    with tempfile.TemporaryDirectory(prefix="tt-report-", ignore_cleanup_errors=True) as profile:
        chromium, ws_url = start_chromium(profile, args.size, None)
        try:
            browser = Browser(ws_url)
            _context, session = browser.open_page(f"file://{args.page}")
            deadline = time.time() + 30
            while browser.evaluate(session, "document.readyState") != "complete":
                if time.time() > deadline:
                    raise RuntimeError("the page did not finish loading within 30 s")
                time.sleep(0.2)
            time.sleep(0.5)  # late console messages
            text = browser.evaluate(session, "document.body.innerText")
            report = {
                "title": browser.evaluate(session, "document.title"),
                "details": browser.evaluate(session, "document.querySelectorAll('details').length"),
                "csp_violations": browser.evaluate(session, "window.__ttCsp || []"),
                "text_has": {needle: needle in text for needle in args.expect},
                "screenshot": None,
            }
            report["console_errors"] = [
                entry for entry in browser.logs[session] if entry["level"] in ("error", "warning")
            ]
            if args.screenshot:
                width, height = (int(part) for part in args.size.split(","))
                top = 0
                if args.focus:
                    focus = FOCUS.replace("SELECTOR", json.dumps(args.focus))
                    top = browser.evaluate(session, focus)
                    if top is None:
                        raise RuntimeError(f"no element matches {args.focus}")
                shot = browser.call("Page.captureScreenshot", session=session, format="png",
                                    captureBeyondViewport=True,
                                    clip={"x": 0, "y": top, "width": width, "height": height,
                                          "scale": 1})
                with open(args.screenshot, "wb") as image:
                    image.write(base64.b64decode(shot["data"]))
                report["screenshot"] = args.screenshot
        finally:
            chromium.kill()
            chromium.wait()
    return report


if __name__ == "__main__":
    sys.exit(main())
