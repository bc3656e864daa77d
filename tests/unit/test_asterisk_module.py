"""Unit tests of the module teletreball_asterisk and its module_utils.

The fixtures in tests/unit/fixtures/asterisk/ are output of a real Asterisk 22
(Debian's package built for trixie): CLI output as ``asterisk -rx`` printed it, and
AMI conversations (``ami-*.txt``: the messages the manager sent, ``\\r\\n`` line ends
written as plain newlines). No test runs Asterisk: the CLI is a fake run_command and
the manager a fake server on a local socket that replays the recorded messages.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import socket
import sys
import threading

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_runner import load_library_module, refuse_commands, run_main

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "asterisk"
sys.path.insert(0, str(REPO / "module_utils"))

# The module imports our module_utils as Ansible would ship them.
ast = importlib.import_module("teletreball_asterisk")
sys.modules["ansible.module_utils.teletreball_asterisk"] = ast

def load_module():
    return load_library_module("teletreball_asterisk")


def fixture(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def lines(name):
    return fixture(name).split("\n")


# --- a fake CLI -------------------------------------------------------------------------


class FakeCli:
    """Stands for ``asterisk -rx``: answers each command from ``answers``
    (command -> text, or (rc, stdout, stderr)) and records the commands."""

    def __init__(self, answers):
        self.answers = answers
        self.commands = []

    def __call__(self, args, **kwargs):
        assert args[0] == "timeout" and args[3] == "-rx", args
        command = args[4]
        self.commands.append(command)
        answer = self.answers.get(command)
        if answer is None:
            return 0, f"No such command '{command}' (type 'core show help {command}' for " \
                "other possible commands)\n", ""
        if isinstance(answer, tuple):
            return answer
        return 0, answer, ""


@pytest.fixture
def control_socket(tmp_path):
    path = tmp_path / "asterisk.ctl"
    path.write_text("")
    return str(path)


def run_module(args, capsys, monkeypatch, cli=None, check_mode=False):
    module = load_module()
    if cli is not None:
        monkeypatch.setattr(AnsibleModule, "run_command",
                            lambda self, args, **kwargs: cli(args, **kwargs))
    monkeypatch.setattr(module.shutil, "which", lambda name: f"/usr/sbin/{name}")
    return run_main(module, args, capsys, check_mode)


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)


# --- a fake manager ---------------------------------------------------------------------


def ami_messages(name):
    """The recorded messages of an ``ami-*.txt`` fixture, as lists of lines."""
    messages = []
    for block in fixture(name).split("\n\n"):
        block = block.strip("\n")
        if block:
            messages.append(block.split("\n"))
    return messages


class FakeManager:
    """A manager on 127.0.0.1 that answers each action with recorded messages.

    ``script`` maps an action name (lower case) to a list of messages (lists of
    ``Key: Value`` lines); their ActionID is replaced by the one of the request.
    """

    def __init__(self, script, banner="Asterisk Call Manager/11.0.0"):
        self.script = script
        self.banner = banner
        self.actions = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.server.accept()
        with conn:
            conn.sendall(f"{self.banner}\r\n".encode())
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                block, _, buffer = buffer.partition(b"\r\n\r\n")
                request = ast.parse_message(block.decode())
                self.actions.append(request)
                action = request["Action"].lower()
                for message in self.script.get(action, [["Response: Error",
                                                         "Message: Invalid/unknown command"]]):
                    text = [
                        f"ActionID: {request['ActionID']}" if line.startswith("ActionID:")
                        else line for line in message
                    ]
                    if not any(line.startswith("ActionID:") for line in text):
                        text.insert(1, f"ActionID: {request['ActionID']}")
                    conn.sendall(("\r\n".join(text) + "\r\n\r\n").encode())
                if action == "logoff":
                    return

    def close(self):
        self.server.close()


LOGIN_OK = [["Response: Success", "Message: Authentication accepted"]]
LOGOFF = [["Response: Goodbye", "Message: Thanks for all the fish."]]


@pytest.fixture
def manager():
    made = []

    def make(script, **kwargs):
        server = FakeManager({"login": LOGIN_OK, "logoff": LOGOFF, **script}, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def replay(name):
    """The messages of a recorded AMI conversation after the banner and the login."""
    messages = ami_messages(name)
    assert messages[0][0].startswith("Asterisk Call Manager/")
    if messages[0][1:]:  # the banner line and the first message share a block
        messages[0] = messages[0][1:]
    else:
        messages.pop(0)
    if messages[0][:1] == ["Response: Success"] and "Authentication accepted" in messages[0][-1]:
        messages.pop(0)
    return messages


# --- CLI parsers on real output ---------------------------------------------------------


def test_endpoints():
    endpoints = ast.parse_endpoints(lines("cli-pjsip-show-endpoints.txt"))
    assert [e["name"] for e in endpoints] == ["agent1", "agent2", "carrier"]
    agent1, agent2, carrier = endpoints
    assert agent1 == {
        "name": "agent1", "callerid": "1001", "state": "Unavailable", "channels": 0,
        "aors": ["agent1"], "auths": ["agent1"], "outbound_auths": [],
        "transport": "transport-tls", "contacts": [],
    }
    assert agent2["state"] == "Not in use"
    assert agent2["contacts"] == ["sip:agent2@127.0.0.1:5090"]
    assert carrier["outbound_auths"] == ["carrier-out"] and carrier["auths"] == []
    assert carrier["transport"] == "transport-udp"


def test_contacts_registrations_transports():
    contacts = ast.parse_contacts(lines("cli-pjsip-show-contacts.txt"))
    assert [(c["aor"], c["uri"], c["status"]) for c in contacts] == [
        ("agent2", "sip:agent2@127.0.0.1:5090", "NonQual"),
        ("carrier", "sip:127.0.0.1:5070", "Unavail"),
    ]
    # "-nan" (never qualified) is no number: JSON has no NaN.
    assert all(c["rtt_ms"] is None for c in contacts)
    assert ast.parse_registrations(lines("cli-pjsip-show-registrations.txt")) == [{
        "name": "carrier-reg", "server_uri": "sip:127.0.0.1:5070", "auth": "carrier-out",
        "status": "Rejected"}]
    assert ast.parse_transports(lines("cli-pjsip-show-transports.txt")) == [
        {"name": "transport-tls", "protocol": "tls", "bind": "0.0.0.0:5061"},
        {"name": "transport-udp", "protocol": "udp", "bind": "0.0.0.0:5060"},
    ]


def test_registration_without_auth_and_nothing_to_list():
    text = [
        " <Registration/ServerURI..............................>  <Auth....................>"
        "  <Status.......>",
        "=" * 90, "",
        " carrier-reg/sip:127.0.0.1:5070                                                "
        "Registered        (exp. 3585s)",
        "", "Objects found: 1", ""]
    assert ast.parse_registrations(text)[0]["auth"] == ""
    assert ast.parse_registrations(text)[0]["status"] == "Registered"
    assert ast.parse_registrations(["No objects found.", ""]) == []


def test_queues_with_colours_paused_members_and_a_caller():
    queues = ast.parse_queues(lines("cli-queue-show.txt"))
    assert sorted(queues) == ["oac", "sales"]
    oac = queues["oac"]
    assert (oac["strategy"], oac["calls"], oac["max"]) == ("rrmemory", 1, 20)
    members = {m["interface"]: m for m in oac["members"]}
    assert members["PJSIP/agent2"]["paused"] is True
    assert members["PJSIP/agent2"]["paused_reason"] == "Lunch"
    assert members["PJSIP/agent2"]["state"] == "Not in use"
    assert members["PJSIP/agent2"]["membership"] == "dynamic"
    assert members["PJSIP/agent3"]["paused"] is True
    assert members["PJSIP/agent3"]["paused_reason"] == ""
    assert members["PJSIP/agent3"]["penalty"] == 2
    assert members["PJSIP/agent1"]["name"] == "Anna"
    assert members["PJSIP/agent1"]["paused"] is False
    assert members["PJSIP/agent1"]["state"] == "Unavailable"
    static = members["Local/400@test/n"]
    assert static["name"] == "Static Answerer" and static["membership"] == "static"
    assert static["in_call"] is True and static["state"] == "In use"
    assert static["calls_taken"] == 0 and static["last_call_age"] is None
    assert oac["callers"] == [
        {"position": 1, "channel": "Local/300@test-00000004;2", "wait": 78, "priority": 0}]
    assert queues["sales"]["members"] == [] and queues["sales"]["max"] == 0
    assert ast.parse_queues(lines("cli-queue-show-nosuch.txt")) == {}


def test_queue_member_that_took_calls():
    member = ast.parse_queues([
        "oac has 0 calls (max unlimited) in 'rrmemory' strategy (2s holdtime, 31s talktime), "
        "W:0, C:3, A:1, SL:100.0%, SL2:100.0% within 30s",
        "   Members: ",
        "      Anna (PJSIP/agent1) (ringinuse disabled) (dynamic) (Not in use) has taken 3 "
        "calls (last was 42 secs ago) (login was 600 secs ago)",
        "   No Callers", ""])["oac"]["members"][0]
    assert member["calls_taken"] == 3 and member["last_call_age"] == 42
    assert member["login_age"] == 600


def test_channels_bridged_peers():
    channels = {c["channel"]: c for c in ast.parse_channels(
        lines("cli-core-show-channels-concise.txt"))}
    assert len(channels) == 10
    caller = channels["Local/300@test-00000002;2"]
    assert caller["application"] == "Queue" and caller["data"] == "oac"
    assert caller["bridged_with"] == ["Local/400@test-00000003;1"]
    assert channels["Local/400@test-00000003;1"]["bridged_with"] == [
        "Local/300@test-00000002;2"]
    assert channels["Local/300@test-00000004;2"]["bridged_with"] == []  # still waiting
    assert channels["Local/100@test-00000000;1"]["data"] == "Local/200@test/n"
    assert all(c["state"] == "Up" and c["duration"] > 0 for c in channels.values())


def test_channel_data_with_the_separator():
    line = "PJSIP/agent1-00000001!agents!1001!1!Up!Dial!PJSIP/a!b,30!1001!!!3!12!br-1!17.1"
    (channel,) = ast.parse_channels([line])
    assert channel["data"] == "PJSIP/a!b,30"
    assert channel["duration"] == 12 and channel["uniqueid"] == "17.1"


def test_modules():
    modules = ast.parse_modules(lines("cli-module-show-like-res_pjsip.txt"))
    assert len(modules) == 47
    assert modules["res_pjsip_session.so"]["status"] == "Running"
    assert "res_pjsip_xpidf_body_generator.so" in modules  # name wider than its column
    assert ast.parse_modules(lines("cli-module-show-like-queue.txt")) == {
        "app_queue.so": {"description": "True Call Queueing", "use_count": 2,
                         "status": "Running", "support_level": "core"}}


@pytest.mark.parametrize("parser, text", [
    (ast.parse_endpoints, "Endpoint:  agent1\n"),
    (ast.parse_endpoints, "\n" + "=" * 90 + "\n\n Endpoint:  agent1   Sleeping  0 of inf\n"),
    (ast.parse_contacts, "=" * 90 + "\n  Contact:  agent2/sip:x\n\nObjects found: 1\n"),
    (ast.parse_transports, "=" * 90 + "\nTransport:  t  udp 0 0 0.0.0.0:5060\n\n"
                           "Objects found: 2\n"),
    (ast.parse_queues, "Unable to find queue\n"),
    (ast.parse_queues, "oac has 0 calls (max unlimited) in 'ringall' strategy (0s holdtime, "
                       "0s talktime), W:0, C:0, A:0, SL:0.0%, SL2:0.0% within 0s\n"
                       "   Members: \n      PJSIP/a (dynamic) has taken no calls yet\n"),
    (ast.parse_channels, "PJSIP/a!agents!1001!1!Up\n"),
    (ast.parse_modules, "Module  Description\napp_queue.so  x\n"),
    (ast.parse_modules, lines("cli-module-show-like-queue.txt")[:-2]),  # no total
])
def test_malformed_output_is_an_error(parser, text):
    with pytest.raises(ast.ParseError, match="Unexpected|No device state"):
        parser(text.split("\n") if isinstance(text, str) else text)


@pytest.mark.parametrize("name, fixture_name, fails", [
    ("res_pjsip.so", "cli-module-reload-res_pjsip.txt", None),
    ("app_queue.so", "cli-module-reload-app_queue.txt", None),
    ("app_voicemail.so", "cli-module-reload-app_voicemail.txt", None),
    ("pbx_config", "cli-module-reload-pbx_config.txt", None),
    ("pbx_config", "cli-module-reload-pbx_config-failed.txt", "reported a reload failure"),
    ("res_nosuch.so", "cli-module-reload-unknown.txt", "No such module 'res_nosuch.so'"),
    ("app_dial.so", "cli-module-reload-not-supported.txt", "does not support reloads"),
    ("res_pjsip.so", "cli-module-reload-app_queue.txt", "app_queue.so' reloaded"),
])
def test_reload_answers(name, fixture_name, fails):
    problem = ast.reload_problem(name, lines(fixture_name))
    if fails is None:
        assert problem is None
    else:
        assert problem.startswith(f"Reloading the Asterisk module {name} failed: ")
        assert fails in problem


def test_read_only_commands():
    for command in ("pjsip show endpoints", "core show channels", "queue show oac",
                    "database get pbx x", "core ping", "pjsip list contacts",
                    "dialplan show agents"):
        assert ast.is_read_only(command), command
    for command in ("core restart now", "module unload app_queue.so", "channel request "
                    "hangup all", "queue add member PJSIP/a to oac", "database put a b c",
                    "core stop gracefully", "pjsip send notify x endpoint y"):
        assert not ast.is_read_only(command), command


# --- the module with a fake CLI ---------------------------------------------------------


def test_gather_through_the_cli(capsys, monkeypatch, control_socket):
    cli = FakeCli({
        "pjsip show endpoints": fixture("cli-pjsip-show-endpoints.txt"),
        "queue show oac": fixture("cli-queue-show.txt").split("\nsales ")[0],
        "core show channels concise": fixture("cli-core-show-channels-concise.txt"),
    })
    result = run_module({"gather": ["endpoints", "queues", "channels", "queues"],
                         "queue": "oac", "control_socket": control_socket},
                        capsys, monkeypatch, cli)
    assert result["rc"] == 0 and result["changed"] is False
    assert cli.commands == ["pjsip show endpoints", "queue show oac",
                            "core show channels concise"]
    assert list(result["queues"]) == ["oac"]
    assert len(result["endpoints"]) == 3 and len(result["channels"]) == 10
    assert result["reloaded"] == []


def test_reload_then_gather(capsys, monkeypatch, control_socket):
    cli = FakeCli({
        "module reload res_pjsip.so": fixture("cli-module-reload-res_pjsip.txt"),
        "pjsip show endpoints": fixture("cli-pjsip-show-endpoints.txt"),
    })
    result = run_module({"reload": ["res_pjsip.so"], "gather": ["endpoints"],
                         "control_socket": control_socket}, capsys, monkeypatch, cli)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["reloaded"] == ["res_pjsip.so"]
    assert cli.commands == ["module reload res_pjsip.so", "pjsip show endpoints"]


def test_check_mode_does_not_reload(capsys, monkeypatch, control_socket):
    cli = FakeCli({"pjsip show endpoints": fixture("cli-pjsip-show-endpoints.txt")})
    result = run_module({"reload": ["res_pjsip.so", "app_queue.so"], "gather": ["endpoints"],
                         "control_socket": control_socket},
                        capsys, monkeypatch, cli, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["reloaded"] == ["res_pjsip.so", "app_queue.so"]
    assert cli.commands == ["pjsip show endpoints"]


@pytest.mark.parametrize("module_name, fixture_name, said", [
    ("pbx_config", "cli-module-reload-pbx_config-failed.txt",
     "The module 'pbx_config' reported a reload failure"),
    ("res_nosuch.so", "cli-module-reload-unknown.txt", "No such module 'res_nosuch.so'"),
])
def test_failed_reload_stops_the_run(capsys, monkeypatch, control_socket, module_name,
                                     fixture_name, said):
    cli = FakeCli({
        "module reload app_queue.so": fixture("cli-module-reload-app_queue.txt"),
        f"module reload {module_name}": fixture(fixture_name),
    })
    result = run_module({"reload": ["app_queue.so", module_name, "app_voicemail.so"],
                         "control_socket": control_socket}, capsys, monkeypatch, cli)
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"] == f"Reloading the Asterisk module {module_name} failed: {said}"
    assert result["reloaded"] == ["app_queue.so"]
    assert cli.commands == ["module reload app_queue.so", f"module reload {module_name}"]


def test_not_running_without_the_control_socket(capsys, monkeypatch, tmp_path):
    socket_path = str(tmp_path / "asterisk.ctl")
    result = run_module({"gather": ["queues"], "control_socket": socket_path},
                        capsys, monkeypatch, FakeCli({}))
    assert result["rc"] == 1
    assert result["msg"] == f"Asterisk is not running (no control socket {socket_path})"


def test_not_running_with_a_stale_control_socket(capsys, monkeypatch, control_socket):
    said = "Unable to connect to remote asterisk (does /var/run/asterisk/asterisk.ctl exist?)\n"
    cli = FakeCli({"queue show": (1, "", said)})
    result = run_module({"gather": ["queues"], "control_socket": control_socket},
                        capsys, monkeypatch, cli)
    assert result["rc"] == 1
    assert result["msg"] == f"Asterisk is not running (no control socket {control_socket})"


def test_unknown_command_and_malformed_output_fail(capsys, monkeypatch, control_socket):
    cli = FakeCli({"pjsip show registrationss": fixture("cli-unknown-command.txt")})
    result = run_module({"command": "pjsip show registrationss",
                         "control_socket": control_socket}, capsys, monkeypatch, cli)
    assert result["rc"] == 1 and "does not know the command" in result["msg"]
    cli = FakeCli({"pjsip show transports": "something else entirely\n"})
    result = run_module({"gather": ["transports"], "control_socket": control_socket},
                        capsys, monkeypatch, cli)
    assert result["rc"] == 1 and "Unexpected output of 'pjsip show transports'" in result["msg"]


def test_raw_command(capsys, monkeypatch, control_socket):
    cli = FakeCli({"pjsip show transports": fixture("cli-pjsip-show-transports.txt")})
    result = run_module({"command": "pjsip show transports", "control_socket": control_socket},
                        capsys, monkeypatch, cli, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is False
    assert "Transport:  transport-udp             udp      0      0  0.0.0.0:5060" in \
        result["stdout_lines"]


def test_writing_command_needs_allow_write_and_skips_in_check_mode(
        capsys, monkeypatch, control_socket):
    command = "queue pause member PJSIP/agent2 queue oac reason Lunch"
    cli = FakeCli({command: "paused interface 'PJSIP/agent2' in queue 'oac' for reason "
                            "'Lunch'\n"})
    refused = run_module({"command": command, "control_socket": control_socket},
                         capsys, monkeypatch, cli)
    assert refused["rc"] == 1 and "allow_write" in refused["msg"]
    assert cli.commands == []
    checked = run_module({"command": command, "allow_write": True,
                          "control_socket": control_socket},
                         capsys, monkeypatch, cli, check_mode=True)
    assert checked["changed"] is True and checked["stdout_lines"] == [] and cli.commands == []
    done = run_module({"command": command, "allow_write": True,
                       "control_socket": control_socket}, capsys, monkeypatch, cli)
    assert done["changed"] is True and cli.commands == [command]
    assert done["stdout_lines"] == [
        "paused interface 'PJSIP/agent2' in queue 'oac' for reason 'Lunch'"]


@pytest.mark.parametrize("args, said", [
    ({"reload": ["res_pjsip.so app_queue.so"]}, "is not an Asterisk module name"),
    ({"command": "core show uptime\ncore restart now"}, "one line"),
    ({"via": "ami", "gather": ["queues"]}, "ami_username is required"),
    ({"timeout": 0}, "at least 1 second"),
])
def test_bad_parameters(capsys, monkeypatch, args, said):
    result = run_module(args, capsys, monkeypatch)
    assert result["rc"] == 1 and said in result["msg"]


# --- the manager interface --------------------------------------------------------------


def ami_args(server, **more):
    return {"via": "ami", "ami_port": server.port, "ami_username": "teletreball",
            "ami_secret": "ami-test-secret", "timeout": 5, **more}


def test_ami_gather_every_list(capsys, monkeypatch, manager):
    server = manager({
        "pjsipshowendpoints": replay("ami-endpoints.txt"),
        "pjsipshowcontacts": replay("ami-contacts.txt"),
        "pjsipshowregistrationsoutbound": replay("ami-registrations.txt"),
        "queuestatus": replay("ami-queuestatus.txt"),
        "coreshowchannels": replay("ami-channels.txt"),
        "command": replay("ami-command-transports.txt"),
    })
    result = run_module(ami_args(server, gather=[
        "endpoints", "contacts", "registrations", "queues", "channels", "transports"],
        queue="oac"), capsys, monkeypatch)
    assert result["rc"] == 0 and result["changed"] is False
    cli_endpoints = ast.parse_endpoints(lines("cli-pjsip-show-endpoints.txt"))
    for endpoint in cli_endpoints:
        endpoint["callerid"] = ""  # the AMI list has no caller ID
    assert result["endpoints"] == cli_endpoints
    assert result["contacts"] == []  # "No Contacts found": no device registered
    assert result["registrations"] == [{
        "name": "carrier-reg", "server_uri": "sip:127.0.0.1:5070", "auth": "carrier-out",
        "status": "Rejected"}]
    assert "example-only-3" not in result["raw"]  # AuthDetail is not returned
    members = {m["interface"]: m for m in result["queues"]["oac"]["members"]}
    assert members["PJSIP/agent2"]["paused"] is True
    assert members["PJSIP/agent2"]["paused_reason"] == "Lunch"
    assert members["PJSIP/agent2"]["state"] == "Not in use"
    assert members["PJSIP/agent3"]["state"] == "Invalid"
    assert members["PJSIP/agent1"]["name"] == "Anna"
    assert members["PJSIP/agent1"]["state"] == "Unavailable"
    assert members["Local/400@test/n"]["in_call"] is True
    assert result["queues"]["oac"]["callers"][0]["channel"] == "Local/300@test-00000004;2"
    channels = {c["channel"]: c for c in result["channels"]}
    assert channels["Local/300@test-00000002;2"]["bridged_with"] == [
        "Local/400@test-00000003;1"]
    assert channels["Local/300@test-00000002;2"]["duration"] == 55
    assert [t["name"] for t in result["transports"]] == ["transport-tls", "transport-udp"]
    actions = [a["Action"] for a in server.actions]
    assert actions[0] == "Login" and actions[-1] == "Logoff"
    assert {"Action": "QueueStatus", "Queue": "oac"}.items() <= server.actions[4].items()
    assert "ami-test-secret" not in result["raw"]


def test_ami_and_cli_queue_facts_have_the_same_keys():
    cli = ast.parse_queues(lines("cli-queue-show.txt"))["oac"]
    _, *events = [ast.parse_message("\r\n".join(m)) for m in replay("ami-queuestatus.txt")]
    ami = ast.ami_queues(events, now=1795930500)["oac"]
    assert set(cli) == set(ami)
    assert set(cli["members"][0]) == set(ami["members"][0])
    assert [m["interface"] for m in cli["members"]] == [m["interface"] for m in ami["members"]]
    assert [m["state"] for m in cli["members"]] == [m["state"] for m in ami["members"]]
    assert [m["paused"] for m in cli["members"]] == [m["paused"] for m in ami["members"]]


def test_ami_reload(capsys, monkeypatch, manager):
    server = manager({"command": replay("ami-command-reload.txt")})
    result = run_module(ami_args(server, reload=["res_pjsip.so"]), capsys, monkeypatch)
    assert result["rc"] == 0 and result["changed"] is True
    assert {"Action": "Command", "Command": "module reload res_pjsip.so"}.items() \
        <= server.actions[1].items()


def test_ami_unknown_command(capsys, monkeypatch, manager):
    server = manager({"command": replay("ami-command-unknown.txt")})
    result = run_module(ami_args(server, command="core show no such thing"),
                        capsys, monkeypatch)
    assert result["rc"] == 1
    assert result["msg"].startswith(
        "Asterisk refused the command 'core show no such thing': No such command")


def test_ami_login_refused(capsys, monkeypatch, manager):
    server = manager({"login": replay("ami-login-refused.txt")})
    result = run_module(ami_args(server, gather=["queues"]), capsys, monkeypatch)
    assert result["rc"] == 1
    assert "refused the login of 'teletreball'" in result["msg"]
    assert "Authentication failed" in result["msg"]
    assert "ami-test-secret" not in result["raw"]


def test_ami_nothing_listening(capsys, monkeypatch):
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    args = {"via": "ami", "ami_port": port, "ami_username": "teletreball",
            "ami_secret": "ami-test-secret", "gather": ["queues"]}
    result = run_module(args, capsys, monkeypatch)
    assert result["rc"] == 1
    assert result["msg"].startswith(f"Cannot connect to the Asterisk manager at 127.0.0.1:{port}")


def test_ami_timeout_and_wrong_banner():
    quiet = socket.create_server(("127.0.0.1", 0))
    try:
        client = ast.AmiClient("127.0.0.1", quiet.getsockname()[1], timeout=0.3)
        with pytest.raises(ast.AmiError, match="did not answer within 0.3 s"):
            client.connect()
        client.close()
    finally:
        quiet.close()
    left, right = socket.socketpair()
    right.sendall(b"SSH-2.0-OpenSSH_10.0\r\n")
    with pytest.raises(ast.AmiError, match="is not an Asterisk manager"):
        ast.AmiClient(sock=left, timeout=1).connect()
    left.close()
    right.close()


def test_ami_event_list_skips_other_messages():
    left, right = socket.socketpair()
    right.sendall(
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
        b"Response: Success\r\nActionID: teletreball-1\r\nEventList: start\r\n\r\n"
        b"Event: QueueParams\r\nActionID: other\r\nQueue: x\r\n\r\n"
        b"Event: QueueParams\r\nActionID: teletreball-1\r\nQueue: oac\r\n\r\n"
        b"Event: QueueStatusComplete\r\nActionID: teletreball-1\r\nEventList: Complete\r\n\r\n")
    client = ast.AmiClient(sock=left, timeout=1)
    client.connect()
    response, events = client.event_list("QueueStatus")
    assert response["EventList"] == "start"
    assert [e["Queue"] for e in events] == ["oac"]
    assert b"Action: QueueStatus\r\nActionID: teletreball-1\r\n\r\n" == right.recv(1000)
    with pytest.raises(ast.AmiError, match="single line"):
        client.send("Command", Command="core show uptime\r\nAction: Logoff")
    left.close()
    right.close()
