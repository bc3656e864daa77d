"""XMPP test client of the conference-jitsi scenario, run on the `client` container.

Copied there by the tests and run with Debian's python3-slixmpp. It logs in
(with a password, or anonymously on the guests' host), does one thing and
prints one JSON line:

    jitsi_client.py JID PASSWORD|- focus FOCUS_JID ROOM_JID
        ask jicofo for a video room, as Jitsi's web client does
        -> {"ok": true, "ready": "true"} or {"ok": false, "condition": "not-authorized"}
    jitsi_client.py JID PASSWORD|- join ROOM_JID/NICK
        join a MUC room -> {"ok": true} or {"ok": false, "condition": "..."}

A password of "-" means an anonymous login (SASL ANONYMOUS) on JID's host.
The server's certificate is checked against the system's CAs (the internal CA
is one of them).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

FOCUS_NS = "http://jitsi.org/protocol/focus"
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
# Status 110 marks the presence the room sends back to the one who joined.
SELF_PRESENCE = f"{{{MUC_USER_NS}}}x/{{{MUC_USER_NS}}}status[@code='110']"
# The password argument that asks for an anonymous login.
ANONYMOUS_LOGIN = "-"
TIMEOUT = 30


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, action):
        anonymous = password == ANONYMOUS_LOGIN
        super().__init__(jid, "" if anonymous else password,
                         sasl_mech="ANONYMOUS" if anonymous else None)
        self.action = action
        self.result = {"ok": False, "condition": "no-session"}
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.failed)

    def failed(self, _event):
        self.result = {"ok": False, "condition": "login-failed"}
        self.disconnect()

    async def start(self, _event):
        try:
            if self.action[0] == "focus":
                self.result = await self.ask_focus(*self.action[1:])
            elif self.action[0] == "join":
                self.result = await self.join(self.action[1])
        finally:
            self.disconnect()

    async def ask_focus(self, focus, room):
        iq = self.make_iq_set(ito=focus)
        request = ET.Element(f"{{{FOCUS_NS}}}conference",
                             {"room": room, "machine-uid": uuid.uuid4().hex})
        iq.append(request)
        try:
            reply = await iq.send(timeout=TIMEOUT)
        except IqError as error:
            return {"ok": False, "condition": error.iq["error"]["condition"]}
        except IqTimeout:
            return {"ok": False, "condition": "timeout"}
        answer = reply.xml.find(f"{{{FOCUS_NS}}}conference")
        return {"ok": True, "ready": None if answer is None else answer.get("ready")}

    async def join(self, occupant):
        """Send a MUC join and wait for our own presence (status 110) or an error."""
        room = slixmpp.JID(occupant).bare
        answer = self.loop.create_future()

        def presence(stanza):
            if stanza["from"].bare != room or answer.done():
                return
            if stanza["type"] == "error":
                answer.set_result({"ok": False, "condition": stanza["error"]["condition"]})
            elif stanza.xml.find(SELF_PRESENCE) is not None:
                answer.set_result({"ok": True})

        self.add_event_handler("presence", presence)
        join = self.make_presence(pto=occupant)
        join.append(ET.Element(f"{{{MUC_NS}}}x"))
        join.send()
        try:
            return await asyncio.wait_for(answer, TIMEOUT)
        except TimeoutError:
            return {"ok": False, "condition": "timeout"}
        finally:
            self.del_event_handler("presence", presence)


def main(argv):
    jid, password, *action = argv
    client = Client(jid, password, action)
    client.connect()
    client.loop.run_until_complete(client.disconnected)
    print(json.dumps(client.result))


if __name__ == "__main__":
    main(sys.argv[1:])
