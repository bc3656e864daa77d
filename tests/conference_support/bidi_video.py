#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Join a video room with N participants in one headless Firefox ESR (WebDriver BiDi).

The council's desktops run Firefox ESR, which speaks WebDriver BiDi, not the
DevTools protocol: this is cdp_video.py for Firefox. Runs on the test client
(Debian's firefox-esr and python3-websocket; nothing from PyPI) and imports
cdp_video.py from its own folder: the same input, the same page JavaScript,
the same report per participant and the same verdict.

It starts ONE Firefox (--headless, --remote-debugging-port=0: Firefox picks a
free port, writes it to WebDriverBiDiServer.json in the profile and logs it)
on a new profile whose user.js gives a fake camera and microphone without
prompts, lets pages play sound without a click, skips the first-run pages and
makes no telemetry, update or safe-browsing calls. Certificates are checked for real
against the system's CA store (/etc/ssl/certs, where the council's CA is): the
profile's pkcs11.txt loads p11-kit's trust module (package p11-kit-modules) into
Firefox's NSS, as Firefox on Linux does not read that store by itself (the
pref security.enterprise_roots.enabled has no effect there). Each participant
gets its own user context (cookies and storage) and window, is sent to the page
with its credentials in the URL fragment, and once every page has joined (or
ended) and receives the others, each page's WebRTC statistics are read twice,
--seconds apart. It prints one JSON object:

    {"ok", "url", "seconds", "browser": "Firefox <version>", "ca_trust",
     "failures", "error", "screenshot",
     "participants": [{"display", "state", "error", "video_remotes_decoding",
        "audio_remotes_receiving", "remotes", "ice", ... as cdp_video.py}]}

