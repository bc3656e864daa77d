#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive the web chat in headless Chromium through the DevTools protocol.

Runs on the test client (Debian's chromium and python3-websocket; nothing from
PyPI). It starts Chromium, opens the chat page with real certificate checking
(the internal CA must be in the NSS database of $HOME), logs in through the
form, opens a room through the route #converse/room?jid=<room>, writes
--ready-file once the room is open, waits until --token shows in the page,
saves a screenshot and prints one JSON object:

    {"logged_in", "room_open", "found", "csp_violations", "console_errors",
     "error", "screenshot"}

With --video (and a fake camera and microphone) it clicks the room's video
button instead, with a real mouse event, follows the window it opens to the
video page and waits until that page shows a remote participant's first
frame; the object also has {"video_state", "video_error", "video_location",
"click_to_first_frame_ms"}, and found is true once the page joined.

Exit status 0 when the token was found (or the video joined) and no Content
Security Policy violation was seen on the chat's page, 1 otherwise. The
password is read from the environment variable TT_CHAT_PASSWORD, never from
the command line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

CSP_WATCH = (
    "window.__ttCsp = [];"
    "document.addEventListener('securitypolicyviolation', e => window.__ttCsp.push("
    "e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' + e.sourceFile));"
)

CSP_WORDS = ("Content Security Policy", "Content-Security-Policy")
# Fills the login form (the domain is locked: the username only) and submits it.
FILL_LOGIN = """(username, password) => {
    const set = (selector, value) => {
        const input = document.querySelector(selector);
        input.value = value;
        input.dispatchEvent(new Event('input', {bubbles: true}));
    };
    set('#converse-login-jid', username);
    set('#converse-login-password', password);
    document.querySelector('form#converse-login').requestSubmit();
}"""
# true once the roster shows instead of the form; the feedback text if refused.
LOGGED_IN = """(() => {
    const feedback = document.querySelector('.conn-feedback:not(.d-none) .feedback-message');
    if (feedback && /fail|incorrect|error|autentic/i.test(feedback.textContent)) {
        return 'refused: ' + feedback.textContent;
    }
    return !document.querySelector('#converse-login-jid')
        && !!document.querySelector('converse-roster, converse-rooms-list');
})()"""


