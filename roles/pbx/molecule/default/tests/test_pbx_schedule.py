"""Re-runs of the converge with a changed inventory, watched from the calls.

* one run adds a person and declares today a holiday: it reloads Asterisk's
  modules, so a call in progress goes on and the newcomer's endpoint exists
  afterwards; the public's next call reaches the OAC's voicemail, whose
  message is e-mailed to the OAC;
* a run with office hours that exclude now: the same;
* the mayor is offboarded: her mailbox (a message and a greeting) is archived
  (0600) and removed; her extension is in quarantine, so the run that gives it
  to her successor stops in the preflight; with a quarantine of 0 days the
  successor gets it with an empty mailbox (issue 18 D).

Runs after test_pbx_calls.py and test_pbx_load.py (file order): it leaves the
office closed.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import shlex
import time
import zoneinfo

import pytest
import yaml
from pbx_helpers import (
    AGENTS,
    CARRIER,
    PBX,
    aor,
    audit_params,
    carrier_call,
    cdr_rows,
    ctl,
    load_agents,
    now,
)
from teletreball_testinfra import run_converge, wait_for

testinfra_hosts = ["podman://pbx"]

EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
NEWCOMER = {"username": "newcomer", "name": "Nova Persona",
            "email": "newcomer@prova.teletreball.test", "department": "Secretaria",
            "groups": ["staff"], "extension": 1030}
VOICEMAIL = "/var/spool/asterisk/voicemail/staff/900/INBOX"


def converge_with(variables, check=True):
    """Converge the PBX again with ``variables`` added to the inventory."""
    extra = EPHEMERAL / "test-extra-vars.json"
    extra.write_text(json.dumps(variables), encoding="utf-8")
    return run_converge("--extra-vars", f"@{extra}", "--limit", "localhost,pbx", check=check)


def named_people():
    """The scenario's named people, as molecule.yml lists them."""
    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml"
    config = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    return config["provisioner"]["inventory"]["group_vars"]["all"]["_pbx_test_people"]


def asterisk_uptime_seconds():
    out = PBX.check_output("asterisk -rx 'core show uptime seconds'")
    return int(out.split("System uptime:")[1].split()[0])


def voicemail_count():
    return int(PBX.check_output(f"find {VOICEMAIL} -name 'msg*.txt' 2>/dev/null | wc -l"))


def today_in_office_time_zone():
    return datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Madrid"))


@pytest.fixture(scope="module")
def run_during_a_call():
    """A call in progress, then a run that adds a person and declares today a holiday.

    One run for both: the change of people must reload Asterisk under the call,
    and the holiday governs the calls that come after it.
    """
    since = now()
    # Longer than any converge: the agent hangs up once the run is checked.
    unit = f"tt-long-call-{int(since)}"
    CARRIER.check_output(
        f"systemd-run --unit {unit} --property StandardOutput=file:/root/{unit}.json "
        "carrier_calls.py call --number 938000001 --duration 600")
    assert ctl("oac", f"wait --type CALL_ESTABLISHED --since {since} --timeout 30").get("ok")
    uptime_before = asterisk_uptime_seconds()
    started = time.time()
    today = today_in_office_time_zone().date().isoformat()
    result, stats = converge_with({
        "_pbx_test_people": named_people() + [NEWCOMER],
        "pbx_holidays": [{"date": today, "name": "Festa de prova"}]})
    took = time.time() - started
    calls_after_run = ctl("oac", "calls")["count"]
    time.sleep(12)
    ctl("oac", "hangupall")
    assert wait_for(lambda: CARRIER.run(f"systemctl is-active {unit}").stdout.strip()
                    != "active", 60, 2)
    return {"since": since, "unit": unit, "uptime_before": uptime_before, "took": took,
            "result": result, "stats": stats, "calls_after_run": calls_after_run}


def test_a_call_in_progress_survives_a_run_that_adds_a_person(host, run_during_a_call):
    run = run_during_a_call
    took = run["took"]
    assert run["stats"]["pbx"]["changed"] > 0, run["result"].stdout[-2000:]
    # Asterisk was reloaded, not restarted, and the call stayed up, with media.
    assert asterisk_uptime_seconds() >= run["uptime_before"] + int(took) - 2
    assert "newcomer" in PBX.check_output("asterisk -rx 'pjsip show endpoints'")
    assert run["calls_after_run"] == 1, "the call ended during the run"
    call = json.loads(CARRIER.check_output(f"cat /root/{run['unit']}.json"))["calls"][0]
    assert call["answered"] and call["media_both_ways"], call
    assert call["duration_ms"] >= took * 1000, (call["duration_ms"], took)
    agent = [c for c in ctl("oac", f"stats --since {run['since']}")["calls"]
             if c.get("established_at")]
    assert agent and agent[0]["rx_packets"] > 50 * took * 0.9, agent


def assert_call_reaches_voicemail(expected_status):
    since = now()
    messages_before = voicemail_count()
    # The two announcements take about 10 s, then the message is recorded.
    rc, result = carrier_call("938000000", duration=25)
    assert rc == 0 and result["summary"]["answered"] == 1, result
    assert not [c for c in ctl("oac", f"stats --since {since}")["calls"] if c.get("established_at")]
    rows = cdr_rows(since)
    assert any(r["lastapp"] == "VoiceMail" and r["userfield"] == expected_status
               for r in rows), rows
    assert wait_for(lambda: voicemail_count() > messages_before, 20)
    # The relay prints each message it receives; Asterisk Q-encodes the
    # subject ("[900] ..." is "=5B900=5D_..."), the message is attached.
    def mail():
        return AGENTS.check_output(
            f"journalctl -u tt-mail-relay --since @{int(since)} --no-pager")
    assert wait_for(lambda: "oac@prova.teletreball.test" in mail(), 30, 2), \
        "the OAC did not get the voicemail by e-mail"
    log = mail()
    assert "=5B900=5D" in log and 'audio/x-wav; name="msg' in log, log[-2000:]


