#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speak Janus's API over its WebSocket, as a browser's janus.js would, without media.

Runs on the test client (Debian's python3-websocket). Reads a JSON object
from standard input (tokens never go on the command line):

    {"url": "wss://.../janus-ws", "token": "...", "room": "govern",
     "room_token": "...", "plugin": "janus.plugin.videoroom", "hold": 0,
     "ready_file": "/run/x", "release_file": "/run/y"}

then creates a session with `token` (absent: none), attaches `plugin` and
joins `room` as a publisher with `room_token`. With `hold` (seconds) it stays
in the room that long, or until `release_file` exists, keeping its session
alive as janus.js does (and writes `ready_file` once joined), then asks
whether it is still among the room's participants. It prints one JSON object:

    {"session": "created"|"refused", "attach": "attached"|"refused"|null,
     "join": "joined"|"refused"|null, "error": "<Janus's reason>"|null,
     "participants": [display names already in the room],
     "still_in": true|false|null}

Exit status 0 when every step it tried was answered (joined or refused:
the test decides which it wanted), 1 when Janus could not be reached or
answered something unexpected. Certificates are checked against the
system's CA store (the council's CA is there).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import uuid

import websocket


class Janus:
    def __init__(self, url: str):
        self.ws = websocket.create_connection(
            url,
            timeout=15,
            subprotocols=["janus-protocol"],
            sslopt={
                "cert_reqs": ssl.CERT_REQUIRED,
                "ca_certs": "/etc/ssl/certs/ca-certificates.crt",
            },
        )

    def request(self, body: dict, wait_event: bool = False) -> dict:
        transaction = uuid.uuid4().hex
        self.ws.send(json.dumps(dict(body, transaction=transaction)))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("transaction") != transaction:
                continue
            if answer.get("janus") == "ack" and wait_event:
                continue
            return answer


def _error(answer: dict) -> str | None:
    if answer.get("janus") == "error":
        return answer.get("error", {}).get("reason", "error")
    data = answer.get("plugindata", {}).get("data", {})
    if "error" in data:
        return data["error"]
    return None


def run(spec: dict) -> dict:
    result = {
        "session": None,
        "attach": None,
        "join": None,
        "error": None,
        "participants": [],
        "still_in": None,
    }
    janus = Janus(spec["url"])
    create = {"janus": "create"}
    if spec.get("token"):
        create["token"] = spec["token"]
    answer = janus.request(create)
    if answer.get("janus") != "success":
        result.update(session="refused", error=_error(answer))
        return result
    result["session"] = "created"
    session = answer["data"]["id"]
    base = {"session_id": session}
    if spec.get("token"):
        base["token"] = spec["token"]
    answer = janus.request(
        dict(base, janus="attach", plugin=spec.get("plugin", "janus.plugin.videoroom"))
    )
    if answer.get("janus") != "success":
        result.update(attach="refused", error=_error(answer))
        return result
    result["attach"] = "attached"
    handle = answer["data"]["id"]
    join = {"request": "join", "ptype": "publisher", "room": spec["room"], "display": "test"}
    if spec.get("room_token"):
        join["token"] = spec["room_token"]
    answer = janus.request(
        dict(base, janus="message", handle_id=handle, body=join), wait_event=True
    )
    error = _error(answer)
    if error:
        result.update(join="refused", error=error)
    elif answer.get("plugindata", {}).get("data", {}).get("videoroom") == "joined":
        result["join"] = "joined"
        data = answer["plugindata"]["data"]
        result["participants"] = [p.get("display") for p in data.get("publishers", [])]
        if spec.get("hold"):
            result["still_in"] = hold(janus, base, handle, spec, data["id"])
    else:
        raise RuntimeError(f"unexpected answer to join: {answer}")
    janus.request(dict(base, janus="destroy"))
    return result


def hold(janus: Janus, base: dict, handle: int, spec: dict, own_id) -> bool:
    """Stay in the room for spec["hold"] seconds; then, is this participant still in it?"""
    if spec.get("ready_file"):
        with open(spec["ready_file"], "w", encoding="utf-8") as ready:
            ready.write("joined\n")
    deadline = time.monotonic() + float(spec["hold"])
    release = spec.get("release_file")
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        answer = janus.request(dict(base, janus="keepalive"))
        if answer.get("janus") != "ack":
            return False
    listing = {"request": "listparticipants", "room": spec["room"]}
    answer = janus.request(dict(base, janus="message", handle_id=handle, body=listing))
    participants = answer.get("plugindata", {}).get("data", {}).get("participants", [])
    return any(p.get("id") == own_id for p in participants)


def main() -> int:
    spec = json.load(sys.stdin)
    try:
        result = run(spec)
    except (OSError, RuntimeError, ValueError, websocket.WebSocketException) as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
