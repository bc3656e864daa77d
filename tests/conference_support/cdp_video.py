#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Join a video room with N participants in one headless Chromium.

Runs on the test client (Debian's chromium and python3-websocket; nothing from
PyPI). It starts ONE Chromium with a fake camera and microphone (real
certificate checking: the internal CA must be in the NSS database of $HOME),
opens each participant in its own browser context at the video page with its
credentials in the URL fragment, waits until every page has joined (or ended)
and receives the others, reads each page's WebRTC statistics twice, --seconds
apart, and prints one JSON object:

    {"ok", "url", "seconds", "failures", "error", "screenshot",
     "participants": [{"display", "guest", "denied", "state", "error", "room",
        "expect_refused", "joined",
        "timings": {"startedAt", "joinedAt", "firstRemoteFrameAt",   # performance.now()
                    "first_frame_after_start_ms"},
        "participants": [the others' display names, as the page lists them],
        "remotes": [{"feed", "display", "video_frames_decoded", "audio_packets_received",
                     "audio_samples_received", "bytes_received"}],  # deltas
        "video_remotes_decoding", "audio_remotes_receiving",
        "ice": [{"pc", "local", "remote", "remote_address", "protocol", "state",
                 "dtls", "srtp"}],  # selected pair and its transport, per PC
        "audio_blocked", "csp_violations", "console_errors"}]}

Exit status 0 when every participant that should join did, decoded video from
every other one with a camera and received audio (packets and samples) from
every other one with a microphone, every participant expected to be refused
ended in the state 'refused', and no page saw a Content Security Policy
violation; 1 otherwise.

The credentials never appear on the command line: --input names a JSON file
('-' for standard input):

    {"url": "https://chat.example/video/",              (or --url)
     "participants": [
        {"display": "Anna", "fragment_json": {"room": ..., "server": ..., "token": ...,
                                               "room_token": ..., "expires": ..., "ice": [...]}},
        {"display": "Bernat", "fragment_json": "<the same as a JSON string>",
         "expect_refused": true},
        {"display": "Carla", "fragment_json": {...}, "deny": ["camera"]}],
     "invite": "https://chat.example/video/?invite=<code>"}   (optional: a guest)

fragment_json is what the chat's video button puts in the fragment (its display
is set to the participant's). With --expect-refused and no participant marked
expect_refused, the last one is expected to be refused. "deny" makes that
participant's page find the camera and/or the microphone refused, as when the
person says no (then the others need not receive that video or sound). A guest
joins through the invitation link (the input's "invite", or --invite URL, which
shows the code in the process list) under --guest-name. Chromium runs with
--autoplay-policy=no-user-gesture-required, so remote sound plays without a click.
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

import websocket

CSP_WATCH = (
    "window.__ttCsp = [];"
    "document.addEventListener('securitypolicyviolation', e => window.__ttCsp.push("
    "e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' + e.sourceFile));"
)
CSP_WORDS = ("Content Security Policy", "Content-Security-Policy")
TERMINAL = ("joined", "refused", "error", "left")
DEVICES = ("camera", "microphone")
# What a browser does when the person refuses a device: getUserMedia rejects any
# request for it with NotAllowedError. (Chromium's fake media UI accepts every
# prompt and overrides Browser.setPermission, so the page's own call is wrapped.)
DENY_DEVICES = """(() => {
    const denied = DENIED;
    const devices = navigator.mediaDevices;
    if (!devices || !devices.getUserMedia) return;
    const real = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) => {
        const c = constraints || {};
        if ((c.video && denied.includes('camera')) || (c.audio && denied.includes('microphone'))) {
            return Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
        }
        return real(constraints);
    };
})();"""

STATE = """(() => {
    const v = window.teletreballVideo;
    if (!v) return {state: 'loading'};
    return {state: v.state, error: v.error, others: v.participants().filter(p => !p.self).length,
            receiving: v.streams().filter(s => !s.self && s.trackId).length};
})()"""

# Fills the guest's name and submits the form.
GUEST_JOIN = """(name) => {
    const input = document.querySelector('#guest-name');
    if (!input || input.closest('[hidden]')) return false;
    input.value = name;
    input.dispatchEvent(new Event('input', {bubbles: true}));
    document.querySelector('#guest-form').requestSubmit();
    return true;
}"""

# One sample of the page's state and WebRTC statistics: per PeerConnection the
# selected candidate pair, per inbound RTP stream what it counts, mapped to the
# remote participant by its mid (else its track) in the page's streams().
SAMPLE = """(async () => {
    const v = window.teletreballVideo;
    const out = {state: 'loading', error: 'no window.teletreballVideo', room: null,
                 startedAt: null, joinedAt: null, firstRemoteFrameAt: null, audioBlocked: null,
                 participants: [], inbound: [], ice: [], csp: window.__ttCsp || []};
    if (!v) return out;
    Object.assign(out, {state: v.state, error: v.error, room: v.room, startedAt: v.startedAt,
                        joinedAt: v.joinedAt, firstRemoteFrameAt: v.firstRemoteFrameAt,
                        audioBlocked: v.audioBlocked, participants: v.participants()});
    const streams = v.streams();
    const byMid = new Map(streams.map(s => [s.mid, s]));
    const byTrack = new Map(streams.filter(s => s.trackId).map(s => [s.trackId, s]));
    const pcs = v.peerConnections();
    for (let i = 0; i < pcs.length; i++) {
        const stats = new Map();
        (await pcs[i].getStats()).forEach(s => stats.set(s.id, s));
        let pair = null;
        let transport = null;
        for (const s of stats.values()) {
            if (s.type === 'transport' && s.selectedCandidatePairId) {
                pair = stats.get(s.selectedCandidatePairId);
                transport = s;
            }
        }
        for (const s of stats.values()) {
            const chosen = s.selected || (s.nominated && s.state === 'succeeded');
            if (!pair && s.type === 'candidate-pair' && chosen) pair = s;
        }
        if (pair) {
            const local = stats.get(pair.localCandidateId);
            const remote = stats.get(pair.remoteCandidateId);
            out.ice.push({pc: i, state: pair.state, local: local ? local.candidateType : null,
                          remote: remote ? remote.candidateType : null,
                          remote_address: remote ? (remote.address || remote.ip || null) : null,
                          protocol: local ? local.protocol : null,
                          dtls: transport ? transport.dtlsState || null : null,
                          srtp: transport ? transport.srtpCipher || null : null});
        }
        for (const s of stats.values()) {
            if (s.type !== 'inbound-rtp') continue;
            const stream = (s.mid !== undefined && byMid.get(s.mid))
                || byTrack.get(s.trackIdentifier) || null;
            out.inbound.push({
                pc: i, kind: s.kind || s.mediaType, mid: s.mid === undefined ? null : s.mid,
                trackIdentifier: s.trackIdentifier || null,
                feed: stream ? stream.feed : null, display: stream ? stream.display : null,
                self: stream ? stream.self : false,
                framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0,
                bytesReceived: s.bytesReceived || 0,
                totalSamplesReceived: s.totalSamplesReceived === undefined
                    ? null : s.totalSamplesReceived});
        }
    }
    return out;
})()"""


class Browser:
    """One Chromium, spoken to over its browser-level DevTools websocket (flat sessions)."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.logs = {}  # session id -> list of console entries

    def call(self, method, session=None, timeout=60, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.time() + timeout
        while True:
            self.ws.settimeout(max(1, deadline - time.time()))
            incoming = json.loads(self.ws.recv())
            if incoming.get("id") == self.next_id:
                if "error" in incoming:
                    raise RuntimeError(f"{method}: {incoming['error']}")
                return incoming.get("result", {})
            self._event(incoming)
            if time.time() > deadline:
                raise RuntimeError(f"{method}: no answer within {timeout} s")

    def _event(self, message):
        log = self.logs.get(message.get("sessionId"))
        if log is None:
            return
        method = message.get("method")
        params = message.get("params", {})
        if method == "Log.entryAdded":
            entry = params.get("entry", {})
            log.append({"level": entry.get("level"), "text": entry.get("text", "")})
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            text = " ".join(
                str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])
            )
            log.append({"level": params.get("type"), "text": text})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            log.append({"level": "error", "text": text})

    def evaluate(self, session, expression, timeout=60):
        result = self.call(
            "Runtime.evaluate",
            session=session,
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluate {expression[:60]!r}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def open_page(self, url, deny=()):
        """A page in a new browser context (its own cookies, storage and permissions)."""
        context = self.call("Target.createBrowserContext", disposeOnDetach=True)["browserContextId"]
        target = self.call("Target.createTarget", url="about:blank", browserContextId=context)[
            "targetId"
        ]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.logs[session] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Page.addScriptToEvaluateOnNewDocument", session=session, source=CSP_WATCH)
        if deny:
            self.call(
                "Page.addScriptToEvaluateOnNewDocument",
                session=session,
                source=DENY_DEVICES.replace("DENIED", json.dumps(list(deny))),
            )
        navigation = self.call("Page.navigate", session=session, url=url)
        if navigation.get("errorText"):
            raise RuntimeError(f"opening the page: {navigation['errorText']}")
        return context, session


def start_chromium(profile, size, binary):
    command = [
        binary or shutil.which("chromium") or "/usr/bin/chromium",
        "--headless=new",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        # Remote sound plays without a click (the page offers a button otherwise).
        "--autoplay-policy=no-user-gesture-required",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={size}",
        "about:blank",
    ]
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while time.time() < deadline:
        if browser.poll() is not None:
            raise RuntimeError(f"Chromium exited with status {browser.returncode}")
        try:
            with open(port_file, encoding="ascii") as handle:
                lines = handle.read().split()
            if len(lines) >= 2:
                return browser, f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        except OSError:
            pass
        time.sleep(0.3)
    browser.kill()
    raise RuntimeError("Chromium did not open its DevTools port within 60 s")


def fragment_url(url, fragment_json, display):
    data = json.loads(fragment_json) if isinstance(fragment_json, str) else dict(fragment_json)
    if display is not None:
        data["display"] = display
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    encoded = base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")
    return url.split("#", 1)[0] + "#" + encoded


def read_input(path):
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def deltas(first, second):
    """Per remote participant: what grew between the two samples (own feed left out)."""
    before = {(s["pc"], s["kind"], s["mid"], s["trackIdentifier"]): s for s in first["inbound"]}
    remotes = {}
    for stat in second["inbound"]:
        if stat["self"]:
            continue
        old = before.get((stat["pc"], stat["kind"], stat["mid"], stat["trackIdentifier"])) or {}
        key = stat["feed"] or f"mid {stat['mid']}"
        remote = remotes.setdefault(
            key,
            {
                "feed": stat["feed"],
                "display": stat["display"],
                "video_frames_decoded": 0,
                "audio_packets_received": 0,
                "audio_samples_received": None,
                "bytes_received": 0,
            },
        )
        remote["bytes_received"] += stat.get("bytesReceived", 0) - old.get("bytesReceived", 0)
        if stat["kind"] == "video":
            remote["video_frames_decoded"] += stat["framesDecoded"] - old.get("framesDecoded", 0)
        elif stat["kind"] == "audio":
            remote["audio_packets_received"] += stat["packetsReceived"] - old.get(
                "packetsReceived", 0
            )
            if stat["totalSamplesReceived"] is not None:
                grown = stat["totalSamplesReceived"] - (old.get("totalSamplesReceived") or 0)
                remote["audio_samples_received"] = (remote["audio_samples_received"] or 0) + grown
    return sorted(remotes.values(), key=lambda r: (r["display"] or "", r["feed"] or ""))


def people_of(args, data, url):
    """The participants: those of the input, then the guest of the invitation, if any."""
    people = []
    for item in data.get("participants") or []:
        people.append(
            {
                "display": item.get("display"),
                "guest": False,
                "expect_refused": bool(item.get("expect_refused")),
                "deny": [d for d in item.get("deny") or [] if d in DEVICES],
                "url": fragment_url(url, item["fragment_json"], item.get("display")),
            }
        )
    invite = data.get("invite") or args.invite
    if invite:
        people.append(
            {
                "display": args.guest_name,
                "guest": True,
                "expect_refused": False,
                "deny": [],
                "url": invite,
            }
        )
    if args.expect_refused and people and not any(p["expect_refused"] for p in people):
        people[-1]["expect_refused"] = True
    for index, person in enumerate(people):
        person["index"] = index
        person["name"] = person["display"] or f"participant {index + 1}"
    return people


def describe(person, one, two, log):
    """The report of one participant from its two samples and its console."""
    remotes = deltas(one, two)
    started, first_frame = two["startedAt"], two["firstRemoteFrameAt"]
    after = None
    if first_frame is not None and started is not None:
        after = round(first_frame - started)
    return {
        "display": person["display"],
        "guest": person["guest"],
        "denied": person["deny"],
        "state": two["state"],
        "error": two["error"],
        "room": two["room"],
        "expect_refused": person["expect_refused"],
        "joined": two["state"] == "joined",
        "timings": {
            "startedAt": started,
            "joinedAt": two["joinedAt"],
            "firstRemoteFrameAt": first_frame,
            "first_frame_after_start_ms": after,
        },
        "participants": [p["display"] for p in two["participants"] if not p.get("self")],
        "remotes": remotes,
        "video_remotes_decoding": sum(1 for r in remotes if r["video_frames_decoded"] > 0),
        "audio_remotes_receiving": sum(
            1
            for r in remotes
            if r["audio_packets_received"] > 0
            and (r["audio_samples_received"] is None or r["audio_samples_received"] > 0)
        ),
        "ice": two["ice"],
        "audio_blocked": two["audioBlocked"],
        "csp_violations": list(two["csp"])
        + [e["text"] for e in log if any(w in e["text"] for w in CSP_WORDS)],
        "console_errors": [e["text"] for e in log if e["level"] == "error"],
    }


def run(args, data):
    url = args.url or data.get("url")
    if not url:
        raise SystemExit('cdp_video.py: no page URL (--url or the input\'s "url")')
    people = people_of(args, data, url)
    report = {
        "ok": False,
        "url": url.split("#", 1)[0],
        "seconds": args.seconds,
        "failures": [],
        "error": None,
        "screenshot": None,
        "participants": [],
    }
    if not people:
        report["error"] = "no participants in the input"
        report["failures"].append(report["error"])
        return report
    joining = [p for p in people if not p["expect_refused"]]
    cameras = sum(1 for p in joining if "camera" not in p["deny"])
    microphones = sum(1 for p in joining if "microphone" not in p["deny"])

    def expected_video(person):
        return cameras - (0 if "camera" in person["deny"] else 1)

    def expected_audio(person):
        return microphones - (0 if "microphone" in person["deny"] else 1)

    def ready(state, person):
        """Settled, and when joined, receiving every other participant's streams."""
        if state.get("state") not in TERMINAL:
            return False
        if person["expect_refused"] or state.get("state") != "joined":
            return True
        return state.get("others", 0) >= len(joining) - 1 and state.get(
            "receiving", 0
        ) >= expected_video(person) + expected_audio(person)

    profile = tempfile.mkdtemp(prefix="tt-chromium-video-")
    process = browser = None
    try:
        process, ws_url = start_chromium(profile, args.window_size, args.chromium)
        browser = Browser(ws_url)
        for person in people:
            if person["index"] and args.stagger:
                time.sleep(args.stagger)
            person["context"], person["session"] = browser.open_page(person["url"], person["deny"])
            if person["guest"]:
                join = f"({GUEST_JOIN})({json.dumps(args.guest_name)})"
                deadline = time.time() + args.timeout
                while not browser.evaluate(person["session"], join):
                    if time.time() > deadline:
                        raise RuntimeError("the guest's name form did not appear")
                    time.sleep(0.5)

        deadline = time.time() + args.timeout
        while time.time() < deadline:
            if all(ready(browser.evaluate(p["session"], STATE), p) for p in people):
                break
            time.sleep(1)

        first = [browser.evaluate(p["session"], SAMPLE) for p in people]
        time.sleep(args.seconds)
        second = [browser.evaluate(p["session"], SAMPLE) for p in people]
        if args.screenshot:
            shot = browser.call(
                "Page.captureScreenshot", session=people[0]["session"], format="png"
            )
            with open(args.screenshot, "wb") as image:
                image.write(base64.b64decode(shot["data"]))
            report["screenshot"] = args.screenshot

        for person in people:
            one, two = first[person["index"]], second[person["index"]]
            entry = describe(person, one, two, browser.logs.get(person["session"], []))
            report["participants"].append(entry)
            name, failures = person["name"], report["failures"]
            if person["expect_refused"]:
                if entry["state"] != "refused":
                    failures.append(f"{name}: state {entry['state']}, expected refused")
            else:
                if entry["state"] != "joined":
                    failures.append(f"{name}: state {entry['state']} ({entry['error']})")
                if entry["video_remotes_decoding"] < expected_video(person):
                    failures.append(
                        f"{name}: decoded video from {entry['video_remotes_decoding']}"
                        f" of {expected_video(person)} others with a camera"
                    )
                if entry["audio_remotes_receiving"] < expected_audio(person):
                    failures.append(
                        f"{name}: received audio from"
                        f" {entry['audio_remotes_receiving']} of"
                        f" {expected_audio(person)} others with a microphone"
                    )
            if entry["csp_violations"]:
                failures.append(f"{name}: {len(entry['csp_violations'])} CSP violation(s)")
        report["ok"] = not report["failures"]
    except (RuntimeError, OSError, KeyError, ValueError, websocket.WebSocketException) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["failures"].append(report["error"])
    finally:
        if browser is not None:
            for person in people:
                if person.get("context"):
                    try:
                        browser.call(
                            "Target.disposeBrowserContext",
                            timeout=15,
                            browserContextId=person["context"],
                        )
                    except (RuntimeError, OSError, websocket.WebSocketException):
                        pass
            browser.ws.close()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(profile, ignore_errors=True)
    return report


def common_arguments(description):
    """The command line both drivers share (this one and bidi_video.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--input",
        required=True,
        help="JSON file with the participants' credentials ('-': standard input)",
    )
    parser.add_argument("--url", help="the video page, e.g. https://chat.example/video/")
    parser.add_argument("--seconds", type=float, default=5, help="time between the two samples")
    parser.add_argument("--timeout", type=float, default=90, help="time allowed for joining")
    parser.add_argument("--screenshot", help="PNG of participant 1 after the sampling")
    parser.add_argument(
        "--expect-refused",
        action="store_true",
        help="a participant (marked expect_refused, else the last) must be refused",
    )
    parser.add_argument("--guest-name", default="Convidat de prova")
    return parser


def finish(args, run_with):
    """Run, print the one JSON report, and give the exit status."""
    report = run_with(args, read_input(args.input))
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["ok"] else 1


def main():
    parser = common_arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--stagger",
        type=float,
        default=0,
        help="seconds between opening one participant and the next",
    )
    parser.add_argument(
        "--invite",
        help="invitation URL for a guest (the input's"
        ' "invite" keeps the code off the command line)',
    )
    parser.add_argument("--window-size", default="960,540")
    parser.add_argument("--chromium", help="the browser binary (default: chromium on PATH)")
    return finish(parser.parse_args(), run)


if __name__ == "__main__":
    sys.exit(main())
