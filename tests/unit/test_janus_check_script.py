"""Unit tests of teletreball-janus-check (roles/conference/files/teletreball-janus-check.py).

The role runs ``teletreball-janus-check --kind core|websockets|videoroom FILE`` as the
validate: command of Janus's three files, and ``--live`` in the handler after a
restart. Janus's own parser (janus-cfgconv) and python3-libconf exist on the chat
server only: here the parse step is replaced by a fake that returns what the
template would give, and the checks themselves are the real ones. The live check is
tested on the answers Janus gives to `info`.
"""

from __future__ import annotations

import subprocess
import types

import pytest
from role_scripts import load_role_script, usage_error

check = load_role_script("conference", "teletreball-janus-check")

CORE = {
    "general": {"token_auth": True, "token_auth_secret": "s3cret"},
    "plugins": {"disable": "libjanus_echotest.so"},
    "transports": {"disable": "libjanus_http.so"},
}
WEBSOCKETS = {
    "general": {"ws": True, "ws_port": 8188, "ws_ip": "127.0.0.1", "wss": False},
    "admin": {"admin_ws": False, "admin_wss": False},
}
VIDEOROOM = {
    "general": {"admin_key": "k", "string_ids": True},
    "room-govern": {"is_private": True, "signed_tokens": True, "secret": "x"},
}
INFO = {
    "janus": "server_info",
    "plugins": {"janus.plugin.videoroom": {}},
    "transports": {"janus.transport.websockets": {}},
    "auth_token": True,
    "api_secret": False,
    "events": {},
}


def with_changes(config, section, **changes):
    copy = {name: dict(values) for name, values in config.items()}
    copy.setdefault(section, {}).update(changes)
    return copy


@pytest.mark.parametrize(
    ("kind", "config"), [("core", CORE), ("websockets", WEBSOCKETS), ("videoroom", VIDEOROOM)]
)
def test_the_roles_files_pass(kind, config):
    assert check.CHECKS[kind](config) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (with_changes(CORE, "general", token_auth=False), "token_auth must be true"),
        (with_changes(CORE, "general", token_auth_secret=""), "token_auth_secret must be set"),
        # The package's own admin secret, and an API secret: both refused.
        (with_changes(CORE, "general", admin_secret="janusoverlord"), "admin API stays off"),  # noqa: S106
        (with_changes(CORE, "general", api_secret="x"), "bypass the tokens"),  # noqa: S106
        ({"general": CORE["general"]}, "plugins.disable must list"),
    ],
)
def test_core_refusals(config, expected):
    assert any(expected in problem for problem in check.check_core(config)), check.check_core(
        config
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (with_changes(WEBSOCKETS, "general", ws_ip="0.0.0.0"), "ws_ip must be 127.0.0.1"),  # noqa: S104
        (with_changes(WEBSOCKETS, "general", wss=True), "general.wss must not be set"),
        (
            with_changes(WEBSOCKETS, "general", ws_interface="eth0"),
            "general.ws_interface must not be set",
        ),
        (with_changes(WEBSOCKETS, "admin", admin_ws=True), "admin.admin_ws must be false"),
    ],
)
def test_websockets_refusals(config, expected):
    assert any(expected in problem for problem in check.check_websockets(config))


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (with_changes(VIDEOROOM, "general", admin_key=""), "admin_key must be set"),
        (
            with_changes(VIDEOROOM, "room-govern", is_private=False),
            "room-govern.is_private must be true",
        ),
        (
            with_changes(VIDEOROOM, "room-govern", signed_tokens=False),
            "room-govern.signed_tokens must be true",
        ),
        (with_changes(VIDEOROOM, "room-govern", secret=""), "room-govern.secret must be set"),
    ],
)
def test_videoroom_refusals(config, expected):
    assert any(expected in problem for problem in check.check_videoroom(config))


def test_janus_parser_refusal_is_reported_first(monkeypatch, tmp_path):
    path = tmp_path / ".janus.jcfg.candidate"
    path.write_text("general: {\n")
    seen = []

    def cfgconv(argv, **_kwargs):
        # janus-cfgconv reads a file by its extension: it gets a *.jcfg copy.
        seen.append(argv)
        assert argv[-1].endswith(".jcfg") and open(argv[-1]).read() == "general: {\n"
        return types.SimpleNamespace(
            returncode=1,
            stdout="Janus version: 1401 (1.4.1)\n",
            stderr="[ERR] [config.c:janus_config_parse:215] syntax error in line 2\n",
        )

    monkeypatch.setattr(check.subprocess, "run", cfgconv)
    assert check.check_file("core", str(path)) == [
        "Janus cannot read it: [ERR] [config.c:janus_config_parse:215] syntax error in line 2"
    ]
    assert seen and seen[0][:2] == ["/usr/bin/janus-cfgconv", "--parse"]


def test_main_reads_the_file_and_exits_1_with_a_line_per_problem(monkeypatch, capsys, tmp_path):
    path = tmp_path / "janus.jcfg"
    path.write_text("")
    monkeypatch.setattr(
        check.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "", "")
    )
    monkeypatch.setattr(
        check, "_load", lambda _path: with_changes(CORE, "general", token_auth=False)
    )
    assert check.main(["--kind", "core", str(path)]) == 1
    assert "teletreball-janus-check: general.token_auth must be true" in capsys.readouterr().err
    monkeypatch.setattr(check, "_load", lambda _path: CORE)
    assert check.main(["--kind", "core", str(path)]) == 0


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            dict(INFO, plugins={"janus.plugin.videoroom": {}, "janus.plugin.sip": {}}),
            "plugins loaded",
        ),
        (
            dict(INFO, transports={"janus.transport.http": {}, "janus.transport.websockets": {}}),
            "transports loaded",
        ),
        (dict(INFO, auth_token=False), "token authentication is off"),
        (dict(INFO, api_secret=True), "an API secret is set"),
        (dict(INFO, events={"janus.eventhandler.sampleevh": {}}), "event handlers loaded"),
        ({"janus": "error"}, "unexpected answer"),
    ],
)
def test_live_refusals(info, expected):
    assert check.check_live(INFO) == []
    assert any(expected in problem for problem in check.check_live(info))


def test_live_gives_up_after_the_wait(monkeypatch, capsys):
    def refuse(_url):
        raise OSError("connection refused")

    monkeypatch.setattr(check, "ask_info", refuse)
    assert check.main(["--live", "--wait", "0"]) == 1
    assert "does not answer" in capsys.readouterr().err


def test_a_kind_needs_a_file(capsys):
    assert "give --kind KIND FILE, or --live" in usage_error(check, ["--kind", "core"], capsys)
