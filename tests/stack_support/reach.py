#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which ports answer, seen from this machine (standard library only).

Usage: reach.py [--timeout S] PROBE...
PROBE is KIND:ADDRESS:PORT with KIND one of
  tcp    a TCP connection is accepted
  stun   a STUN Binding request over UDP gets a Binding success answer (RFC 8489)
  sip    a SIP OPTIONS request over UDP gets any SIP answer
All probes run at once; prints one JSON object {PROBE: "answers" | "silent"}.
A refused TCP connection and a dropped one are both "silent": what matters is
that nothing answered. Exit status 0, or 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import socket
import sys

STUN_MAGIC = 0x2112A442


def probe_tcp(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _udp_exchange(address: str, port: int, payload: bytes, timeout: float) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(payload, (address, port))
            data, _ = sock.recvfrom(4096)
        except OSError:
            return None
        return data


def probe_stun(address: str, port: int, timeout: float) -> bool:
    transaction = os.urandom(12)
    request = (0x0001).to_bytes(2, "big") + (0).to_bytes(2, "big") + STUN_MAGIC.to_bytes(
        4, "big") + transaction
    answer = _udp_exchange(address, port, request, timeout)
    return (
        answer is not None
        and len(answer) >= 20
        and int.from_bytes(answer[0:2], "big") == 0x0101
        and answer[8:20] == transaction
    )


def probe_sip(address: str, port: int, timeout: float) -> bool:
    branch = "z9hG4bK" + os.urandom(6).hex()
    request = (
        f"OPTIONS sip:{address}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 0.0.0.0:5060;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:{address}>\r\n"
        f"From: <sip:probe@invalid>;tag={os.urandom(4).hex()}\r\n"
        f"Call-ID: {os.urandom(8).hex()}@probe\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    answer = _udp_exchange(address, port, request, timeout)
    return answer is not None and answer.startswith(b"SIP/2.0 ")


PROBES = {"tcp": probe_tcp, "stun": probe_stun, "sip": probe_sip}


def parse(spec: str) -> tuple[str, str, int]:
    kind, _, rest = spec.partition(":")
    address, _, port = rest.rpartition(":")
    if kind not in PROBES or not address or not port.isdigit():
        raise ValueError(f"bad probe {spec!r}: KIND:ADDRESS:PORT, KIND one of {sorted(PROBES)}")
    return kind, address, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("probes", nargs="+")
    args = parser.parse_args(argv)
    try:
        parsed = {spec: parse(spec) for spec in args.probes}
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(parsed)) as pool:
        futures = {
            spec: pool.submit(PROBES[kind], address, port, args.timeout)
            for spec, (kind, address, port) in parsed.items()
        }
        results = {spec: "answers" if f.result() else "silent" for spec, f in futures.items()}
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
