#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log in to the chat server the way a web client does: XMPP over the websocket
(RFC 7395) or over BOSH (XEP-0124, XEP-0206), through nginx on HTTPS, with SASL
PLAIN. Python's standard library only (no package to install on a test host).

    xmpp_web_login.py websocket|bosh JID URL [--connect ADDRESS] [--cafile FILE]

URL is the web chat's base (https://name/); --connect reaches ADDRESS instead of
the name's address (the name is still the TLS and HTTP name); --cafile is the CA
to verify the server with (default: the system's). The password is read from
$XMPP_PASSWORD. Prints one JSON object: result "ok" (authenticated), "refused"
(SASL failure, with its condition and text), "http-<status>" (nginx or Prosody
answered the HTTP request with an error) or "error" (with a detail). Exit status
0 whenever it could tell what happened, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import socket
import ssl
import sys
import urllib.parse
import xml.etree.ElementTree as ET

SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
TIMEOUT = 20


def parse(text):
    """One element the council's own chat server sent (a test client: the server
    is what the test checks, and Python's parser expands no external entity)."""
    return ET.fromstring(text)  # noqa: S314


def connect(url, address, cafile):
    """A TLS socket to the web chat's host (or ADDRESS), verified for its name."""
    name = url.hostname
    context = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection((address or name, url.port or 443), timeout=TIMEOUT)
    return context.wrap_socket(raw, server_hostname=name)


def plain(jid, password):
    local = jid.split("@", 1)[0]
    return base64.b64encode(f"\0{local}\0{password}".encode()).decode()


def sasl_outcome(element):
    """ok, refused (with the condition) or None when the element is neither."""
    if element.tag == f"{{{SASL}}}success":
        return {"result": "ok"}
    if element.tag == f"{{{SASL}}}failure":
        condition = next((child.tag.split("}")[1] for child in element
                          if child.tag != f"{{{SASL}}}text"), None)
        text = element.findtext(f"{{{SASL}}}text")
        return {"result": "refused", "condition": condition, "text": text}
    return None


# --- websocket -----------------------------------------------------------------------


def ws_frame(text):
    payload = text.encode()
    header = bytearray([0x81])
    if len(payload) < 126:
        header.append(0x80 | len(payload))
    elif len(payload) < 65536:
        header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    else:
        header += bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
    mask = os.urandom(4)
    return bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock):
    """The next text message from the server (frames of one message joined)."""
    def exactly(count):
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return data

    message = b""
    while True:
        first, second = exactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(exactly(2), "big")
        elif length == 127:
            length = int.from_bytes(exactly(8), "big")
        payload = exactly(length)
        opcode = first & 0x0F
        if opcode == 0x8:
            raise ConnectionError("the server closed the websocket")
        if opcode in (0x9, 0xA):
            continue
        message += payload
        if first & 0x80:
            return message.decode()


def websocket_login(url, jid, password, address, cafile):
    sock = connect(url, address, cafile)
    key = base64.b64encode(os.urandom(16)).decode()
    path = urllib.parse.urljoin(url.path or "/", "xmpp-websocket")
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {url.hostname}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            return {"result": "error", "detail": "no answer to the upgrade"}
        head += chunk
    status = int(head.split(b" ", 2)[1])
    if status != 101:
        return {"result": f"http-{status}"}
    domain = jid.split("@", 1)[1]
    sock.sendall(ws_frame(f'<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="{domain}" '
                          'version="1.0"/>'))
    mechanisms = []
    while not mechanisms:
        element = parse(ws_read(sock))
        mechanisms = [m.text for m in element.iter(f"{{{SASL}}}mechanism")]
    if "PLAIN" not in mechanisms:
        return {"result": "error", "detail": f"no PLAIN among {mechanisms}"}
    sock.sendall(ws_frame(f'<auth xmlns="{SASL}" mechanism="PLAIN">{plain(jid, password)}</auth>'))
    while True:
        outcome = sasl_outcome(parse(ws_read(sock)))
        if outcome:
            sock.close()
            return outcome


# --- BOSH ------------------------------------------------------------------------------

BOSH = "http://jabber.org/protocol/httpbind"


def bosh_post(url, address, cafile, body):
    connection = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=TIMEOUT)
    connection.sock = connect(url, address, cafile)
    path = urllib.parse.urljoin(url.path or "/", "http-bind")
    connection.request("POST", path, body=body.encode(),
                       headers={"Content-Type": "text/xml; charset=utf-8"})
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    return answer.status, data


def bosh_login(url, jid, password, address, cafile):
    domain = jid.split("@", 1)[1]
    rid = int.from_bytes(os.urandom(3), "big") + 10**6
    status, data = bosh_post(url, address, cafile, (
        f"<body content='text/xml; charset=utf-8' hold='1' rid='{rid}' to='{domain}' "
        f"ver='1.6' wait='10' xml:lang='en' xmpp:version='1.0' xmlns='{BOSH}' "
        "xmlns:xmpp='urn:xmpp:xbosh'/>"))
    if status != 200:
        return {"result": f"http-{status}"}
    body = parse(data)
    sid = body.get("sid")
    mechanisms = [m.text for m in body.iter(f"{{{SASL}}}mechanism")]
    while not mechanisms:
        rid += 1
        status, data = bosh_post(url, address, cafile,
                                 f"<body rid='{rid}' sid='{sid}' xmlns='{BOSH}'/>")
        if status != 200:
            return {"result": f"http-{status}"}
        mechanisms = [m.text for m in parse(data).iter(f"{{{SASL}}}mechanism")]
    if "PLAIN" not in mechanisms:
        return {"result": "error", "detail": f"no PLAIN among {mechanisms}"}
    rid += 1
    status, data = bosh_post(url, address, cafile, (
        f"<body rid='{rid}' sid='{sid}' xmlns='{BOSH}'><auth xmlns='{SASL}' mechanism='PLAIN'>"
        f"{plain(jid, password)}</auth></body>"))
    if status != 200:
        return {"result": f"http-{status}"}
    for element in parse(data):
        outcome = sasl_outcome(element)
        if outcome:
            return outcome
    return {"result": "error", "detail": data.decode(errors="replace")[:300]}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["websocket", "bosh"])
    parser.add_argument("jid")
    parser.add_argument("url")
    parser.add_argument("--connect", dest="address")
    parser.add_argument("--cafile")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[^@/\s]+@[^@/\s]+", args.jid):
        parser.error("JID must be user@domain")
    url = urllib.parse.urlsplit(args.url)
    login = websocket_login if args.transport == "websocket" else bosh_login
    try:
        result = login(url, args.jid, os.environ.get("XMPP_PASSWORD", ""), args.address,
                       args.cafile)
    except (OSError, ET.ParseError, ValueError) as exc:
        result = {"result": "error", "detail": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
