#!/usr/bin/python3
"""Ask Prosody for the keys to a video room (slixmpp, Debian's python3-slixmpp).

Usage: XMPP_PASSWORD=... xmpp_video.py JID ROOM [INVITE_SECONDS]

Logs in as JID (password in $XMPP_PASSWORD, never on the command line) and sends
the role's mod_teletreball_video join request for ROOM (the chat room's address,
<name>@<MUC host>):

  <iq type='get' to='<JID's domain>'><video xmlns='urn:teletreball:video:0' room='ROOM'/></iq>

and, with INVITE_SECONDS, the guest invitation request too:

  <iq type='set' to='<JID's domain>'><invite xmlns='urn:teletreball:video:0'
      room='ROOM' seconds='INVITE_SECONDS'/></iq>

Prints one JSON object on stdout: {"ok", "error", "room", "server", "token",
"room_token", "expires", "ice", "invite_url"}; error is the stanza error's
condition (e.g. item-not-found, forbidden) or what went wrong before (login
failed, timeout), and the other fields are null when not known. The server's
certificate is verified against the system's CA store and its name. Exit status 0
when every request got a result, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

NS = "urn:teletreball:video:0"
PORT = 5222
TIMEOUT = 30


def client(jid, password):
    xmpp = slixmpp.ClientXMPP(jid, password)
    # Port 5222 speaks STARTTLS (required by the server); no direct TLS.
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = True
    xmpp.enable_plaintext = False
    return xmpp


async def open_session(xmpp):
    """Connect; None once the session is open, else why there is none."""
    outcome = asyncio.get_running_loop().create_future()

    def settle(error):
        if not outcome.done():
            outcome.set_result(error)

    xmpp.add_event_handler("session_start", lambda _e: settle(None))
    xmpp.add_event_handler(
        "failed_auth", lambda s: settle(f"login failed: {s['condition'] or 'failed_auth'}")
    )
    xmpp.add_event_handler("no_auth", lambda _e: settle("login failed: no_auth"))
    xmpp.add_event_handler("stream_error", lambda s: settle(f"stream error: {s['condition']}"))
    xmpp.add_event_handler("connection_failed", lambda e: settle(f"connection failed: {e}"))
    xmpp.add_event_handler("disconnected", lambda _e: settle("disconnected"))
    xmpp.connect(host=xmpp.boundjid.domain, port=PORT)
    try:
        return await asyncio.wait_for(outcome, TIMEOUT)
    except TimeoutError:
        return "login timed out"


async def close(xmpp):
    if xmpp.transport is not None:
        await xmpp.disconnect(wait=2.0)


async def ask(xmpp, kind, name, attrib):
    """Send one request of the namespace to the server; (its element, None) or
    (None, the error)."""
    make = xmpp.make_iq_get if kind == "get" else xmpp.make_iq_set
    iq = make(ito=xmpp.boundjid.domain)
    iq.append(slixmpp.ET.Element(f"{{{NS}}}{name}", attrib))
    try:
        reply = await iq.send(timeout=TIMEOUT)
    except IqError as exc:
        return None, exc.iq["error"]["condition"] or "error"
    except IqTimeout:
        return None, "timeout"
    element = reply.xml.find(f"{{{NS}}}{name}")
    if element is None:
        return None, f"no <{name}/> in the result"
    return element, None


def video_fields(element):
    def text(child):
        found = element.find(f"{{{NS}}}{child}")
        return found.text if found is not None else None

    expires = element.get("expires")
    return {
        "room": element.get("room"),
        "server": element.get("server"),
        "token": text("token"),
        "room_token": text("room-token"),
        "expires": int(expires) if expires and expires.isdigit() else expires,
        "ice": [
            {
                key: ice.get(key)
                for key in ("urls", "username", "credential")
                if ice.get(key) is not None
            }
            for ice in element.iter(f"{{{NS}}}ice")
        ],
    }


async def run(jid, room, invite_seconds=None):
    result = {
        "ok": False,
        "error": None,
        "room": None,
        "server": None,
        "token": None,
        "room_token": None,
        "expires": None,
        "ice": None,
        "invite_url": None,
    }
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    error = await open_session(xmpp)
    if error is not None:
        result["error"] = error
        await close(xmpp)
        return result
    element, error = await ask(xmpp, "get", "video", {"room": room})
    if error is None:
        result.update(video_fields(element))
        if invite_seconds is not None:
            element, error = await ask(
                xmpp, "set", "invite", {"room": room, "seconds": invite_seconds}
            )
            if error is None:
                result["invite_url"] = element.get("url")
    result["ok"], result["error"] = error is None, error
    await close(xmpp)
    return result


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    result = asyncio.run(run(*argv[1:]))
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
