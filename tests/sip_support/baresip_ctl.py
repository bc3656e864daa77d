#!/usr/bin/env python3
"""Drive a headless baresip through its ctrl_tcp module (test agents).

Runs inside a client container with the system python3 (standard library only).

baresip's ctrl_tcp accepts a single connection: a new one closes the previous
one, and the events (call established, closed...) are only sent to the
connection that is open when they happen. So one long-running ``daemon`` holds
the connection, appends every event to a JSON-lines file (with the time it
arrived) and serves the other subcommands over a Unix socket. Run it next to
baresip, e.g. as a systemd transient unit::

    systemd-run --unit tt-baresip-ctl python3 baresip_ctl.py daemon

With ``--instance NAME`` (an instance made by agents.yml) the control port,
socket and event file follow from the name. Subcommands (all print one JSON
document on stdout; exit status 1 on failure or timeout):

    daemon                    hold ctrl_tcp, record events, serve the socket
    now                       the container's clock, for --since: {"now": EPOCH}
    registered [--count N --timeout S]
                              the accounts and their registration; with --count,
                              wait until at least N are registered
    dial [--from AOR] URI     call from an account (default: the first whose
                              domain matches): {"ok", "call_id", "aor"}
    hangup [CALL_ID]          hang up that call (default: the current one)
    hangupall                 hang up every call
    calls                     the calls in progress, with RTP counters
    stats [--since EPOCH]     every call seen in the events: account, peer,
                              established/closed times, SRTP suite, packets
                              sent and received (last RTCP report), how many
                              RTCP reports arrived, media_both_ways
    events [filters]          the recorded events
    wait [filters] [--count N] [--timeout S]
                              wait until N matching events are recorded
    command CMD [PARAMS]      any baresip command (``command help`` lists them)

Filters: --type CALL_ESTABLISHED (repeatable), --aor agent1@, --call-id ID,
--since EPOCH. RTP counters come from the CALL_RTCP events baresip sends when
an RTCP report arrives (Asterisk sends the first 5 s after its first RTP packet
of the call, then every 5 s): a call shorter than that shows 0 packets both ways
and ``rtcp_reports`` 0 even when its audio flowed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time

CTRL_DEFAULT = "127.0.0.1:4444"
SOCKET_DEFAULT = "/run/baresip-ctl.sock"
EVENTS_DEFAULT = "/var/log/baresip-events.jsonl"
INSTANCES = "/var/lib/teletreball-baresip"
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# --- netstring JSON over ctrl_tcp ------------------------------------------------------------

def netstring(payload: dict) -> bytes:
    data = json.dumps(payload).encode()
    return str(len(data)).encode() + b":" + data + b","


class NetstringReader:
    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[dict]:
        self.buffer += data
        messages = []
        while True:
            colon = self.buffer.find(b":")
            if colon < 0:
                break
            length = int(self.buffer[:colon])
            end = colon + 1 + length
            if len(self.buffer) < end + 1:
                break
            messages.append(json.loads(self.buffer[colon + 1:end]))
            self.buffer = self.buffer[end + 1:]
        return messages


# --- the daemon ------------------------------------------------------------------------------

class Daemon:
    """One ctrl_tcp connection; commands in order; events to a file."""

    def __init__(self, ctrl: str, events_path: str) -> None:
        host, port = ctrl.rsplit(":", 1)
        self.address = (host, int(port))
        self.events_path = events_path
        self.sock: socket.socket | None = None
        self.command_lock = threading.Lock()
        self.cond = threading.Condition()
        self.responses: dict[str, dict] = {}
        self.token = 0

    def connect_forever(self) -> None:
        while True:
            try:
                sock = socket.create_connection(self.address, timeout=5)
            except OSError:
                time.sleep(0.5)
                continue
            sock.settimeout(None)
            with self.cond:
                self.sock = sock
                self.cond.notify_all()
            self.read_loop(sock)
            with self.cond:
                self.sock = None
            time.sleep(0.5)

    def read_loop(self, sock: socket.socket) -> None:
        reader = NetstringReader()
        with open(self.events_path, "a", encoding="utf-8") as events:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for message in reader.feed(data):
                    if message.get("event"):
                        message["ts"] = time.time()
                        events.write(json.dumps(message) + "\n")
                        events.flush()
                    elif message.get("response"):
                        with self.cond:
                            self.responses[str(message.get("token"))] = message
                            self.cond.notify_all()

    def command(self, command: str, params: str | None, timeout: float = 10) -> dict:
        with self.cond:
            self.token += 1
            token = f"t{self.token}"
            deadline = time.monotonic() + timeout
            while self.sock is None:
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    return {"ok": False, "data": "baresip ctrl_tcp not connected"}
            request = {"command": command, "token": token}
            if params:
                request["params"] = params
            self.sock.sendall(netstring(request))
            while token not in self.responses:
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    return {"ok": False, "data": f"no response to {command}"}
            return self.responses.pop(token)

    def batch(self, commands: list[dict]) -> list[dict]:
        """Run commands back to back (uafind then dial must not interleave)."""
        with self.command_lock:
            return [self.command(c["command"], c.get("params")) for c in commands]


def run_daemon(args) -> int:
    daemon = Daemon(args.ctrl, args.events)
    threading.Thread(target=daemon.connect_forever, daemon=True).start()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request = json.loads(self.rfile.readline())
            answers = daemon.batch(request["batch"])
            self.wfile.write(json.dumps(answers).encode() + b"\n")

    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.socket)
    server = socketserver.ThreadingUnixStreamServer(args.socket, Handler)
    os.chmod(args.socket, 0o600)
    server.serve_forever()
    return 0


# --- the client side -------------------------------------------------------------------------

def batch(args, *commands: tuple[str, str | None]) -> list[dict]:
    payload = {"batch": [{"command": c, "params": p} for c, p in commands]}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(args.socket)
        sock.sendall(json.dumps(payload).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    answers = json.loads(reply)
    for answer in answers:
        answer["data"] = ANSI.sub("", answer.get("data") or "")
    return answers


def accounts(args) -> list[dict]:
    """reginfo lines: '0 - sip:agent1@pbx.example   OK  pbx Expires 3833s'."""
    found = []
    for line in batch(args, ("reginfo", None))[0]["data"].splitlines():
        match = re.match(r"\s*>?\s*(\d+)\s+-\s+(sips?:\S+)\s*(.*)$", line)
        if match:
            status = match.group(3).strip()
            found.append({"index": int(match.group(1)), "aor": match.group(2),
                          "registered": status.startswith("OK"), "status": status})
    return found


def parse_calls(text: str) -> list[dict]:
    """listcalls: 'User-Agent: agent1@pbx' then '> [line 1, id X]  0:00:04  ESTABLISHED  peer'."""
    calls, aor = [], None
    for line in text.splitlines():
        if line.startswith("User-Agent:"):
            aor = line.split(":", 1)[1].strip()
            aor = aor if aor.startswith("sip") else f"sip:{aor}"
            continue
        match = re.search(r"\[line (\d+), id ([^\]]+)\]\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if match:
            calls.append({"aor": aor, "line": int(match.group(1)), "id": match.group(2),
                          "duration": match.group(3), "state": match.group(4),
                          "peer": match.group(5)})
    return calls


def read_events(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def matching(events: list[dict], args) -> list[dict]:
    selected = []
    for event in events:
        if args.type and event.get("type") not in args.type:
            continue
        if args.since and event.get("ts", 0) < args.since:
            continue
        if args.aor and args.aor not in (event.get("accountaor") or ""):
            continue
        if args.call_id and event.get("id") != args.call_id:
            continue
        selected.append(event)
    return selected


def call_summaries(events: list[dict], since: float = 0.0) -> dict[str, dict]:
    """Per call ID: what the events tell (RTP from the last RTCP report)."""
    calls: dict[str, dict] = {}
    for event in events:
        call_id = event.get("id")
        if not call_id or event.get("ts", 0) < since:
            continue
        call = calls.setdefault(call_id, {
            "id": call_id, "aor": event.get("accountaor"), "direction": event.get("direction"),
            "peer": event.get("peeruri"), "established_at": None, "closed_at": None,
            "close_reason": None, "srtp": None, "tx_packets": 0, "rx_packets": 0,
            "rx_lost": 0, "rtt_ms": None, "rtcp_reports": 0})
        kind = event.get("type")
        if kind == "CALL_ESTABLISHED":
            call["established_at"] = event["ts"]
        elif kind == "CALL_CLOSED":
            call["closed_at"] = event["ts"]
            call["close_reason"] = event.get("param")
        elif kind == "CALL_MENC":
            call["srtp"] = (event.get("param") or "").split(",")[-1] or None
        elif kind == "CALL_RTCP" and "rtcp_stats" in event:
            stats = event["rtcp_stats"]
            call["rtcp_reports"] += 1
            # Counters only grow; a report without a sender part reads 0:
            # keep the highest value seen.
            call["tx_packets"] = max(call["tx_packets"], stats.get("tx", {}).get("sent", 0))
            call["rx_packets"] = max(call["rx_packets"], stats.get("rx", {}).get("sent", 0))
            call["rx_lost"] = max(call.get("rx_lost") or 0, stats.get("rx", {}).get("lost", 0))
            call["rtt_ms"] = round(stats.get("rtt", 0) / 1000, 1)
    for call in calls.values():
        call["media_both_ways"] = call["tx_packets"] > 0 and call["rx_packets"] > 0
    return calls


def apply_instance(args) -> None:
    """agents.yml's layout: config in INSTANCES/<name>, socket and events named after it."""
    config = os.path.join(INSTANCES, args.instance, "config")
    with open(config, encoding="utf-8") as handle:
        for line in handle:
            words = line.split()
            if len(words) >= 2 and words[0] == "ctrl_tcp_listen":
                args.ctrl = words[1]
    args.socket = f"/run/baresip-ctl-{args.instance}.sock"
    args.events = f"/var/log/baresip-{args.instance}-events.jsonl"