class Page:
    """One page target of Chromium, spoken to over its DevTools websocket."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.log = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def _event(self, message):
        method = message.get("method")
        params = message.get("params", {})
        if method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.log.append({"level": entry.get("level"), "source": entry.get("source"),
                             "text": entry.get("text", "")})
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            text = " ".join(str(arg.get("value", arg.get("description", "")))
                            for arg in params.get("args", []))
            self.log.append({"level": params.get("type"), "source": "console-api", "text": text})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.log.append({"level": "error", "source": "exception", "text": text})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate {expression[:60]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        return self.evaluate(expression)


# The room's video button (the role's Converse plugin), and the video page's
# state once it shows a remote frame: the time of that frame on the clock of
# the page's origin.
VIDEO_BUTTON = "converse-muc[jid={room}] .teletreball-video-button"
BUTTON_CENTRE = """(selector => {
    const button = document.querySelector(selector);
    if (!button) return null;
    button.scrollIntoView({block: 'center'});
    const box = button.getBoundingClientRect();
    return box.width ? [box.left + box.width / 2, box.top + box.height / 2] : null;
})"""
VIDEO_FIRST_FRAME = """(() => {
    const v = window.teletreballVideo;
    if (!v) return null;
    if (v.state === 'refused' || v.state === 'error') return {state: v.state, error: v.error};
    if (v.state !== 'joined' || v.firstRemoteFrameAt === null) return null;
    return {state: v.state, error: v.error, at: performance.timeOrigin + v.firstRemoteFrameAt};
})()"""


def start_chromium(port, profile, size, media=False):
    command = [
        shutil.which("chromium") or "/usr/bin/chromium",
        "--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
        f"--window-size={size}", "about:blank",
    ]
    if media:
        # A fake camera and microphone, allowed without asking.
        command[1:1] = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                        "--autoplay-policy=no-user-gesture-required"]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                targets = json.load(answer)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return browser, pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.5)
    browser.kill()
    raise RuntimeError("Chromium did not open its DevTools port within 60 s")


def open_video(page, args):
    """Click the room's video button as a person would (a real mouse event: the
    window it opens is no unwanted popup), follow the window to the video page
    and wait for its first remote frame."""
    selector = VIDEO_BUTTON.format(room=json.dumps(args.room))
    centre = page.wait_for(f"({BUTTON_CENTRE})({json.dumps(selector)})", args.timeout)
    if not centre:
        raise RuntimeError("the room's video button did not appear")
    clicked = time.time()
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=centre[0], y=centre[1],
                  button="left", clickCount=1)
    deadline = time.time() + args.timeout
    target = None
    while target is None and time.time() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/json/list", timeout=5) as answer:
            target = next((t for t in json.load(answer)
                           if t.get("type") == "page" and "/video/" in t.get("url", "")), None)
        time.sleep(0.2)
    if target is None:
        raise RuntimeError("the video button opened no window on the video page")
    video = Page(target["webSocketDebuggerUrl"])
    try:
        first = video.wait_for(VIDEO_FIRST_FRAME, args.timeout) or {}
        path = video.evaluate("location.pathname + location.hash")
    finally:
        video.ws.close()
    took = round(first["at"] - clicked * 1000) if "at" in first else None
    return {"video_state": first.get("state"), "video_error": first.get("error"),
            "video_location": path, "click_to_first_frame_ms": took}


def run(args, password):
    report = {"logged_in": False, "room_open": False, "found": False, "csp_violations": [],
              "console_errors": [], "error": None, "screenshot": None}
    profile = tempfile.mkdtemp(prefix="tt-chromium-")
    browser, ws_url = start_chromium(args.port, profile, args.window_size, media=args.video)
    page = None
    try:
        page = Page(ws_url)
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Page.addScriptToEvaluateOnNewDocument", source=CSP_WATCH)
        navigation = page.call("Page.navigate", url=args.url)
        if navigation.get("errorText"):
            raise RuntimeError(f"opening {args.url}: {navigation['errorText']}")
        if not page.wait_for("!!document.querySelector('#converse-login-jid')", args.timeout):
            raise RuntimeError("the login form (#converse-login-jid) did not appear")
        page.evaluate(f"({FILL_LOGIN})({json.dumps(args.username)}, {json.dumps(password)})")
        logged_in = page.wait_for(LOGGED_IN, args.timeout)
        if logged_in is not True:
            raise RuntimeError(f"login failed ({logged_in or 'timeout'})")
        report["logged_in"] = True
        page.evaluate(f"location.hash = {json.dumps('#converse/room?jid=' + args.room)}")
        room_input = f"converse-muc[jid={json.dumps(args.room)}] textarea.chat-textarea"
        if not page.wait_for(f"!!document.querySelector({json.dumps(room_input)})", args.timeout):
            raise RuntimeError(f"the room {args.room} did not open")
        report["room_open"] = True
        if args.ready_file:
            with open(args.ready_file, "w", encoding="utf-8") as ready:
                ready.write("room open\n")
        if args.video:
            report.update(open_video(page, args))
            report["found"] = report["video_state"] == "joined"
        else:
            report["found"] = bool(page.wait_for(
                f"document.body.innerText.includes({json.dumps(args.token)})", args.timeout))
        time.sleep(1)  # let the last message finish rendering for the screenshot
    except (RuntimeError, OSError, websocket.WebSocketException) as exc:
        report["error"] = str(exc)
    finally:
        if page is not None:
            try:
                shot = page.call("Page.captureScreenshot", format="png")
                with open(args.screenshot, "wb") as image:
                    image.write(base64.b64decode(shot["data"]))
                report["screenshot"] = args.screenshot
                report["csp_violations"] = page.evaluate("window.__ttCsp || []") or []
                page.call("Runtime.evaluate", expression="1")  # drains pending log events
            except (RuntimeError, OSError, websocket.WebSocketException) as exc:
                report["error"] = report["error"] or f"after the test: {exc}"
            report["csp_violations"] += [
                entry["text"] for entry in page.log
                if any(words in entry["text"] for words in CSP_WORDS)
            ]
            report["console_errors"] = [entry["text"] for entry in page.log
                                        if entry["level"] == "error"]
            page.ws.close()
        browser.terminate()
        try:
            browser.wait(timeout=15)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--token", help="the text to wait for in the room")
    parser.add_argument("--video", action="store_true",
                        help="click the room's video button instead, and wait for a remote frame")
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--ready-file")
    parser.add_argument("--port", type=int, default=9222)
    parser.add_argument("--window-size", default="1280,800")
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()
    password = os.environ.get("TT_CHAT_PASSWORD", "")
    if not password:
        parser.error("set TT_CHAT_PASSWORD")
    if not args.video and not args.token:
        parser.error("give --token TEXT, or --video")
    report = run(args, password)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["found"] and not report["csp_violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
