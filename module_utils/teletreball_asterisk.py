# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Asterisk for the teletreball modules: a small AMI client and parsers of CLI output.

Every parser takes the lines Asterisk printed (from ``asterisk -rx`` or from the
``Output`` of an AMI ``Command`` action, which are the same) and returns plain
dicts with the same keys whichever way the facts were read. Parsers raise
``ParseError`` on output they do not understand instead of guessing.
"""

from __future__ import annotations

import math
import re
import socket
import time

CONTROL_SOCKET = "/var/run/asterisk/asterisk.ctl"


class AsteriskError(Exception):
    """Anything that stops us from getting an answer from Asterisk."""


class NotRunningError(AsteriskError):
    pass


class ParseError(AsteriskError):
    pass


class AmiError(AsteriskError):
    pass


class AmiAuthError(AmiError):
    pass


def not_running_message(control_socket=CONTROL_SOCKET):
    return f"Asterisk is not running (no control socket {control_socket})"


# --- AMI -------------------------------------------------------------------------------


def parse_message(block):
    """One AMI message (``Key: Value`` lines) as a dict. A key given more than once
    (``Output`` of a command, ``ChanVariable``) keeps every value, in a list."""
    message = {}
    for line in block.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise AmiError(f"AMI sent a line that is not 'Key: Value': {line!r}")
        value = value[1:] if value.startswith(" ") else value
        if key in message:
            if not isinstance(message[key], list):
                message[key] = [message[key]]
            message[key].append(value)
        else:
            message[key] = value
    return message


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class AmiClient:
    """A minimal Asterisk Manager Interface client: one connection, one action at a
    time, every message matched to its action by ``ActionID``.

    Use it as a context manager::

        with AmiClient("127.0.0.1", 5038, timeout=10) as ami:
            ami.login("teletreball", secret)
            response, events = ami.event_list("QueueStatus", Queue="oac")
    """

    def __init__(self, host="127.0.0.1", port=5038, timeout=10.0, sock=None):
        self.host, self.port, self.timeout = host, port, float(timeout)
        self.sock = sock
        self.buffer = b""
        self.banner = None
        self.next_id = 0

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        if self.sock is None:
            try:
                self.sock = socket.create_connection((self.host, self.port), self.timeout)
            except OSError as exc:
                raise AmiError(
                    f"Cannot connect to the Asterisk manager at {self.host}:{self.port}: {exc}"
                ) from exc
        self.sock.settimeout(self.timeout)
        banner = self._read_until(b"\r\n", time.monotonic() + self.timeout).decode(
            "utf-8", errors="replace")
        if not banner.startswith("Asterisk Call Manager/"):
            raise AmiError(f"{self.host}:{self.port} is not an Asterisk manager: {banner!r}")
        self.banner = banner.strip()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _read_until(self, marker, deadline):
        while marker not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AmiError(f"The Asterisk manager did not answer within {self.timeout:g} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError as exc:
                raise AmiError(
                    f"The Asterisk manager did not answer within {self.timeout:g} s") from exc
            except OSError as exc:
                raise AmiError(f"Connection to the Asterisk manager failed: {exc}") from exc
            if not chunk:
                raise AmiError("The Asterisk manager closed the connection")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read_message(self, deadline):
        block = self._read_until(b"\r\n\r\n", deadline)
        return parse_message(block.decode("utf-8", errors="replace"))

    def send(self, action, **fields):
        """Send an action; return its ActionID."""
        self.next_id += 1
        action_id = f"teletreball-{self.next_id}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            for item in as_list(value):
                if "\r" in str(item) or "\n" in str(item):
                    raise AmiError(f"AMI field {key} must be a single line")
                lines.append(f"{key}: {item}")
        try:
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        except OSError as exc:
            raise AmiError(f"Cannot send to the Asterisk manager: {exc}") from exc
        return action_id

    def _response(self, action_id, deadline):
        while True:
            message = self.read_message(deadline)
            if message.get("ActionID") == action_id and "Response" in message:
                return message
            # Anything else (an event of another action, a stray event) is skipped.

    def action(self, action, **fields):
        """Send an action and return its response; raise AmiError when it is an error."""
        deadline = time.monotonic() + self.timeout
        action_id = self.send(action, **fields)
        response = self._response(action_id, deadline)
        if response["Response"] not in ("Success", "Follows", "Goodbye"):
            raise AmiError(f"AMI {action} failed: {response.get('Message', response)}")
        return response

    def event_list(self, action, **fields):
        """Send an action that answers with a list of events; return ``(response,
        events)``, the events without the final ``...Complete`` one."""
        deadline = time.monotonic() + self.timeout
        action_id = self.send(action, **fields)
        response = self._response(action_id, deadline)
        if response["Response"] != "Success":
            message = response.get("Message", "")
            # Some lists answer an error when there is nothing to list.
            if re.search(r"no .*found", message, re.IGNORECASE):
                return response, []
            raise AmiError(f"AMI {action} failed: {message or response}")
        if response.get("EventList") != "start":
            return response, []
        events = []
        while True:
            message = self.read_message(deadline)
            if message.get("ActionID") != action_id or "Event" not in message:
                continue
            if message.get("EventList") == "Complete":
                return response, events
            events.append(message)

    def login(self, username, secret):
        try:
            self.action("Login", Username=username, Secret=secret, Events="off")
        except AmiError as exc:
            raise AmiAuthError(
                f"The Asterisk manager refused the login of '{username}' "
                f"(wrong user name or secret, or not permitted from this address): {exc}"
            ) from exc

    def command(self, command):
        """Run a CLI command through the manager; return its output lines."""
        deadline = time.monotonic() + self.timeout
        action_id = self.send("Command", Command=command)
        response = self._response(action_id, deadline)
        lines = []
        for item in as_list(response.get("Output")):
            lines.extend(item.split("\n"))
        if response["Response"] != "Success":
            said = " ".join(line.strip() for line in lines if line.strip())
            raise AsteriskError(
                f"Asterisk refused the command '{command}': "
                f"{said or response.get('Message', response['Response'])}")
        return lines

    def logoff(self):
        try:
            self.action("Logoff")
        except AmiError:
            pass


# --- CLI output ------------------------------------------------------------------------

DEVICE_STATES = (
    "Not in use", "In use", "Busy", "Invalid", "Unavailable", "Ringing", "Ring+Inuse",
    "On Hold", "Unknown",
)
STATE_RE = "|".join(re.escape(state) for state in DEVICE_STATES)

READ_ONLY_VERBS = {"show", "list"}
READ_ONLY_COMMANDS = {("core", "ping"), ("database", "get"), ("database", "show")}


def is_read_only(command):
    """True for a CLI command that only reads: ``X show ...``, ``X Y show ...``,
    ``X list ...``, ``database get``, ``core ping``."""
    words = command.split()
    if tuple(words[:2]) in READ_ONLY_COMMANDS:
        return True
    return any(word in READ_ONLY_VERBS for word in words[1:3])


def _body(lines, command):
    """The lines of a ``pjsip show ...`` listing after its ``=====`` line, and the
    object count of its last ``Objects found: N`` line (None when it has none).

    Returns ``None`` for the body when Asterisk said there is nothing to list.
    """
    text = [line.rstrip() for line in lines]
    if any(line.strip() == "No objects found." for line in text):
        return None, 0
    for index, line in enumerate(text):
        if line.startswith("=" * 20):
            body = text[index + 1:]
            break
    else:
        raise ParseError(f"Unexpected output of '{command}': no '=====' line")
    count = None
    for line in body:
        found = re.fullmatch(r"Objects found: (\d+)", line.strip())
        if found:
            count = int(found.group(1))
    return [line for line in body if line.strip() and not line.startswith("Objects found")], count


def _check_count(items, count, command):
    if count is not None and count != len(items):
        raise ParseError(
            f"Unexpected output of '{command}': it says {count} objects, {len(items)} were read")


def _label(line):
    label, sep, rest = line.strip().partition(":")
    if not sep or " " in label:
        return None, line.strip()
    return label, rest.strip()


def _rtt(value):
    """Round-trip time in ms; None when not measured (Asterisk prints ``-nan``)."""
    try:
        rtt = float(value)
    except ValueError:
        return None
    return rtt if math.isfinite(rtt) else None


def parse_endpoints(lines):
    """``pjsip show endpoints``."""
    command = "pjsip show endpoints"
    body, count = _body(lines, command)
    if body is None:
        return []
    endpoints, current = [], None
    head = re.compile(
        rf"^\s*Endpoint:\s+(?P<id>\S.*?)\s+(?P<state>{STATE_RE})\s+"
        r"(?P<channels>\d+) of (?P<max>\S+)$")
    for line in body:
        label, rest = _label(line)
        if label == "Endpoint":
            found = head.match(line)
            if not found:
                raise ParseError(f"Unexpected endpoint line in '{command}': {line.strip()!r}")
            name, _, callerid = found.group("id").partition("/")
            current = {
                "name": name, "callerid": callerid, "state": found.group("state"),
                "channels": int(found.group("channels")), "aors": [], "auths": [],
                "outbound_auths": [], "transport": "", "contacts": [],
            }
            endpoints.append(current)
        elif current is None:
            raise ParseError(f"Unexpected line in '{command}' before any endpoint: {line!r}")
        elif label in ("InAuth", "OutAuth"):
            key = "auths" if label == "InAuth" else "outbound_auths"
            current[key].append(rest.split()[0].split("/")[0])
        elif label == "Aor":
            current["aors"].append(rest.split()[0])
        elif label == "Contact":
            current["contacts"].append(rest.split()[0].partition("/")[2])
        elif label == "Transport":
            current["transport"] = rest.split()[0]
        # Identify, Match, Channel, Exten and other details are not returned.
    _check_count(endpoints, count, command)
    return endpoints


def parse_contacts(lines):
    """``pjsip show contacts``."""
    command = "pjsip show contacts"
    body, count = _body(lines, command)
    if body is None:
        return []
    contacts = []
    for line in body:
        label, rest = _label(line)
        if label != "Contact":
            continue
        fields = rest.split()
        if len(fields) != 4:
            raise ParseError(f"Unexpected contact line in '{command}': {line.strip()!r}")
        aor, _, uri = fields[0].partition("/")
        contacts.append({
            "aor": aor, "uri": uri, "hash": fields[1], "status": fields[2],
            "rtt_ms": _rtt(fields[3]), "endpoint": "",
        })
    _check_count(contacts, count, command)
    return contacts


REGISTRATION_RE = re.compile(
    r"^\s*(?P<id>\S+)\s+(?:(?P<auth>\S+)\s+)?"
    r"(?P<status>Registered|Unregistered|Rejected|Stopped|Unknown)(?:\s+\((?P<exp>[^)]*)\))?$")


def parse_registrations(lines):
    """``pjsip show registrations`` (outbound)."""
    command = "pjsip show registrations"
    body, count = _body(lines, command)
    if body is None:
        return []
    registrations = []
    for line in body:
        found = REGISTRATION_RE.match(line)
        if not found:
            raise ParseError(f"Unexpected registration line in '{command}': {line.strip()!r}")
        name, _, server = found.group("id").partition("/")
        registrations.append({
            "name": name, "server_uri": server, "auth": found.group("auth") or "",
            "status": found.group("status"),
        })
    _check_count(registrations, count, command)
    return registrations


def parse_transports(lines):
    """``pjsip show transports``."""
    command = "pjsip show transports"
    body, count = _body(lines, command)
    if body is None:
        return []
    transports = []
    for line in body:
        label, rest = _label(line)
        if label != "Transport":
            continue
        fields = rest.split()
        if len(fields) != 5:
            raise ParseError(f"Unexpected transport line in '{command}': {line.strip()!r}")
        transports.append({"name": fields[0], "protocol": fields[1], "bind": fields[4]})
    _check_count(transports, count, command)
    return transports


QUEUE_HEAD_RE = re.compile(
    r"^(?P<name>\S+) has (?P<calls>\d+) calls \(max (?P<max>\d+|unlimited)\) in "
    r"'(?P<strategy>[^']+)' strategy \((?P<holdtime>\d+)s holdtime, (?P<talktime>\d+)s "
    r"talktime\), W:(?P<weight>\d+), C:(?P<completed>\d+), A:(?P<abandoned>\d+), "
    r"SL:(?P<sl>[\d.]+)%, SL2:(?P<sl2>[\d.]+)% within (?P<within>\d+)s$")
MEMBER_RE = re.compile(
    r"^(?P<name>.+?)"
    r"(?: \((?P<interface>[^\s()]+/[^\s()]*)(?: from (?P<state_interface>[^\s()]+))?\))?"
    r"(?: with penalty (?P<penalty>\d+))?"
    r"(?P<flags>(?: \([^()]*\))*)"
    r" has taken (?:no calls yet|(?P<calls>\d+) calls"
    r"(?: \(last was (?P<last>\d+) secs ago\))?)"
    r"(?: \(login was (?P<login>\d+) secs ago\))?$")
CALLER_RE = re.compile(
    r"^(?P<position>\d+)\. (?P<channel>\S+) \(wait: (?P<min>\d+):(?P<sec>\d+), "
    r"prio: (?P<prio>-?\d+)\)$")


def _member(line):
    found = MEMBER_RE.match(line)
    if not found:
        raise ParseError(f"Unexpected queue member line in 'queue show': {line!r}")
    flags = re.findall(r" \(([^()]*)\)", found.group("flags"))
    member = {
        "name": found.group("name"),
        "interface": found.group("interface") or found.group("name"),
        "state_interface": "", "membership": "static", "penalty": int(found.group("penalty") or 0),
        "state": "", "paused": False, "paused_reason": "", "in_call": False,
        "calls_taken": int(found.group("calls") or 0),
        "last_call_age": int(found.group("last")) if found.group("last") else None,
        "login_age": int(found.group("login")) if found.group("login") else None,
    }
    member["state_interface"] = found.group("state_interface") or member["interface"]
    for flag in flags:
        if flag in ("dynamic", "realtime"):
            member["membership"] = flag
        elif flag == "paused" or flag.startswith(("paused:", "paused ")):
            member["paused"] = True
            reason = re.match(r"paused(?::(.*?))?(?: was \d+ secs ago)?$", flag)
            member["paused_reason"] = (reason.group(1) or "") if reason else ""
        elif flag == "in call":
            member["in_call"] = True
        elif flag in DEVICE_STATES:
            member["state"] = flag
    if not member["state"]:
        raise ParseError(f"No device state in queue member line of 'queue show': {line!r}")
    return member


def parse_queues(lines):
    """``queue show [NAME]``, as a dict by queue name."""
    queues, current, section = {}, None, None
    for raw in lines:
        line = re.sub(r"\x1b\[[0-9;]*m", "", raw).rstrip()  # colour codes, if any
        if not line.strip():
            continue
        stripped = line.strip()
        head = QUEUE_HEAD_RE.match(line)
        if head:
            current = {
                "name": head.group("name"), "calls": int(head.group("calls")),
                "max": 0 if head.group("max") == "unlimited" else int(head.group("max")),
                "strategy": head.group("strategy"),
                "holdtime": int(head.group("holdtime")), "talktime": int(head.group("talktime")),
                "weight": int(head.group("weight")), "completed": int(head.group("completed")),
                "abandoned": int(head.group("abandoned")),
                "service_level": float(head.group("sl")), "members": [], "callers": [],
            }
            queues[current["name"]] = current
            section = None
        elif current is None:
            if re.match(r"^No such queue|^No queues", stripped):
                return {}
            raise ParseError(f"Unexpected line in 'queue show': {line!r}")
        elif stripped in ("Members:", "Callers:"):
            section = stripped[:-1].lower()
        elif stripped in ("No Members", "No Callers"):
            section = None
        elif section == "members":
            current["members"].append(_member(stripped))
        elif section == "callers":
            found = CALLER_RE.match(stripped)
            if not found:
                raise ParseError(f"Unexpected queue caller line in 'queue show': {line!r}")
            current["callers"].append({
                "position": int(found.group("position")), "channel": found.group("channel"),
                "wait": int(found.group("min")) * 60 + int(found.group("sec")),
                "priority": int(found.group("prio")),
            })
        else:
            raise ParseError(f"Unexpected line in 'queue show': {line!r}")
    return queues


def _bridges(channels):
    by_bridge = {}
    for channel in channels:
        if channel["bridge_id"]:
            by_bridge.setdefault(channel["bridge_id"], []).append(channel["channel"])
    for channel in channels:
        channel["bridged_with"] = [
            other for other in by_bridge.get(channel["bridge_id"], [])
            if other != channel["channel"]]
    return channels


def parse_channels(lines):
    """``core show channels concise``: one channel a line, fields separated by ``!``."""
    channels = []
    for line in lines:
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("!")
        if len(fields) < 14:
            raise ParseError(f"Unexpected line in 'core show channels concise': {line!r}")
        # The application data may itself hold '!': take the fixed fields from each end.
        left, right = fields[:6], fields[-7:]
        data = "!".join(fields[6:-7])
        if not right[4].isdigit():
            raise ParseError(f"Unexpected duration in 'core show channels concise': {line!r}")
        channels.append({
            "channel": left[0], "context": left[1], "exten": left[2], "priority": left[3],
            "state": left[4], "application": left[5], "data": data, "callerid": right[0],
            "accountcode": right[1], "duration": int(right[4]), "bridge_id": right[5],
            "uniqueid": right[6],
        })
    return _bridges(channels)


MODULE_RE = re.compile(
    r"^(?P<name>\S+)\s+(?P<description>.*?)\s+(?P<use>-?\d+)\s+(?P<status>\S.*?)\s+"
    r"(?P<support>core|extended|deprecated|external|unknown)$")


def parse_modules(lines):
    """``module show``, as a dict by module file name."""
    modules, total = {}, None
    for line in lines:
        line = line.rstrip()
        if not line.strip() or line.startswith("Module "):
            continue
        found = re.fullmatch(r"(\d+) modules? loaded", line.strip())
        if found:
            total = int(found.group(1))
            continue
        found = MODULE_RE.match(line)
        if not found:
            raise ParseError(f"Unexpected line in 'module show': {line!r}")
        modules[found.group("name")] = {
            "description": found.group("description"), "use_count": int(found.group("use")),
            "status": found.group("status"), "support_level": found.group("support"),
        }
    if total is None:
        raise ParseError("Unexpected output of 'module show': no 'N modules loaded' line")
    if total != len(modules):
        raise ParseError(
            f"Unexpected output of 'module show': it says {total} modules, "
            f"{len(modules)} were read")
    return modules


def reload_problem(name, lines):
    """None when ``module reload NAME`` printed that NAME reloaded, else what went wrong."""
    text = " ".join(line.strip() for line in lines if line.strip())
    if re.search(rf"Module '{re.escape(name)}' reloaded successfully\.", text):
        return None
    if not text:
        text = "(no answer)"
    return f"Reloading the Asterisk module {name} failed: {text}"


CLI_PARSERS = {
    "endpoints": parse_endpoints,
    "contacts": parse_contacts,
    "registrations": parse_registrations,
    "queues": parse_queues,
    "channels": parse_channels,
    "transports": parse_transports,
    "modules": parse_modules,
}


def cli_fact(group, lines, queue=None):
    return CLI_PARSERS[group](lines)


# --- AMI event lists -------------------------------------------------------------------

DEVICE_STATE_NUMBERS = {
    "0": "Unknown", "1": "Not in use", "2": "In use", "3": "Busy", "4": "Invalid",
    "5": "Unavailable", "6": "Ringing", "7": "Ring+Inuse", "8": "On Hold",
}


def _split(value, sep=","):
    return [item.strip() for item in (value or "").split(sep) if item.strip()]


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _seconds(value):
    """``HH:MM:SS`` (or a plain number of seconds) as seconds."""
    parts = (value or "0").split(":")
    try:
        total = 0
        for part in parts:
            total = total * 60 + int(part)
        return total
    except ValueError as exc:
        raise ParseError(f"Unexpected duration from AMI: {value!r}") from exc


def ami_endpoints(events):
    endpoints = []
    for event in events:
        if event.get("Event") != "EndpointList":
            continue
        contacts = []
        for item in _split(event.get("Contacts")):
            contacts.append(item.partition("/")[2] or item)
        endpoints.append({
            "name": event.get("ObjectName", ""), "callerid": "",
            "state": event.get("DeviceState", ""),
            "channels": _int(event.get("ActiveChannels")),
            "aors": _split(event.get("Aor")), "auths": _split(event.get("Auths")),
            "outbound_auths": _split(event.get("OutboundAuths")),
            "transport": event.get("Transport", ""), "contacts": contacts,
        })
    return endpoints


def ami_contacts(events):
    contacts = []
    for event in events:
        if event.get("Event") != "ContactList":
            continue
        rtt = _int(event.get("RoundtripUsec"), None)
        contacts.append({
            "aor": event.get("Aor") or event.get("ObjectName", "").partition(";@")[0],
            "uri": event.get("Uri", ""), "hash": "",
            "status": {"Reachable": "Avail", "Unreachable": "Unavail"}.get(
                event.get("Status", ""), event.get("Status", "")),
            "rtt_ms": rtt / 1000 if rtt else None,
            "endpoint": event.get("Endpoint", ""),
        })
    return contacts


def ami_registrations(events):
    return [
        {
            "name": event.get("ObjectName", ""), "server_uri": event.get("ServerUri", ""),
            "auth": event.get("OutboundAuth", ""), "status": event.get("Status", ""),
        }
        for event in events if event.get("Event") == "OutboundRegistrationDetail"
    ]


def ami_queues(events, now=None):
    now = time.time() if now is None else now
    queues = {}
    for event in events:
        kind = event.get("Event")
        if kind == "QueueParams":
            queues[event["Queue"]] = {
                "name": event["Queue"], "calls": _int(event.get("Calls")),
                "max": _int(event.get("Max")), "strategy": event.get("Strategy", ""),
                "holdtime": _int(event.get("Holdtime")),
                "talktime": _int(event.get("TalkTime")), "weight": _int(event.get("Weight")),
                "completed": _int(event.get("Completed")),
                "abandoned": _int(event.get("Abandoned")),
                "service_level": float(event.get("ServicelevelPerf") or 0),
                "members": [], "callers": [],
            }
    for event in events:
        kind, queue = event.get("Event"), queues.get(event.get("Queue"))
        if queue is None:
            continue
        if kind == "QueueMember":
            last = _int(event.get("LastCall"))
            login = _int(event.get("LoginTime"))
            queue["members"].append({
                "name": event.get("Name", ""), "interface": event.get("Location", ""),
                "state_interface": event.get("StateInterface", ""),
                "membership": event.get("Membership", ""),
                "penalty": _int(event.get("Penalty")),
                "state": DEVICE_STATE_NUMBERS.get(event.get("Status"), "Unknown"),
                "paused": event.get("Paused") == "1",
                "paused_reason": event.get("PausedReason", ""),
                "in_call": event.get("InCall") == "1",
                "calls_taken": _int(event.get("CallsTaken")),
                "last_call_age": max(0, int(now - last)) if last else None,
                "login_age": max(0, int(now - login)) if login else None,
            })
        elif kind == "QueueEntry":
            queue["callers"].append({
                "position": _int(event.get("Position")), "channel": event.get("Channel", ""),
                "wait": _int(event.get("Wait")), "priority": _int(event.get("Priority")),
            })
    return queues


def ami_channels(events):
    channels = []
    for event in events:
        if event.get("Event") != "CoreShowChannel":
            continue
        channels.append({
            "channel": event.get("Channel", ""), "context": event.get("Context", ""),
            "exten": event.get("Exten", ""), "priority": event.get("Priority", ""),
            "state": event.get("ChannelStateDesc", ""),
            "application": event.get("Application", ""),
            "data": event.get("ApplicationData", ""),
            "callerid": event.get("CallerIDNum", ""),
            "accountcode": event.get("AccountCode", ""),
            "duration": _seconds(event.get("Duration")),
            "bridge_id": event.get("BridgeId", ""), "uniqueid": event.get("Uniqueid", ""),
        })
    return _bridges(channels)


AMI_LISTS = {
    "endpoints": ("PJSIPShowEndpoints", ami_endpoints),
    "contacts": ("PJSIPShowContacts", ami_contacts),
    "registrations": ("PJSIPShowRegistrationsOutbound", ami_registrations),
    "queues": ("QueueStatus", ami_queues),
    "channels": ("CoreShowChannels", ami_channels),
}
AMI_COMMANDS = {
    "transports": "pjsip show transports",
    "modules": "module show",
}


def ami_fact(client, group, queue=None):
    """Read one fact group through ``client``, a logged-in AmiClient."""
    if group in AMI_LISTS:
        action, convert = AMI_LISTS[group]
        fields = {"Queue": queue} if group == "queues" and queue else {}
        _, events = client.event_list(action, **fields)
        return convert(events)
    return CLI_PARSERS[group](client.command(AMI_COMMANDS[group]))
