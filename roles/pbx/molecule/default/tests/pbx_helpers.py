"""Helpers of the pbx scenario: the SIP parties (tests/sip_support) and the PBX's facts."""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
import os
import pathlib
import shlex
import sys
import time

import testinfra
import yaml

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


# A softphone's REGISTER with digest authentication (tests/sip_support).
REGISTER_SCRIPT = REPO / "tests" / "sip_support" / "sip_register.py"


def register(client, transport, user):
    """The status line of a REGISTER of ``user`` with her correct password, sent
    from ``client`` over ``transport`` (tls or udp); "no answer" when none came.
    A registration that succeeds is taken back at once."""
    password = (CREDENTIALS / "people" / user / "sip-password").read_text().strip()
    client.run("mkdir -p /root/probe")
    client.run(f"cat > /root/probe/sip_register.py <<'PY'\n{REGISTER_SCRIPT.read_text()}PY")
    out = client.check_output(
        f"SIP_PASSWORD={shlex.quote(password)} python3 /root/probe/sip_register.py "
        f"--server pbx --domain prova.teletreball.test --transport {transport} "
        f"--user {user} --timeout 4 --unregister")
    return json.loads(out)["attempts"][0]


def scenario_people():
    """The scenario's named people, as molecule.yml lists them."""
    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml"
    config = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    people = config["provisioner"]["inventory"]["group_vars"]["all"]["_pbx_test_people"]
    # Molecule reads $$ in molecule.yml as a $ (its variable substitution).
    return [dict(p, name=p["name"].replace("$$", "$")) for p in people]


def load_agents():
    """The 50 load agents of molecule.yml (_pbx_test_load_agents)."""
    return [{"username": f"load{i:02d}", "name": f"Load Agent {i:02d}",
             "email": f"load{i:02d}@prova.teletreball.test", "department": "OAC",
             "groups": ["oac_agents"], "extension": 1100 + i} for i in range(1, 51)]


def audit_params(people=None, **changes):
    """The params roles/pbx/tasks/audit.yml computes for the live checks, from this
    scenario's inventory (molecule.yml) and ``people`` (the directory as the last
    converge had it; default: the named people and the load agents). The identity
    digest is module_utils/teletreball_directory.py's identity()."""
    if people is None:
        people = scenario_people() + load_agents()
    present = [p for p in people if p.get("state", "present") == "present" and p.get("extension")]
    params = {
        "tls_port": 5061, "udp_port": 5060, "rtp_first": 10000, "rtp_last": 20000,
        "ami_port": 5038, "ami_username": "teletreball", "address": "pbx",
        "certificate_name": "sip", "ca_file": "/etc/teletreball/pki/ca.crt",
        "media_encryption": "sdes", "trunk_sources": ["10.89.50.20"],
        "phone_networks": ["10.89.64.0/24", "10.89.50.30/32", "10.89.50.40/32"],
        "fail2ban_max_retry": 3, "fail2ban_find_time": 600, "fail2ban_ban_time": 3600,
        "oac_mailbox": "900", "voicemail_archive_dir": "/var/backups/teletreball/voicemail",
        "repo_suite": "teletreball-trixie", "sip_password_min_length": 24,
        "people": [{"username": p["username"], "name": p["name"],
                    "extension": str(p["extension"]), "identity": identity(p)}
                   for p in present],
    }
    params.update(changes)
    return params


def identity(person):
    key = f"id:{person['id']}" if "id" in person else f"email:{person['email'].lower()}"
    return hashlib.sha256(f"teletreball-identity\0{key}".encode()).hexdigest()[:32]
