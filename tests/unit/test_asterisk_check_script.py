"""Unit tests of teletreball-asterisk-check (roles/pbx/files/teletreball-asterisk-check.py).

The role runs it as the validate: command of every file it writes in /etc/asterisk,
``teletreball-asterisk-check --config-dir /etc/asterisk KIND FILE``, on a temporary copy
of the candidate: relative #include targets are looked up in --config-dir, not beside
the candidate. The checker runs no program; these tests use temporary folders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest
from role_scripts import load_role_script, load_script, script_path, usage_error

SCRIPT = script_path("pbx", "teletreball-asterisk-check")


@pytest.fixture(scope="module")
def checker():
    return load_role_script("pbx", "teletreball-asterisk-check")


@pytest.fixture
def config_dir(tmp_path):
    folder = tmp_path / "asterisk"
    folder.mkdir()
    return folder


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(checker, capsys, kind, path, config_dir):
    """Exit status and the stderr lines of one check."""
    rc = checker.main(["--config-dir", str(config_dir), kind, str(path)])
    captured = capsys.readouterr()
    assert captured.out == ""
    return rc, captured.err.splitlines()


GOOD_PJSIP = """\
    ; the transports are in their own file
    #include pjsip_auth.conf
    [endpoint-common](!)
    type = endpoint
    context = from-internal
    disallow = all
    allow = opus,alaw

    [anna](endpoint-common)
    auth = anna
    aors = anna
    callerid = "Anna \\; Roca" <101>   ; an escaped semicolon is not a comment

    [anna]
    type = aor
    max_contacts = 2

    [trunk]
    type = endpoint
    outbound_auth = trunk-auth
    aors = trunk

    [trunk]
    type = aor
    contact = sip:carrier.example

    [trunk]
    type = identify
    endpoint = trunk
    match = 192.0.2.10
    """

GOOD_AUTH = """\
    [anna]
    type = auth
    auth_type = userpass
    username = anna
    password = secret

    [trunk-auth]
    type = auth
    username = council
    password = other
    """

GOOD_EXTENSIONS = """\
    [general]
    static = yes
    writeprotect = yes

    [globals]
    QUEUE = agents

    [from-internal]
    include => outbound
    exten => 101,1,NoOp(${CALLERID(num)})
     same => n,Dial(PJSIP/anna,30)
     same => n,VoiceMail(101@default,u)
    exten => 102,1,Answer()
    exten => 102,2,Playback(teletreball/welcome-ca)
    exten => 102,3,Hangup()
    exten => _9X.,1,Set(N=$[${EXTEN:1} + 0])
    exten => _9X.,n(dial),Dial(PJSIP/${EXTEN:1}@trunk)

    [outbound]
    ignorepat => 9
    switch => Realtime/outbound@extensions
    """


# --- good files pass ----------------------------------------------------------------------


def test_a_good_generic_file_passes(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "queues.conf", """\
        ; comments, blank lines and options
        [general]
        persistentmembers = yes

        [agents]
        strategy = ringall
        member => PJSIP/anna
        """)
    assert run(checker, capsys, "generic", candidate, config_dir) == (0, [])


def test_a_good_pjsip_file_passes_with_its_include_from_the_config_dir(
        checker, capsys, config_dir, tmp_path):
    write(config_dir, "pjsip_auth.conf", GOOD_AUTH)
    # The candidate is a temporary copy elsewhere, as validate: makes it.
    candidate = write(tmp_path, "candidate.conf", GOOD_PJSIP)
    assert run(checker, capsys, "pjsip", candidate, config_dir) == (0, [])


def test_an_absolute_include_is_read_where_it_is(checker, capsys, config_dir, tmp_path):
    auth = write(tmp_path, "auth-elsewhere.conf", GOOD_AUTH)
    candidate = write(tmp_path, "candidate.conf",
                      GOOD_PJSIP.replace("#include pjsip_auth.conf", f'#include "{auth}"'))
    assert run(checker, capsys, "pjsip", candidate, config_dir) == (0, [])


def test_a_good_dial_plan_passes(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "extensions.conf", GOOD_EXTENSIONS)
    assert run(checker, capsys, "extensions", candidate, config_dir) == (0, [])


def test_the_kind_generic_does_not_check_pjsip_objects_or_the_dial_plan(
        checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", """\
        [a]
        type = endpoint
        auth = missing
        exten => 1,3,NoOp(
        """)
    assert run(checker, capsys, "generic", candidate, config_dir) == (0, [])


# --- what every kind refuses --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["generic", "pjsip", "extensions"])
def test_exec_is_refused(checker, capsys, config_dir, tmp_path, kind):
    candidate = write(tmp_path, "x.conf", "[general]\n#exec /bin/true\n")
    rc, errors = run(checker, capsys, kind, candidate, config_dir)
    assert rc == 1
    assert "x.conf:2: #exec runs programs; not allowed" in errors


def test_a_line_that_is_no_section_option_or_include_is_refused(
        checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", "[general]\nthis is not an option\n")
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert rc == 1
    assert errors == ["x.conf:2: not a section, option or #include: 'this is not an option'"]


def test_an_unclosed_section_header_is_refused(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", "[general\nkey = value\n")
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert rc == 1
    assert errors[0] == "x.conf:1: not a section, option or #include: '[general'"


def test_an_option_before_the_first_section_is_refused(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", "; header\nkey = value\n[general]\n")
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert (rc, errors) == (1, ["x.conf:2: option outside any [section]"])


def test_a_missing_include_is_looked_up_in_the_config_dir_and_refused(
        checker, capsys, config_dir, tmp_path):
    # Beside the candidate is not where Asterisk looks: it does not count.
    write(tmp_path, "pjsip_auth.conf", GOOD_AUTH)
    candidate = write(tmp_path, "x.conf", "[general]\n#include pjsip_auth.conf\n")
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert rc == 1
    assert errors == [f"x.conf:2: included file {config_dir / 'pjsip_auth.conf'} does not exist"]


def test_an_include_loop_is_refused(checker, capsys, config_dir, tmp_path):
    write(config_dir, "a.conf", "[a]\nkey = 1\n#include b.conf\n")
    write(config_dir, "b.conf", "[b]\nkey = 2\n#include a.conf\n")
    rc, errors = run(checker, capsys, "generic", config_dir / "a.conf", config_dir)
    assert rc == 1
    assert errors == [f"{config_dir / 'a.conf'}: included twice (loop)"]


def test_problems_in_an_included_file_name_that_file(checker, capsys, config_dir, tmp_path):
    write(config_dir, "inc.conf", "[x]\n#exec /bin/true\n")
    candidate = write(tmp_path, "x.conf", "[general]\n#include inc.conf\n")
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert (rc, errors) == (1, ["inc.conf:2: #exec runs programs; not allowed"])


def test_a_missing_candidate_is_reported(checker, capsys, config_dir, tmp_path):
    rc, errors = run(checker, capsys, "generic", tmp_path / "nothing.conf", config_dir)
    assert rc == 1
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'nothing.conf'}: cannot read: ")


def test_a_file_that_is_not_utf8_is_reported(checker, capsys, config_dir, tmp_path):
    candidate = tmp_path / "latin1.conf"
    candidate.write_bytes("[general]\nname = Llu\xefsa\n".encode("latin-1"))
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert rc == 1
    assert errors[0].startswith(f"{candidate}: cannot read: ")


def test_every_problem_is_one_line(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", "key = value\n[general]\n#exec /bin/true\nnonsense\n")
    rc, errors = run(checker, capsys, "generic", candidate, config_dir)
    assert rc == 1
    assert errors == [
        "x.conf:1: option outside any [section]",
        "x.conf:3: #exec runs programs; not allowed",
        "x.conf:4: not a section, option or #include: 'nonsense'",
    ]


# --- pjsip.conf ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ("[a]\ncontext = x\n", "[a]: no type"),
    ("[a]\ntype = endpont\n", "[a]: unknown type 'endpont'"),
    ("[a]\ntype = aor\n[a]\ntype = aor\n", "[a]: a second aor of this name"),
    ("[a](base)\ntype = aor\n", "[a]: template (base) is not defined"),
    ("[a]\ntype = endpoint\nauth = a\n", "x.conf:3: endpoint a: auth 'a' is not defined"),
    ("[a]\ntype = endpoint\noutbound_auth = t\n",
     "x.conf:3: endpoint a: outbound_auth 't' is not defined"),
    ("[a]\ntype = endpoint\naors = a, b\n[a]\ntype = aor\n",
     "x.conf:3: endpoint a: aors 'b' is not defined"),
    # An auth of the name is not an AOR.
    ("[a]\ntype = endpoint\naors = a\n[a]\ntype = auth\n",
     "x.conf:3: endpoint a: aors 'a' is not defined"),
])
def test_pjsip_problems_are_refused(checker, capsys, config_dir, tmp_path, text, problem):
    candidate = write(tmp_path, "x.conf", text)
    rc, errors = run(checker, capsys, "pjsip", candidate, config_dir)
    assert (rc, errors) == (1, [problem])


def test_pjsip_objects_take_their_type_and_references_from_templates(
        checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", """\
        [base](!)
        type = endpoint
        aors = missing
        [a](base)
        context = x
        """)
    rc, errors = run(checker, capsys, "pjsip", candidate, config_dir)
    assert (rc, errors) == (1, ["x.conf:3: endpoint a: aors 'missing' is not defined"])


def test_an_endpoint_may_use_an_auth_of_an_included_file(checker, capsys, config_dir, tmp_path):
    write(config_dir, "pjsip_auth.conf", GOOD_AUTH)
    candidate = write(tmp_path, "x.conf", "[anna]\ntype = endpoint\nauth = anna\n"
                                          "#include pjsip_auth.conf\n")
    assert run(checker, capsys, "pjsip", candidate, config_dir) == (0, [])


# --- extensions.conf ----------------------------------------------------------------------


@pytest.mark.parametrize(("line", "problem"), [
    ("exten => 1,1,Dial(PJSIP/a", "x.conf:2: unbalanced brackets: 1,1,Dial(PJSIP/a"),
    ("exten => 1,1,NoOp(${CALLERID(num))",
     "x.conf:2: unclosed ${...} or $[...]: 1,1,NoOp(${CALLERID(num))"),
    ("exten => 1,1,Set(A=$[1 + 1)", "x.conf:2: unclosed ${...} or $[...]: 1,1,Set(A=$[1 + 1)"),
    ("exten => 1,1", "x.conf:2: exten needs extension,priority,application"),
    ("exten => 1,2,Answer()", "x.conf:2: priority 2 of 1 does not follow"),
    ("exten => 1,x,Answer()", "x.conf:2: priority 'x' of 1"),
    ("context = x", "x.conf:2: [x]: unknown keyword 'context'"),
])
def test_dial_plan_problems_are_refused(checker, capsys, config_dir, tmp_path, line, problem):
    candidate = write(tmp_path, "x.conf", f"[x]\n{line}\n")
    rc, errors = run(checker, capsys, "extensions", candidate, config_dir)
    assert (rc, errors) == (1, [problem])


def test_priorities_must_follow_each_other_per_extension(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", """\
        [x]
        exten => 1,1,Answer()
        exten => 2,1,Answer()
        exten => 1,2,Playback(a)
        exten => 1,4,Hangup()
        """)
    rc, errors = run(checker, capsys, "extensions", candidate, config_dir)
    assert (rc, errors) == (1, ["x.conf:5: priority 4 of 1 does not follow"])


def test_general_and_globals_hold_any_option(checker, capsys, config_dir, tmp_path):
    candidate = write(tmp_path, "x.conf", "[general]\nstatic = yes\n[globals]\nA = (\n")
    assert run(checker, capsys, "extensions", candidate, config_dir) == (0, [])


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    [],
    ["generic", "x.conf"],  # no --config-dir
    ["--config-dir", "/etc/asterisk", "queues", "x.conf"],  # no such kind
    ["--config-dir", "/etc/asterisk", "generic"],  # no file
    ["--config-dir", "/etc/asterisk", "generic", "x.conf", "y.conf"],
])
def test_a_wrong_command_line_exits_2_with_the_usage(checker, capsys, argv):
    assert "usage: teletreball-asterisk-check" in usage_error(checker, argv, capsys)


def test_the_installed_file_without_extension_runs_as_a_program(config_dir, tmp_path):
    installed = tmp_path / "teletreball-asterisk-check"
    shutil.copy(SCRIPT, installed)
    assert load_script(installed).KINDS == ("generic", "pjsip", "extensions")
    write(config_dir, "pjsip_auth.conf", GOOD_AUTH)
    good = write(tmp_path, "good.conf", GOOD_PJSIP)
    bad = write(tmp_path, "bad.conf", "[a]\ntype = endpoint\nauth = missing\n")
    command = [sys.executable, str(installed), "--config-dir", str(config_dir), "pjsip"]
    result = subprocess.run([*command, str(good)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    result = subprocess.run([*command, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr == "bad.conf:3: endpoint a: auth 'missing' is not defined\n"
