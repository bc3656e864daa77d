#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Post one message to a chat room and leave (Debian's python3-slixmpp).

Usage: TT_CHAT_PASSWORD=... xmpp_post.py JID ROOM NICK TEXT

Connects with TLS (the certificate is checked against the system's trust
store, which holds the internal CA), joins ROOM as NICK, sends TEXT, waits for
the room to echo it back (so the server has stored it) and disconnects.
Exit status 0 when the echo arrived within 30 s.
"""

from __future__ import annotations

import asyncio
import os
import sys

import slixmpp


class Poster(slixmpp.ClientXMPP):
    def __init__(self, jid, password, room, nick, text):
        super().__init__(jid, password)
        self.room, self.nick, self.text = room, nick, text
        self.echoed = asyncio.Event()
        self.register_plugin("xep_0045")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("groupchat_message", self.message)
        self.add_event_handler("failed_auth", lambda _: self.disconnect())
        # The subject comes last when a room is entered: then the message is sent.
        self.add_event_handler(f"muc::{room}::groupchat_subject", self.entered)

    async def start(self, _event):
        self.plugin["xep_0045"].join_muc(self.room, self.nick, maxhistory="0")

    def entered(self, _msg):
        self.send_message(mto=self.room, mbody=self.text, mtype="groupchat")

    def message(self, msg):
        if msg["body"] == self.text and msg["mucnick"] == self.nick:
            self.echoed.set()


async def post(jid, password, room, nick, text):
    client = Poster(jid, password, room, nick, text)
    client.connect()
    try:
        await asyncio.wait_for(client.echoed.wait(), 30)
        return True
    except TimeoutError:
        return False
    finally:
        client.disconnect()
        await asyncio.sleep(0.5)


def main():
    if len(sys.argv) != 5 or not os.environ.get("TT_CHAT_PASSWORD"):
        sys.exit(__doc__.splitlines()[2])
    jid, room, nick, text = sys.argv[1:]
    ok = asyncio.run(post(jid, os.environ["TT_CHAT_PASSWORD"], room, nick, text))
    print("posted" if ok else "not echoed within 30 s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