(ca_trust: the PKCS #11 module loaded for the system's CAs, null without one).
Exit status 0 when every participant that should join did, decoded video from
every other one with a camera and received audio from every other one with a
microphone, every participant expected to be refused was, and no page saw a
Content Security Policy violation; 1 otherwise. With --others N, N more people
who joined the room elsewhere (say, cdp_video.py's Chromium) count among the
others whom every participant must see and hear, and are waited for.

The credentials never appear on the command line: --input names a JSON file
('-' for standard input), as for cdp_video.py:

    {"url": "https://chat.example/video/",              (or --url)
     "participants": [{"display": "Anna", "fragment_json": {...}},
                      {"display": "Bernat", "fragment_json": "...", "deny": ["camera"]}],
     "invite": "https://chat.example/video/?invite=<code>"}   (optional: a guest)
"""

from __future__ import annotations

import base64
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import websocket
from cdp_video import (
    CSP_WATCH,
    DENY_DEVICES,
    GUEST_JOIN,
    SAMPLE,
    STATE,
    TERMINAL,
    common_arguments,
    describe,
    finish,
    people_of,
)

# p11-kit's trust module: the system's CAs (/etc/ssl/certs) as NSS trust objects.
P11_KIT_TRUST = "/usr/lib/*/pkcs11/p11-kit-trust.so"

PREFS = {
    # A fake camera and microphone (a coloured picture, a tone), granted without asking.
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    # Remote sound plays without a click (the page offers a button otherwise).
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    "media.autoplay.block-webaudio": False,
    # No first-run, welcome or what's-new pages, no session restore, no dialogs.
    "browser.aboutwelcome.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "trailhead.firstrun.didSeeAboutWelcome": True,
    "browser.newtabpage.enabled": False,
    "browser.sessionstore.resume_from_crash": False,
    "browser.tabs.warnOnClose": False,
    "browser.warnOnQuit": False,
    "toolkit.startup.max_resumed_crashes": -1,
    # No calls home: telemetry, studies, updates, remote settings, safe browsing,
    # captive portal and connectivity checks, plugin (OpenH264) downloads, push.
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.usage.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.server": "",
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "app.update.auto": False,
    "app.update.disabledForTesting": True,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "services.settings.server": "data:,#remote-settings-off/v1",
    "security.remote_settings.intermediates.enabled": False,
    "security.remote_settings.crlite_filters.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "",
    "browser.search.update": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "geo.provider.network.url": "",
    "browser.topsites.contile.enabled": False,
    "browser.newtabpage.activity-stream.feeds.system.topstories": False,
    "browser.newtabpage.activity-stream.feeds.telemetry": False,
    "browser.ping-centre.telemetry": False,
    "dom.push.connection.enabled": False,
    "browser.translations.enable": False,
    "browser.ml.enable": False,
    "security.certerrors.mitm.priming.enabled": False,
}


class Browser:
    """One Firefox, spoken to over WebDriver BiDi (one session, commands by id)."""

    def __init__(self, ws_url, timeout=60):
        self.ws = None
        deadline = time.time() + timeout
        while self.ws is None:
            try:
                self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
            except (OSError, websocket.WebSocketException):
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        self.next_id = 0
        self.logs = {}  # browsing context id -> list of console entries

    def call(self, method, params=None, timeout=60):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        deadline = time.time() + timeout
        while True:
            self.ws.settimeout(max(1, deadline - time.time()))
            incoming = json.loads(self.ws.recv())
            if incoming.get("type") == "event":
                self._event(incoming)
            elif incoming.get("id") == self.next_id:
                if incoming.get("type") == "error":
                    raise RuntimeError(
                        f"{method}: {incoming.get('error')}: {incoming.get('message', '')}"
                    )
                return incoming.get("result", {})
            if time.time() > deadline:
                raise RuntimeError(f"{method}: no answer within {timeout} s")

    def _event(self, message):
        if message.get("method") != "log.entryAdded":
            return
        params = message.get("params", {})
        log = self.logs.get((params.get("source") or {}).get("context"))
        if log is None:
            return
        level = {"warn": "warning"}.get(params.get("level"), params.get("level"))
        log.append({"level": level, "text": params.get("text") or ""})

    def evaluate(self, context, expression, timeout=60):
        """The value of a JavaScript expression in the page (JSON, awaited)."""
        result = self.call(
            "script.evaluate",
            {
                "expression": f"(async () => JSON.stringify(await ({expression})))()",
                "target": {"context": context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
            timeout=timeout,
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise RuntimeError(f"evaluate {expression[:60]!r}: {details.get('text', details)}")
        value = result.get("result", {})
        return json.loads(value["value"]) if value.get("type") == "string" else None

    def open_page(self, url, deny=()):
        """A page in a new user context (its own cookies and storage) and window."""
        user_context = self.call("browser.createUserContext")["userContext"]
        context = self.call(
            "browsingContext.create", {"type": "window", "userContext": user_context}
        )["context"]
        self.logs[context] = []
        scripts = [CSP_WATCH]
        if deny:
            scripts.append(DENY_DEVICES.replace("DENIED", json.dumps(list(deny))))
        for source in scripts:
            self.call(
                "script.addPreloadScript",
                {"functionDeclaration": f"() => {{ {source} }}", "contexts": [context]},
            )
        try:
            self.call(
                "browsingContext.navigate", {"context": context, "url": url, "wait": "complete"}
            )
        except RuntimeError as exc:
            raise RuntimeError(f"opening the page: {exc}") from None
        return user_context, context


def write_profile(profile):
    """user.js with PREFS, and pkcs11.txt with p11-kit's trust module; its path or None."""
    with open(os.path.join(profile, "user.js"), "w", encoding="utf-8") as handle:
        for name, value in PREFS.items():
            handle.write(f"user_pref({json.dumps(name)}, {json.dumps(value)});\n")
    modules = sorted(glob.glob(P11_KIT_TRUST))
    if not modules:
        return None
    # NSS adds its internal module itself; this one brings the system's CAs.
    with open(os.path.join(profile, "pkcs11.txt"), "w", encoding="utf-8") as handle:
        handle.write(f"library={modules[0]}\nname=p11-kit-trust\n\n")
    return modules[0]


def start_firefox(profile, binary):
    command = [
        binary or shutil.which("firefox-esr") or shutil.which("firefox") or "/usr/bin/firefox-esr",
        "--headless",
        "--remote-debugging-port=0",
        "--profile",
        profile,
        "--no-remote",
        "about:blank",
    ]
    environment = dict(os.environ, MOZ_CRASHREPORTER_DISABLE="1")
    log = open(os.path.join(profile, "firefox.log"), "wb")  # the child keeps its own copy
    try:
        browser = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
    finally:
        log.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        if browser.poll() is not None:
            raise RuntimeError(
                f"Firefox exited with status {browser.returncode}: {log_tail(profile)}"
            )
        port = bidi_port(profile)
        if port:
            return browser, f"ws://127.0.0.1:{port}/session"
        time.sleep(0.3)
    stop_firefox(browser)
    raise RuntimeError(
        f"Firefox did not open its WebDriver BiDi port within 60 s: {log_tail(profile)}"
    )


def bidi_port(profile):
    """The port Firefox chose: WebDriverBiDiServer.json in the profile, else its log line."""
    try:
        with open(os.path.join(profile, "WebDriverBiDiServer.json"), encoding="utf-8") as handle:
            return int(json.load(handle)["ws_port"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(os.path.join(profile, "firefox.log"), encoding="utf-8", errors="replace") as log:
            found = re.search(r"WebDriver BiDi listening on ws://[^\s:]+:(\d+)", log.read())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def log_tail(profile, lines=5):
    try:
        with open(os.path.join(profile, "firefox.log"), encoding="utf-8", errors="replace") as log:
            return " | ".join(log.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


def stop_firefox(process):
    """Firefox and its content processes (its own process group)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass


def expected(person, people, others):
    """How many others' video and audio the person should receive: those of the
    input that join with a camera (a microphone), plus `others` joined elsewhere."""
    joining = [p for p in people if not p["expect_refused"] and p is not person]
    video = sum(1 for p in joining if "camera" not in p["deny"]) + others
    audio = sum(1 for p in joining if "microphone" not in p["deny"]) + others
    return len(joining) + others, video, audio


def judge(people, report, others):
    """cdp_video.py's verdict: the failures, one line each."""
    failures = report["failures"]
    for person, entry in zip(people, report["participants"], strict=True):
        name = person["name"]
        if person["expect_refused"]:
            if entry["state"] != "refused":
                failures.append(f"{name}: state {entry['state']}, expected refused")
        else:
            _, video, audio = expected(person, people, others)
            if entry["state"] != "joined":
                failures.append(f"{name}: state {entry['state']} ({entry['error']})")
            if entry["video_remotes_decoding"] < video:
                failures.append(
                    f"{name}: decoded video from {entry['video_remotes_decoding']}"
                    f" of {video} others with a camera"
                )
            if entry["audio_remotes_receiving"] < audio:
                failures.append(
                    f"{name}: received audio from {entry['audio_remotes_receiving']}"
                    f" of {audio} others with a microphone"
                )
        if entry["csp_violations"]:
            failures.append(f"{name}: {len(entry['csp_violations'])} CSP violation(s)")


def ready(state, person, people, others):
    """Settled, and when joined, receiving every other participant's streams."""
    if state.get("state") not in TERMINAL:
        return False
    if person["expect_refused"] or state.get("state") != "joined":
        return True
    count, video, audio = expected(person, people, others)
    return state.get("others", 0) >= count and state.get("receiving", 0) >= video + audio


def run(args, data):
    url = args.url or data.get("url")
    if not url:
        raise SystemExit('bidi_video.py: no page URL (--url or the input\'s "url")')
    people = people_of(args, data, url)
    report = {
        "ok": False,
        "url": url.split("#", 1)[0],
        "seconds": args.seconds,
        "browser": None,
        "ca_trust": None,
        "failures": [],
        "error": None,
        "screenshot": None,
        "participants": [],
    }
    if not people:
        report["error"] = "no participants in the input"
        report["failures"].append(report["error"])
        return report

    profile = tempfile.mkdtemp(prefix="tt-firefox-video-")
    process = browser = None
    try:
        report["ca_trust"] = write_profile(profile)
        process, ws_url = start_firefox(profile, args.firefox)
        browser = Browser(ws_url)
        session = browser.call(
            "session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": False}}}
        )
        capabilities = session.get("capabilities", {})
        report["browser"] = f"Firefox {capabilities.get('browserVersion', '?')}"
        browser.call("session.subscribe", {"events": ["log.entryAdded"]})
        for person in people:
            person["user_context"], person["context"] = browser.open_page(
                person["url"], person["deny"]
            )
            if person["guest"]:
                join = f"({GUEST_JOIN})({json.dumps(args.guest_name)})"
                deadline = time.time() + args.timeout
                while not browser.evaluate(person["context"], join):
                    if time.time() > deadline:
                        raise RuntimeError("the guest's name form did not appear")
                    time.sleep(0.5)

        deadline = time.time() + args.timeout
        while time.time() < deadline:
            states = [browser.evaluate(p["context"], STATE) or {} for p in people]
            if all(ready(s, p, people, args.others) for s, p in zip(states, people, strict=True)):
                break
            time.sleep(1)

        first = [browser.evaluate(p["context"], SAMPLE) for p in people]
        time.sleep(args.seconds)
        second = [browser.evaluate(p["context"], SAMPLE) for p in people]
        if args.screenshot:
            shot = browser.call(
                "browsingContext.captureScreenshot", {"context": people[0]["context"]}
            )
            with open(args.screenshot, "wb") as image:
                image.write(base64.b64decode(shot["data"]))
            report["screenshot"] = args.screenshot

        for person in people:
            one, two = first[person["index"]], second[person["index"]]
            log = browser.logs.get(person["context"], [])
            report["participants"].append(describe(person, one, two, log))
        judge(people, report, args.others)
        report["ok"] = not report["failures"]
    except (RuntimeError, OSError, KeyError, ValueError, websocket.WebSocketException) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["failures"].append(report["error"])
    finally:
        if browser is not None:
            try:
                for person in people:
                    if person.get("user_context"):
                        browser.call(
                            "browser.removeUserContext",
                            {"userContext": person["user_context"]},
                            timeout=15,
                        )
                browser.call("browser.close", timeout=15)
            except (RuntimeError, OSError, websocket.WebSocketException):
                pass
            browser.ws.close()
        if process is not None:
            stop_firefox(process)
        shutil.rmtree(profile, ignore_errors=True)
    return report


def main():
    parser = common_arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--others",
        type=int,
        default=0,
        help="participants in the room from elsewhere (another browser) whose video and"
        " audio every participant must receive too",
    )
    parser.add_argument("--firefox", help="the browser binary (default: firefox-esr on PATH)")
    # An invitation comes only in the input (its code stays off the command line).
    parser.set_defaults(invite=None)
    return finish(parser.parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
