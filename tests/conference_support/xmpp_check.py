#!/usr/bin/python3
"""A real XMPP client (slixmpp, Debian's python3-slixmpp) for the conference tests.

Runs on the test client container and prints one JSON object on stdout:

  xmpp_check.py login JID                 log in (password in $XMPP_PASSWORD)
  xmpp_check.py anonymous DOMAIN          try an anonymous login on DOMAIN
  xmpp_check.py join JID ROOM             log in and enter a room
  xmpp_check.py exchange JID JID2 ROOM TOKEN
                                          both enter ROOM (passwords in $XMPP_PASSWORD
                                          and $XMPP_PASSWORD2); JID posts TOKEN, JID2
                                          must receive it
  xmpp_check.py post JID ROOM TOKEN       enter ROOM and post TOKEN
  xmpp_check.py hold JID SECONDS          stay logged in up to SECONDS; report how the
                                          session ended (e.g. closed by the server)
  xmpp_check.py services JID              ask the server for its TURN/STUN services
                                          (XEP-0215) with credentials
  xmpp_check.py vcard JID OTHER           the names (FN) of OTHER's vCard (vcard-temp)
  xmpp_check.py roster JID                log in and list the roster's contacts
  xmpp_check.py roster_add JID CONTACT    log in, add CONTACT to the roster, list it

The server's certificate is verified against the system's CA store (the council's
CA is installed there by the role pki) and its name. Exit status 0 whenever the
client could tell what happened (the JSON says what); 2 on bad usage.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

PORT = 5222
TIMEOUT = 30


def client(jid, password):
    xmpp = slixmpp.ClientXMPP(jid, password)
    # Port 5222 speaks STARTTLS (required by the server); no direct TLS.
    xmpp.enable_direct_tls = False
    xmpp.enable_starttls = True
    xmpp.enable_plaintext = False
    xmpp.register_plugin("xep_0030")
    xmpp.register_plugin("xep_0045")
    xmpp.register_plugin("xep_0199")
    return xmpp


async def open_session(xmpp, timeout=TIMEOUT):
    """Connect and wait for the session or the reason there is none."""
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()

    def settle(result, condition=None, text=None):
        if not outcome.done():
            outcome.set_result({"result": result, "condition": condition, "text": text})

    xmpp.add_event_handler("session_start", lambda _e: settle("ok"))
    xmpp.add_event_handler(
        "failed_auth", lambda s: settle("failed_auth", s["condition"], s["text"] or None))
    xmpp.add_event_handler("no_auth", lambda _e: settle("no_auth"))
    xmpp.add_event_handler(
        "stream_error", lambda s: settle("stream_error", s["condition"], s["text"] or None))
    xmpp.add_event_handler("connection_failed", lambda e: settle("connection_failed", None, str(e)))
    xmpp.add_event_handler("disconnected", lambda _e: settle("disconnected"))
    xmpp.connect(host=xmpp.boundjid.domain, port=PORT)
    try:
        result = await asyncio.wait_for(outcome, timeout)
    except TimeoutError:
        result = {"result": "timeout", "condition": None, "text": None}
    if result["result"] == "ok":
        ssl_object = xmpp.transport.get_extra_info("ssl_object") if xmpp.transport else None
        result["tls"] = ssl_object.version() if ssl_object else None
        result["jid"] = str(xmpp.boundjid)
    return result


async def close(xmpp):
    if xmpp.transport is not None:
        await xmpp.disconnect(wait=2.0)


async def enter(xmpp, room, nick):
    """Enter a room (XEP-0045): joined on our own presence back, refused on an error.
    (slixmpp 1.10's join_muc_wait misses the error presence, so this is done here.)"""
    loop = asyncio.get_running_loop()
    answer = loop.create_future()
    occupant = f"{room}/{nick}"

    def on_presence(presence):
        if str(presence["from"]) != occupant or answer.done():
            return
        if presence["type"] == "error":
            answer.set_result({"result": "refused", "condition": presence["error"]["condition"],
                               "text": presence["error"]["text"] or None})
        elif presence["type"] != "unavailable":
            answer.set_result({"result": "joined"})

    xmpp.add_event_handler("presence", on_presence)
    stanza = xmpp.make_presence(pto=occupant)
    muc = slixmpp.ET.SubElement(stanza.xml, "{http://jabber.org/protocol/muc}x")
    slixmpp.ET.SubElement(muc, "{http://jabber.org/protocol/muc}history", maxstanzas="50")
    stanza.send()
    try:
        return await asyncio.wait_for(answer, TIMEOUT)
    except TimeoutError:
        return {"result": "timeout"}
    finally:
        xmpp.del_event_handler("presence", on_presence)


async def cmd_login(jid):
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    result = await open_session(xmpp)
    await close(xmpp)
    return result


async def cmd_anonymous(domain):
    xmpp = client(domain, "")
    result = await open_session(xmpp)
    await close(xmpp)
    return result


async def cmd_join(jid, room):
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    login = await open_session(xmpp)
    if login["result"] != "ok":
        return {"login": login}
    result = await enter(xmpp, room, jid.split("@")[0])
    await close(xmpp)
    return {"login": login, "join": result}


async def cmd_exchange(jid, jid2, room, token):
    sender = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    reader = client(jid2, os.environ.get("XMPP_PASSWORD2", ""))
    logins = [await open_session(sender), await open_session(reader)]
    if any(login["result"] != "ok" for login in logins):
        return {"logins": logins}
    received = asyncio.get_running_loop().create_future()

    def on_message(msg):
        if msg["body"] == token and not received.done():
            received.set_result(str(msg["from"]))

    reader.add_event_handler("groupchat_message", on_message)
    joins = [await enter(reader, room, jid2.split("@")[0]),
             await enter(sender, room, jid.split("@")[0])]
    result = {"logins": logins, "joins": joins, "received_from": None}
    if all(join["result"] == "joined" for join in joins):
        sender.send_message(mto=room, mbody=token, mtype="groupchat")
        try:
            result["received_from"] = await asyncio.wait_for(received, TIMEOUT)
        except TimeoutError:
            pass
    await close(sender)
    await close(reader)
    return result


async def cmd_post(jid, room, token):
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    login = await open_session(xmpp)
    if login["result"] != "ok":
        return {"login": login}
    join = await enter(xmpp, room, jid.split("@")[0])
    if join["result"] == "joined":
        xmpp.send_message(mto=room, mbody=token, mtype="groupchat")
        await asyncio.sleep(1)
    await close(xmpp)
    return {"login": login, "join": join}


async def cmd_hold(jid, seconds):
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    login = await open_session(xmpp)
    if login["result"] != "ok":
        return {"login": login}
    print(json.dumps({"event": "logged_in", "at": time.time()}), flush=True)
    ended = asyncio.get_running_loop().create_future()

    def settle(how, condition=None, text=None):
        if not ended.done():
            ended.set_result({"ended": how, "condition": condition, "text": text,
                              "at": time.time()})

    xmpp.add_event_handler(
        "stream_error", lambda s: settle("stream_error", s["condition"], s["text"] or None))
    xmpp.add_event_handler("disconnected", lambda _e: settle("disconnected"))
    try:
        result = await asyncio.wait_for(ended, float(seconds))
    except TimeoutError:
        result = {"ended": "still_connected", "at": time.time()}
        await close(xmpp)
    return {"login": login, **result}


async def cmd_services(jid):
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    login = await open_session(xmpp)
    if login["result"] != "ok":
        return {"login": login}
    iq = xmpp.make_iq_get(ito=xmpp.boundjid.domain)
    iq.append(slixmpp.ET.Element("{urn:xmpp:extdisco:2}services"))
    services = []
    try:
        reply = await iq.send(timeout=TIMEOUT)
        for item in reply.xml.iter("{urn:xmpp:extdisco:2}service"):
            services.append(dict(item.attrib))
    except (IqError, IqTimeout) as exc:
        await close(xmpp)
        return {"login": login, "error": str(exc)}
    await close(xmpp)
    return {"login": login, "services": services}


async def roster_of(xmpp, login, contact=None):
    try:
        if contact is not None:
            await xmpp.update_roster(contact, name=contact.split("@")[0], timeout=TIMEOUT)
        await xmpp.get_roster(timeout=TIMEOUT)
    except (IqError, IqTimeout) as exc:
        await close(xmpp)
        return {"login": login, "error": str(exc)}
    contacts = sorted(str(item) for item in xmpp.client_roster
                      if str(item) != xmpp.boundjid.bare)
    await close(xmpp)
    return {"login": login, "roster": contacts}


async def cmd_roster(jid, contact=None):
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    login = await open_session(xmpp)
    if login["result"] != "ok":
        return {"login": login}
    return await roster_of(xmpp, login, contact)


async def cmd_roster_add(jid, contact):
    return await cmd_roster(jid, contact)


async def cmd_vcard(jid, other):
    """The full name (FN) of ``other``'s vCard as a client reads it (vcard-temp,
    XEP-0054, as Converse.js asks for it)."""
    xmpp = client(jid, os.environ.get("XMPP_PASSWORD", ""))
    login = await open_session(xmpp)
    if login["result"] != "ok":
        return {"login": login}
    iq = xmpp.make_iq_get(ito=other)
    iq.append(slixmpp.ET.Element("{vcard-temp}vCard"))
    try:
        reply = await iq.send(timeout=TIMEOUT)
    except (IqError, IqTimeout) as exc:
        await close(xmpp)
        return {"login": login, "error": str(exc)}
    await close(xmpp)
    names = [element.text or "" for element in reply.xml.iter("{vcard-temp}FN")]
    return {"login": login, "fn": names}


COMMANDS = {
    "login": (cmd_login, 1),
    "anonymous": (cmd_anonymous, 1),
    "join": (cmd_join, 2),
    "exchange": (cmd_exchange, 4),
    "post": (cmd_post, 3),
    "hold": (cmd_hold, 2),
    "services": (cmd_services, 1),
    "vcard": (cmd_vcard, 2),
    "roster": (cmd_roster, 1),
    "roster_add": (cmd_roster_add, 2),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS or len(argv) - 2 != COMMANDS[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    function, _ = COMMANDS[argv[1]]
    result = asyncio.run(function(*argv[2:]))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