def test_on_a_holiday_the_publics_calls_reach_the_oac_voicemail(host, run_during_a_call):
    assert_call_reaches_voicemail("holiday")


def test_out_of_office_hours_the_publics_calls_reach_the_oac_voicemail(host):
    local = today_in_office_time_zone()
    weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][local.weekday()]
    # Today's office hours ended at least an hour ago (or, just after midnight, start
    # in more than an hour: the converge and the call may cross the next hour).
    if local.hour >= 2:
        span = {"from": "00:00", "to": f"{local.hour - 1:02d}:00"}
    else:
        span = {"from": f"{local.hour + 2:02d}:00", "to": "24:00"}
    converge_with({"pbx_office_hours": {weekday: [span]}})
    assert_call_reaches_voicemail("closed")


MAYOR_BOX = "/var/spool/asterisk/voicemail/staff/1020"
VOICEMAIL_ARCHIVE = "/var/backups/teletreball/voicemail"
SUCCESSOR = {"username": "alcalde", "name": "Nou Alcalde",
             "email": "alcalde@prova.teletreball.test", "department": "Alcaldia",
             "groups": ["govern"], "extension": 1020}


def mailbox_line(extension):
    """The line of ``voicemail show users`` for a mailbox: context, number, name, zone
    and the number of new messages, counted by app_voicemail in the mailbox folder."""
    out = PBX.check_output("asterisk -rx 'voicemail show users for staff'")
    return next((line.split() for line in out.splitlines()
                 if line.split()[1:2] == [extension]), None)


@pytest.mark.control("PBX-VM-01")
@pytest.mark.control("TT-EXT-01")
def test_an_offboarded_persons_voicemail_is_archived_and_her_extension_held_back(
        host, control_check):
    # A message and a recorded greeting, as app_voicemail leaves them: the envelope
    # msg0000.txt next to the recording in the configured format (wav), and greet.wav.
    envelope = ("[message]\norigmailbox=1020\ncontext=from-staff\nmacrocontext=\n"
                f"exten=1020\npriority=2\ncallerchan=PJSIP/clerk\ncallerid=\"Clerk\" <1010>\n"
                f"origdate=\norigtime={int(time.time())}\ncategory=\nflag=\nduration=3\n")
    sound = "/usr/local/share/asterisk/teletreball/welcome-ca.wav"
    PBX.check_output(
        f"install -d -o asterisk -g asterisk -m 0750 {MAYOR_BOX} {MAYOR_BOX}/INBOX && "
        f"printf '%s' {shlex.quote(envelope)} > {MAYOR_BOX}/INBOX/msg0000.txt && "
        f"cp {sound} {MAYOR_BOX}/INBOX/msg0000.wav && cp {sound} {MAYOR_BOX}/greet.wav && "
        f"chown -R asterisk:asterisk {MAYOR_BOX}")
    assert mailbox_line("1020")[-1] == "1", "app_voicemail does not count the message"
    # Her softphone is switched off first: a phone that keeps registering an account
    # that no longer exists gets its address banned by fail2ban (the agents'
    # container, whose other phones the next tests use).
    ctl("staff", f"command uadel {aor('mayor')}")
    left = ctl("staff", "registered", check=False)["accounts"]
    assert left and aor("mayor") not in [a["aor"] for a in left], left
    people = named_people()
    absent = [dict(p, state="absent") if p["username"] == "mayor" else p for p in people]
    converge_with({"_pbx_test_people": absent})
    # Her mailbox and its folder are gone, the holders record names the present
    # people only, and the archives are private (0700 folder, 0600 tar.gz).
    control_check("PBX-VM-01", audit_params(absent + load_agents()))
    (archive,) = [name for name in PBX.check_output(f"ls {VOICEMAIL_ARCHIVE}").split()
                  if name.startswith("1020-")]
    listed = PBX.check_output(f"tar -tzf {VOICEMAIL_ARCHIVE}/{archive}").split()
    assert "1020/INBOX/msg0000.txt" in listed and "1020/greet.wav" in listed, listed
    # Her extension is held back: given to her successor, the run stops before the
    # PBX, naming him, the extension, her and the date it is free.
    refused, _ = converge_with({"_pbx_test_people": absent + [SUCCESSOR]}, check=False)
    assert refused.returncode != 0
    assert re.search(r"\(alcalde\): extension 1020 is in quarantine until \d{4}-\d\d-\d\d: "
                     r"it was mayor's until \d{4}-\d\d-\d\d", refused.stdout), \
        refused.stdout[-3000:]
    # With no quarantine the successor gets the extension, and an empty mailbox.
    converge_with({"_pbx_test_people": absent + [SUCCESSOR],
                   "teletreball_extension_quarantine_days": 0})
    line = mailbox_line("1020")
    assert line is not None and "Alcalde" in line and line[-1] == "0", line
    assert PBX.run(f"find {MAYOR_BOX} -name 'greet.*' -o -name 'msg*'").stdout.strip() == ""
    # The scenario's own directory again (the mayor back on her extension, without
    # waiting for its quarantine), for the tests after this one.
    converge_with({"teletreball_extension_quarantine_days": 0})
    line = mailbox_line("1020")
    assert line is not None and "Mayor" in line, line
