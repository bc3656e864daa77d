#!/usr/bin/env python3
"""A softphone's REGISTER with digest authentication, for the tests.

Each attempt opens its own flow to the PBX: a TLS connection (the certificate
checked against ``--cafile`` or the system's CAs), as the welcome packs say, or
plain UDP; optionally from a chosen source address (``--bind``: the address of
one VPN device when a machine has several tunnels). It sends a REGISTER,
answers the 401 challenge with the password of the environment variable
SIP_PASSWORD and reads the final answer. Prints one JSON object:
``{"attempts": ["SIP/2.0 401 Unauthorized", ..., "no connection: ..."]}``
("no answer" when none came).
A wrong password is what a phone that kept an old one sends; Asterisk logs each
as ChallengeResponseFailed with the source address, which fail2ban reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import ssl
import uuid


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the PBX's name (its certificate's)")
    parser.add_argument("--transport", choices=["tls", "udp"], default="tls")
    parser.add_argument("--port", type=int, default=None, help="5061 (TLS) or 5060 (UDP)")
    parser.add_argument("--domain", required=True, help="the SIP domain of the account")
    parser.add_argument("--user", required=True)
    parser.add_argument("--cafile", default=None,
                        help="CA certificates that check the PBX (default: the system's)")
    parser.add_argument("--bind", default=None, help="source address of the connections")
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--unregister", action="store_true",
                        help="take a successful registration back at once (Expires: 0)")
    args = parser.parse_args(argv)
    if args.port is None:
        args.port = 5061 if args.transport == "tls" else 5060
    return args


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5


def authorization(challenge, user, password, uri):
    """The Authorization header value answering a WWW-Authenticate challenge."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    ha1 = md5(f"{user}:{fields['realm']}:{password}")
    ha2 = md5(f"REGISTER:{uri}")
    extra = ""
    if "qop" in fields:
        cnonce = uuid.uuid4().hex[:16]
        response = md5(f"{ha1}:{fields['nonce']}:00000001:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    else:
        response = md5(f"{ha1}:{fields['nonce']}:{ha2}")
    if "opaque" in fields:
        extra += f', opaque="{fields["opaque"]}"'
    return (f'Digest username="{user}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm=MD5{extra}')


class Connection:
    """One SIP flow: a TLS connection, or a connected UDP socket."""

    def __init__(self, args):
        source = (args.bind, 0) if args.bind else None
        if args.transport == "tls":
            context = ssl.create_default_context(cafile=args.cafile)
            raw = socket.create_connection((args.server, args.port), timeout=args.timeout,
                                           source_address=source)
            self.sock = context.wrap_socket(raw, server_hostname=args.server)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.settimeout(args.timeout)
            if source:
                self.sock.bind(source)
            self.sock.connect((args.server, args.port))
        address, port = self.sock.getsockname()[:2]
        self.local = f"{address}:{port}"
        self.buffer, self.datagrams = "", args.transport != "tls"

    def exchange(self, message):
        """Send a request; the next final answer to it (1xx skipped), or None.

        The server may send requests of its own on the same flow meanwhile
        (Asterisk qualifies a new contact with OPTIONS at once): they and any
        answer to another request are skipped. A TLS stream may hold several
        messages in one read, or one message over several."""
        self.sock.sendall(message.encode())
        cseq = next(line for line in message.split("\r\n") if line.startswith("CSeq:"))
        while True:
            answer = self._next_message()
            if answer is None:
                return None
            head = answer.split("\r\n")
            if (head[0].startswith("SIP/2.0 ") and not head[0].startswith("SIP/2.0 1")
                    and any(line.lower() == cseq.lower() for line in head)):
                return answer

    def _next_message(self):
        """One whole SIP message from the flow (a datagram for UDP), or None."""
        while True:
            if self.buffer:
                if self.datagrams:
                    message, self.buffer = self.buffer, ""
                    return message
                end = self.buffer.find("\r\n\r\n")
                if end >= 0:
                    length = 0
                    for line in self.buffer[:end].split("\r\n"):
                        name, _, value = line.partition(":")
                        if name.strip().lower() in ("content-length", "l"):
                            length = int(value.strip() or 0)
                    total = end + 4 + length
                    if len(self.buffer) >= total:
                        message, self.buffer = self.buffer[:total], self.buffer[total:]
                        return message
            try:
                data = self.sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError, ConnectionResetError):
                return None
            if not data:
                return None
            self.buffer += data.decode(errors="replace")

    def close(self):
        self.sock.close()


def attempt(args, password):
    """One registration on a new flow: the status line of the first final answer
    (after the challenge). With --unregister, a registration that succeeded is
    taken back (Expires: 0) on the same flow."""
    try:
        flow = Connection(args)
    except OSError as error:
        return f"no connection: {error}"
    tag, call, uri = uuid.uuid4().hex[:8], uuid.uuid4().hex, f"sip:{args.domain}"
    cseq = 0

    def request(expires, header=None):
        nonlocal cseq
        cseq += 1
        lines = [f"REGISTER {uri} SIP/2.0",
                 f"Via: SIP/2.0/{args.transport.upper()} {flow.local}"
                 f";branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
                 "Max-Forwards: 70", f"From: <sip:{args.user}@{args.domain}>;tag={tag}",
                 f"To: <sip:{args.user}@{args.domain}>", f"Call-ID: {call}",
                 f"CSeq: {cseq} REGISTER",
                 f"Contact: <sip:{args.user}@{flow.local};transport={args.transport}>",
                 f"Expires: {expires}"]
        if header:
            lines.append(f"Authorization: {header}")
        return flow.exchange("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n")

    def register(expires):
        answer = request(expires)
        if answer and answer.startswith("SIP/2.0 401"):
            challenges = [line.split(":", 1)[1] for line in answer.split("\r\n")
                          if line.lower().startswith("www-authenticate:")]
            challenge = next(c for c in challenges
                             if "algorithm" not in c.lower() or "md5" in c.lower())
            answer = request(expires, authorization(challenge, args.user, password, uri))
        return answer

    try:
        answer = register(60)
        if args.unregister and answer and answer.startswith("SIP/2.0 2"):
            register(0)
    except OSError as error:
        return f"no answer: {error}"
    finally:
        flow.close()
    return answer.splitlines()[0] if answer else "no answer"


def main(argv=None):
    args = parse_args(argv)
    password = os.environ.get("SIP_PASSWORD", "")
    print(json.dumps({"attempts": [attempt(args, password) for _ in range(args.attempts)]}))


if __name__ == "__main__":
    main()
