"""Helpers of the pbx scenario: the SIP parties (tests/sip_support) and the PBX's facts."""

from __future__ import annotations

import calendar
import csv
import io
import json
import os
import pathlib
import sys
import time

import testinfra

REPO = pathlib.Path(__file__).resolve().parents[5]
sys.path.insert(0, str(REPO / "module_utils"))
import teletreball_asterisk as asterisk_facts  # noqa: E402

CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
DOMAIN = "prova.teletreball.test"
PBX = testinfra.get_host("podman://pbx")
AGENTS = testinfra.get_host("podman://agents")
CARRIER = testinfra.get_host("podman://carrier")
INTRUDER = testinfra.get_host("podman://intruder")


def aor(username):
    return f"sip:{username}@{DOMAIN}"


def ctl(instance, arguments, host=AGENTS, check=True):
    """baresip_ctl.py on the agents' container; its JSON answer."""
    result = host.run(f"baresip_ctl.py --instance {instance} {arguments}")
    if check:
        assert result.rc == 0, f"baresip_ctl {instance} {arguments}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else {}


def now(instance="oac"):
    return ctl(instance, "now")["now"]


def dial(instance, username, target):
    """``username`` (an account of ``instance``) dials ``target`` (number or code)."""
    return ctl(instance, f"dial --from {aor(username)} 'sip:{target}@{DOMAIN}'")


def carrier_call(number, calls=1, duration=12, extra="", timeout=None):
    """Calls from the carrier into the PBX; the driver's JSON (exit status kept)."""
    result = CARRIER.run(
        f"timeout {timeout or duration + 120} carrier_calls.py call --number {number} "
        f"--calls {calls} --duration {duration} {extra}")
    return result.rc, json.loads(result.stdout)


def received(number, since):
    """Calls the PBX sent to the carrier for ``number`` since ``since``."""
    # The CDR has whole seconds: a call of the same second as ``since`` counts.
    result = CARRIER.run(
        f"carrier_calls.py received --number '{number}' --since {int(since) - 1}")
    return json.loads(result.stdout)


def asterisk(command):
    return PBX.check_output(f"asterisk -rx '{command}'")


def queue_members(queue="oac"):
    """{interface: member facts} of the queue, parsed by the module's own parser."""
    lines = asterisk(f"queue show {queue}").splitlines()
    facts = asterisk_facts.cli_fact("queues", lines)
    return {m["interface"]: m for m in facts.get(queue, {}).get("members", [])}


def cdr_rows(since):
    """The PBX's CDR (CSV) rows that started at or after the UNIX time ``since``."""
    text = PBX.check_output("cat /var/log/asterisk/cdr-csv/Master.csv")
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 17:
            continue
        start = calendar.timegm(time.strptime(row[9], "%Y-%m-%d %H:%M:%S")) if row[9] else 0
        if start >= int(since) - 1:
            rows.append({"src": row[1], "dst": row[2], "dcontext": row[3], "channel": row[5],
                         "dstchannel": row[6], "lastapp": row[7], "disposition": row[14],
                         "userfield": row[17] if len(row) > 17 else ""})
    return rows

