#!/usr/bin/python3
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check Janus's configuration before it replaces the running one, and Janus itself.

Installed by the role conference as /usr/local/sbin/teletreball-janus-check.

    teletreball-janus-check --kind core|websockets|videoroom FILE
        Parses FILE with Janus's own parser (janus-cfgconv --parse), reads it
        (libconfig syntax, Debian's python3-libconf) and refuses what the role
        never wants, whatever the template made:
          core        token_auth on with a signing secret, no API secret
                      shared with clients, no admin API, the plugins,
                      transports, event handlers and loggers the role lists
                      as disabled;
          websockets  plain WebSocket on the loopback only, no TLS listener
                      (nginx terminates TLS), no admin WebSocket;
          videoroom   an admin key (nobody else creates rooms), and every
                      room private, with signed tokens and a secret.
    teletreball-janus-check --live [--url ws://127.0.0.1:8188/] [--wait SECONDS]
        Asks the running Janus for its `info` (no token needed) and checks
        that it loaded the VideoRoom plugin and the WebSocket transport only,
        with signed tokens on. Retries until --wait has passed.

Exit status 0 when every check holds; 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

PLUGIN = "janus.plugin.videoroom"
TRANSPORT = "janus.transport.websockets"


def _load(path: str) -> dict:
    import libconf  # Debian's python3-libconf: the libconfig syntax Janus reads

    with open(path, encoding="utf-8") as handle:
        return libconf.load(handle)


def _true(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "1"))


def check_core(config: dict) -> list[str]:
    problems = []
    general = config.get("general", {})
    if not _true(general.get("token_auth")):
        problems.append("general.token_auth must be true")
    if not str(general.get("token_auth_secret", "")).strip():
        problems.append("general.token_auth_secret must be set (signed tokens)")
    if "api_secret" in general:
        problems.append("general.api_secret must not be set (it would bypass the tokens)")
    if "admin_secret" in general:
        problems.append("general.admin_secret must not be set: the admin API stays off")
    for section in ("plugins", "transports"):
        if "disable" not in config.get(section, {}):
            problems.append(f"{section}.disable must list the modules that stay off")
    return problems


def check_websockets(config: dict) -> list[str]:
    problems = []
    general = config.get("general", {})
    if not _true(general.get("ws")):
        problems.append("general.ws must be true")
    if str(general.get("ws_ip", "")) != "127.0.0.1":
        problems.append("general.ws_ip must be 127.0.0.1 (nginx is the only client)")
    for key in ("wss", "ws_interface"):
        if key in general and (key != "wss" or _true(general[key])):
            problems.append(f"general.{key} must not be set")
    admin = config.get("admin", {})
    for key in ("admin_ws", "admin_wss"):
        if _true(admin.get(key)):
            problems.append(f"admin.{key} must be false: the admin API stays off")
    return problems


def check_videoroom(config: dict) -> list[str]:
    problems = []
    general = config.get("general", {})
    if not str(general.get("admin_key", "")).strip():
        problems.append("general.admin_key must be set: only the role creates rooms")
    if not _true(general.get("string_ids")):
        problems.append("general.string_ids must be true: rooms are named like the chat rooms")
    for name, room in config.items():
        if name == "general":
            continue
        if not isinstance(room, dict):
            problems.append(f"{name}: not a room")
            continue
        for key in ("is_private", "signed_tokens"):
            if not _true(room.get(key)):
                problems.append(f"{name}.{key} must be true")
        if not str(room.get("secret", "")).strip():
            problems.append(f"{name}.secret must be set")
    return problems


CHECKS = {"core": check_core, "websockets": check_websockets, "videoroom": check_videoroom}


def check_file(kind: str, path: str) -> list[str]:
    # Janus's own parser first (janus-cfgconv, from the package janus): what
    # it refuses, Janus would refuse at start.
    # janus-cfgconv reads a file by its extension: a copy named *.jcfg.
    with tempfile.TemporaryDirectory(prefix="teletreball-janus-check.") as folder:
        copy = os.path.join(folder, "candidate.jcfg")
        shutil.copyfile(path, copy)
        parsed = subprocess.run(  # noqa: S603 - a fixed program on a file of its own
            ["/usr/bin/janus-cfgconv", "--parse", copy], capture_output=True, text=True,
            check=False)
    if parsed.returncode != 0:
        errors = [line for line in (parsed.stderr + parsed.stdout).splitlines() if "ERR" in line]
        return [f"Janus cannot read it: {' '.join(errors) or parsed.returncode}"]
    try:
        config = _load(path)
    except Exception as error:  # noqa: BLE001 - any parse error is the answer
        return [f"Janus cannot read it: {error}"]
    return CHECKS[kind](config)


def ask_info(url: str) -> dict:
    import websocket  # Debian's python3-websocket

    connection = websocket.create_connection(url, timeout=5, subprotocols=["janus-protocol"])
    try:
        transaction = uuid.uuid4().hex
        connection.send(json.dumps({"janus": "info", "transaction": transaction}))
        while True:
            answer = json.loads(connection.recv())
            if answer.get("transaction") == transaction:
                return answer
    finally:
        connection.close()


def check_live(info: dict) -> list[str]:
    problems = []
    if info.get("janus") != "server_info":
        return [f"unexpected answer to info: {info.get('janus')}"]
    plugins = sorted(info.get("plugins", {}))
    transports = sorted(info.get("transports", {}))
    if plugins != [PLUGIN]:
        problems.append(f"plugins loaded: {', '.join(plugins) or 'none'} (only {PLUGIN} wanted)")
    if transports != [TRANSPORT]:
        problems.append(
            f"transports loaded: {', '.join(transports) or 'none'} (only {TRANSPORT} wanted)")
    if info.get("auth_token") is not True:
        problems.append("token authentication is off")
    if info.get("api_secret") is True:
        problems.append("an API secret is set")
    if info.get("events"):
        problems.append(f"event handlers loaded: {', '.join(sorted(info['events']))}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(CHECKS))
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--url", default="ws://127.0.0.1:8188/")
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("file", nargs="?")
    args = parser.parse_args(argv)
    if args.live:
        deadline = time.monotonic() + args.wait
        while True:
            try:
                problems = check_live(ask_info(args.url))
                break
            except (OSError, ValueError) as error:
                if time.monotonic() >= deadline:
                    problems = [f"Janus does not answer at {args.url}: {error}"]
                    break
                time.sleep(0.5)
    elif args.kind and args.file:
        problems = check_file(args.kind, args.file)
    else:
        parser.error("give --kind KIND FILE, or --live")
    for problem in problems:
        print(f"teletreball-janus-check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
