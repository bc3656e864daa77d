#!/usr/bin/env python3
"""Place calls from the carrier simulator to the PBX, and list the calls it received.

Runs inside the carrier container (installed there by carrier.yml) with the
system python3, standard library only. It speaks AMI to the carrier's own
Asterisk on 127.0.0.1; credentials and the trunk come from the JSON file
carrier.yml writes (``--config``).

    carrier_calls.py call --number 938000001 [--calls 50] [--duration 20]
                          [--interval-ms 20] [--answer-timeout 30]
                          [--dtmf 2 --dtmf-delay 4] [--caller-id 600100200]
    carrier_calls.py received [--number 600111222] [--since EPOCH]

``call`` originates the calls (``PJSIP/<number>@pbx``); each answered call runs
the carrier's ``carrier-out`` dialplan: optional DTMF digits after a delay,
then a tone for ``--duration`` seconds, then hangs up. At hangup the dialplan
reports the channel's RTCP counters in a UserEvent. Output (JSON): one entry
per call, with setup time (originate to answer, ms), answered or failed and why,
hangup cause, and RTP packets sent and received by the carrier; and a summary
with set-up time percentiles. Exit status 0 only if every call was answered
and had media both ways.

``received`` lists the calls the PBX sent to the carrier (follow-me to a
mobile, outbound calls), from the carrier's CDR (CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import socket
import sys
import time

CONFIG_DEFAULT = "/etc/asterisk/teletreball-carrier.json"
CDR_DEFAULT = "/var/log/asterisk/cdr-csv/Master.csv"
CDR_FIELDS = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
              "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
              "disposition", "amaflags", "uniqueid", "userfield"]
# Originate failure reasons (AMI OriginateResponse "Reason").
REASONS = {"0": "no such extension or number", "1": "no answer", "3": "ring timeout",
           "4": "answered", "5": "busy", "8": "congestion or unavailable"}


class Ami:
    """A minimal AMI client: send actions, read messages (dicts of headers)."""

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buffer = b""
        self.banner = self._readline()
        self.action({"Action": "Login", "Username": username, "Secret": secret,
                     "Events": "call,user"}, wait="login")

    def _readline(self) -> str:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("AMI connection closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def read(self, timeout: float) -> dict | None:
        """The next message, or None if nothing arrives within ``timeout`` s."""
        self.sock.settimeout(timeout)
        try:
            message: dict = {}
            while True:
                line = self._readline()
                if not line:
                    if message:
                        return message
                    continue
                key, _, value = line.partition(":")
                message.setdefault(key.strip(), value.strip())
        except TimeoutError:
            return None

    def send(self, headers: dict | list) -> None:
        items = headers.items() if isinstance(headers, dict) else headers
        data = "".join(f"{key}: {value}\r\n" for key, value in items) + "\r\n"
        self.sock.sendall(data.encode())

    def action(self, headers: dict, wait: str) -> dict:
        headers = {**headers, "ActionID": wait}
        self.send(headers)
        while True:
            message = self.read(10)
            if message is None:
                raise TimeoutError(f"no AMI response to {headers['Action']}")
            if message.get("ActionID") == wait and "Response" in message:
                if message["Response"] not in ("Success", "Follows"):
                    raise RuntimeError(f"AMI {headers['Action']}: {message.get('Message')}")
                return message


def parse_rtcp(value: str) -> dict:
    """CHANNEL(rtcp,all): 'ssrc=..;themssrc=..;lp=0;rxjitter=..;rxcount=N;...;txcount=N;...'."""
    fields = dict(part.split("=", 1) for part in value.split(";") if "=" in part)
    stats = {}
    for key, name, kind in (("txcount", "tx_packets", int), ("rxcount", "rx_packets", int),
                            ("lp", "rx_lost", int), ("rlp", "tx_lost_reported", int),
                            ("rxjitter", "rx_jitter", float), ("rtt", "rtt", float)):
        if key in fields:
            try:
                stats[name] = kind(float(fields[key])) if kind is int else kind(fields[key])
            except ValueError:
                continue
    return stats


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return round(ordered[index], 1)


def place_calls(args, config: dict) -> int:
    ami = Ami(config.get("ami_host", "127.0.0.1"), int(config.get("ami_port", 5038)),
              config["ami_username"], config["ami_secret"])
    trunk = config.get("trunk_endpoint", "pbx")
    run = f"{int(time.time())}"
    calls = []
    for index in range(1, args.calls + 1):
        call = {"call": index, "number": args.number, "uniqueid": f"carrier-{run}-{index}",
                "originated_at": None, "answered": False, "answered_at": None,
                "setup_ms": None, "reason": None, "hangup_cause": None,
                "hangup_cause_text": None, "duration_ms": None, "rtp": {}}
        calls.append(call)
        headers = [("Action", "Originate"), ("ActionID", f"call-{run}-{index}"),
                   ("Channel", f"PJSIP/{args.number}@{trunk}"),
                   ("ChannelId", call["uniqueid"]),
                   ("Context", "carrier-out"), ("Exten", "s"), ("Priority", "1"),
                   ("Async", "true"), ("Timeout", str(int(args.answer_timeout * 1000))),
                   ("CallerID", f"Carrier <{args.caller_id + index - 1}>"),
                   ("Variable", f"CALLTAG={call['uniqueid']}"),
                   ("Variable", f"DURATION={args.duration}"),
                   ("Variable", f"DTMF={args.dtmf or ''}"),
                   ("Variable", f"DTMF_DELAY={args.dtmf_delay}")]
        call["_sent"] = time.monotonic()
        call["originated_at"] = round(time.time(), 3)
        ami.send(headers)
        if args.interval_ms:
            time.sleep(args.interval_ms / 1000)

    by_action = {f"call-{run}-{c['call']}": c for c in calls}
    by_unique = {c["uniqueid"]: c for c in calls}
    deadline = time.monotonic() + args.answer_timeout + args.duration + 30
    pending = set(by_unique)
    while pending and time.monotonic() < deadline:
        message = ami.read(1.0)
        if not message:
            continue
        now = time.monotonic()
        event = message.get("Event")
        if event == "OriginateResponse" and message.get("ActionID") in by_action:
            call = by_action[message["ActionID"]]
            if message.get("Response") == "Success":
                call["answered"] = True
                call["setup_ms"] = round((now - call["_sent"]) * 1000, 1)
                call["_answered"] = now
                call["answered_at"] = round(time.time(), 3)
            else:
                call["reason"] = REASONS.get(message.get("Reason", ""), message.get("Reason"))
                call["_done_media"] = True
        elif event == "Hangup" and message.get("Uniqueid") in by_unique:
            call = by_unique[message["Uniqueid"]]
            call["hangup_cause"] = int(message.get("Cause", "0") or 0)
            call["hangup_cause_text"] = message.get("Cause-txt")
            if "_answered" in call:
                call["duration_ms"] = round((now - call["_answered"]) * 1000)
            call["_hungup"] = True
        elif event == "UserEvent" and message.get("UserEvent") == "CarrierCall":
            call = by_unique.get(message.get("Tag", ""))
            if call is not None:
                call["rtp"] = parse_rtcp(message.get("RTCP", ""))
                call["_done_media"] = True
        for unique in list(pending):
            call = by_unique[unique]
            if call.get("_hungup") and (call.get("_done_media") or not call["answered"]):
                pending.discard(unique)
    for call in calls:
        call["media_both_ways"] = (call["rtp"].get("tx_packets", 0) > 0
                                   and call["rtp"].get("rx_packets", 0) > 0)
        if call["uniqueid"] in pending:
            call["reason"] = call["reason"] or "did not end before the deadline"
        for key in [k for k in call if k.startswith("_")]:
            del call[key]
    setups = [c["setup_ms"] for c in calls if c["setup_ms"] is not None]
    answered = [c for c in calls if c["answered"]]
    summary = {
        "calls": len(calls),
        "answered": len(answered),
        "failed": len(calls) - len(answered),
        "media_both_ways": sum(1 for c in calls if c["media_both_ways"]),
        "setup_ms": {"p50": percentile(setups, 0.50), "p90": percentile(setups, 0.90),
                     "p95": percentile(setups, 0.95), "p99": percentile(setups, 0.99),
                     "max": max(setups) if setups else None},
    }
    print(json.dumps({"summary": summary, "calls": calls}, indent=1))
    ok = summary["answered"] == len(calls) and summary["media_both_ways"] == len(calls)
    return 0 if ok else 1


def received(args) -> int:
    rows = []
    try:
        with open(args.cdr, newline="", encoding="utf-8") as handle:
            for values in csv.reader(handle):
                row = dict(zip(CDR_FIELDS, values, strict=False))
                if row.get("dcontext") != "from-pbx":
                    continue
                if args.number and row.get("dst") != args.number:
                    continue
                started = time.mktime(time.strptime(row["start"], "%Y-%m-%d %H:%M:%S"))
                if started < args.since:
                    continue
                rows.append({k: row.get(k) for k in ("src", "dst", "clid", "start", "answer",
                                                     "end", "billsec", "disposition",
                                                     "uniqueid")})
    except FileNotFoundError:
        pass
    print(json.dumps({"count": len(rows), "calls": rows}, indent=1))
    return 0 if rows else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=CONFIG_DEFAULT)
    sub = parser.add_subparsers(dest="action", required=True)
    call = sub.add_parser("call", help="originate calls to the PBX")
    call.add_argument("--number", required=True, help="the DID to call")
    call.add_argument("--calls", type=int, default=1, help="concurrent calls")
    call.add_argument("--duration", type=int, default=20, help="seconds each call stays up")
    call.add_argument("--interval-ms", type=int, default=20, help="pause between originates")
    call.add_argument("--answer-timeout", type=float, default=30.0, help="seconds")
    call.add_argument("--dtmf", help="digits sent after answer (IVR choice)")
    call.add_argument("--dtmf-delay", type=int, default=3, help="seconds before the digits")
    call.add_argument("--caller-id", type=int, default=600100200,
                      help="caller number of the first call (then +1 per call)")
    rec = sub.add_parser("received", help="calls the PBX sent to the carrier (CDR)")
    rec.add_argument("--number", help="only calls to this number")
    rec.add_argument("--since", type=float, default=0.0, help="epoch seconds")
    rec.add_argument("--cdr", default=CDR_DEFAULT)
    args = parser.parse_args(argv)
    if args.action == "received":
        return received(args)
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    return place_calls(args, config)


if __name__ == "__main__":
    sys.exit(main())