def emit(document: dict, ok: bool = True) -> int:
    print(json.dumps(document))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instance", help="an instance made by agents.yml: sets the three below")
    parser.add_argument("--ctrl", default=CTRL_DEFAULT, help="baresip ctrl_tcp host:port")
    parser.add_argument("--socket", default=SOCKET_DEFAULT, help="the daemon's Unix socket")
    parser.add_argument("--events", default=EVENTS_DEFAULT, help="the recorded events (JSONL)")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("daemon")
    sub.add_parser("now")
    registered = sub.add_parser("registered")
    registered.add_argument("--count", type=int, default=0)
    registered.add_argument("--timeout", type=float, default=30.0)
    dial = sub.add_parser("dial")
    dial.add_argument("--from", dest="from_aor", help="the account, e.g. sip:agent1@pbx.example")
    dial.add_argument("uri")
    hangup = sub.add_parser("hangup")
    hangup.add_argument("call_id", nargs="?")
    sub.add_parser("hangupall")
    sub.add_parser("calls")
    stats = sub.add_parser("stats")
    stats.add_argument("--since", type=float, default=0.0)
    for name in ("events", "wait"):
        sp = sub.add_parser(name)
        sp.add_argument("--type", action="append", help="event type, e.g. CALL_ESTABLISHED")
        sp.add_argument("--aor", help="part of the account's AOR")
        sp.add_argument("--call-id")
        sp.add_argument("--since", type=float, default=0.0, help="epoch seconds (see `now`)")
        if name == "wait":
            sp.add_argument("--count", type=int, default=1)
            sp.add_argument("--timeout", type=float, default=30.0)
    raw = sub.add_parser("command")
    raw.add_argument("cmd")
    raw.add_argument("params", nargs="?")
    args = parser.parse_args(argv)
    if args.instance:
        apply_instance(args)

    if args.action == "daemon":
        return run_daemon(args)
    if args.action == "now":
        return emit({"now": time.time()})
    if args.action in ("events", "wait"):
        deadline = time.monotonic() + getattr(args, "timeout", 0)
        while True:
            found = matching(read_events(args.events), args)
            done = args.action == "events" or len(found) >= args.count
            if done or time.monotonic() > deadline:
                return emit({"ok": done, "count": len(found), "events": found}, done)
            time.sleep(0.2)
    if args.action == "registered":
        deadline = time.monotonic() + args.timeout
        while True:
            found = accounts(args)
            names = [a["aor"] for a in found if a["registered"]]
            done = len(names) >= args.count
            if done or time.monotonic() > deadline:
                return emit({"ok": done, "count": len(names), "registered": names,
                             "accounts": found}, done)
            time.sleep(0.5)
    if args.action == "dial":
        params = args.uri
        if args.from_aor:
            index = [a["index"] for a in accounts(args) if a["aor"] == args.from_aor]
            if not index:
                return emit({"ok": False, "data": f"no account {args.from_aor}"}, False)
            params = f"{args.uri} {index[0]}"
        answer = batch(args, ("dial", params))[0]
        match = re.search(r"call id: (\S+)", answer["data"])
        return emit({"ok": answer["ok"], "call_id": match.group(1) if match else None,
                     "aor": args.from_aor, "data": answer["data"]}, answer["ok"])
    if args.action == "hangup":
        answer = batch(args, ("hangup", args.call_id))[0]
        return emit({"ok": answer["ok"], "data": answer["data"]}, answer["ok"])
    if args.action == "hangupall":
        answer = batch(args, ("hangupall", "all"))[0]
        return emit({"ok": answer["ok"], "data": answer["data"]}, answer["ok"])
    if args.action == "calls":
        answer = batch(args, ("listcalls", None))[0]
        seen = call_summaries(read_events(args.events))
        calls = parse_calls(answer["data"])
        for call in calls:
            call["rtp"] = {k: seen.get(call["id"], {}).get(k, 0)
                           for k in ("tx_packets", "rx_packets", "rx_lost")}
        return emit({"ok": answer["ok"], "count": len(calls), "calls": calls}, answer["ok"])
    if args.action == "stats":
        calls = list(call_summaries(read_events(args.events), args.since).values())
        return emit({"count": len(calls),
                     "media_both_ways": sum(1 for c in calls if c["media_both_ways"]),
                     "calls": calls})
    if args.action == "command":
        answer = batch(args, (args.cmd, args.params))[0]
        return emit(answer, answer["ok"])
    return 2


if __name__ == "__main__":
    sys.exit(main())
