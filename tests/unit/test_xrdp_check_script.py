"""Unit tests of teletreball-xrdp-check (roles/vdi/files/teletreball-xrdp-check.py).

The role runs ``teletreball-xrdp-check xrdp|sesman FILE`` as the validate: command of
/etc/xrdp/xrdp.ini and sesman.ini. The comparison of the certificate with its key runs
openssl: most tests put a fake ``public_key`` in the module's place; the tests marked
``needs_openssl`` run the real openssl on key pairs made for them and are skipped,
explicitly, where openssl is missing. The group of sesman.ini is looked up for real:
the tests use this machine's group of the current process and a name nobody has.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys

import pytest
from role_scripts import load_role_script, load_script, script_path, usage_error

SCRIPT = script_path("vdi", "teletreball-xrdp-check")
NO_GROUP = "tt-no-such-group-x9"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is missing")

# The shape of roles/vdi/templates/xrdp.ini.j2 and sesman.ini.j2, rendered.
XRDP_INI = """\
; Ansible managed
[Globals]
ini_version=1
fork=true
port=tcp://:3389
security_layer=tls
crypt_level=high
certificate={tls}/cert.pem
key_file={tls}/key.pem
ssl_protocols=TLSv1.2, TLSv1.3
tls_ciphers=HIGH
autorun=
ls_title=teletreball

[Logging]
LogFile=/var/log/xrdp.log

[Channels]
rdpdr=false
cliprdr=false

[Xorg]
name=Xorg
lib=libxup.so
username=ask
password=ask
port=-1
code=20
"""

SESMAN_INI = """\
; Ansible managed
[Globals]
EnableUserWindowManager=false
DefaultWindowManager=startwm.sh

[Security]
AllowRootLogin=false
MaxLoginRetry=3
TerminalServerUsers={group}
AlwaysGroupCheck=true
SessionSockdirGroup=xrdp

[Sessions]
X11DisplayOffset=10
MaxSessions=2
Policy=Default

[Xorg]
param=/usr/lib/xorg/Xorg
param=-config
param=xrdp/xorg.conf
param=-noreset

[SessionVariables]
PULSE_SCRIPT=/etc/xrdp/pulse/default.pa
"""


@pytest.fixture(scope="module")
def checker():
    return load_role_script("vdi", "teletreball-xrdp-check")


@pytest.fixture
def keys(checker, monkeypatch):
    """A fake public_key(): the certificate and key files hold the name of their key
    ("KEY-A"); a missing file reads as None, as a failing openssl does."""
    calls = []

    def public_key(args):
        calls.append(args)
        try:
            with open(args[-1], encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return None

    monkeypatch.setattr(checker, "public_key", public_key)
    return calls


@pytest.fixture
def my_group():
    return grp.getgrgid(os.getgid()).gr_name


def xrdp_ini(tmp_path, cert="KEY-A", key="KEY-A", **changes):
    tls = tmp_path / "tls"
    tls.mkdir(exist_ok=True)
    for name, content in (("cert.pem", cert), ("key.pem", key)):
        if content is not None:
            (tls / name).write_text(content, encoding="utf-8")
    return write(tmp_path / "xrdp.ini", XRDP_INI.format(tls=tls), changes)


def sesman_ini(tmp_path, group, **changes):
    return write(tmp_path / "sesman.ini", SESMAN_INI.format(group=group), changes)


def write(path, text, changes):
    """text with the lines key=... of changes replaced (None: removed)."""
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        if key in changes:
            if changes[key] is not None:
                lines.append(f"{key}={changes[key]}")
            continue
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(checker, capsys, kind, path):
    rc = checker.main([kind, str(path)])
    captured = capsys.readouterr()
    assert captured.out == ""
    return rc, captured.err.splitlines()


# --- xrdp.ini -----------------------------------------------------------------------------


def test_a_good_xrdp_ini_passes(checker, keys, capsys, tmp_path):
    path = xrdp_ini(tmp_path)
    assert run(checker, capsys, "xrdp", path) == (0, [])
    tls = tmp_path / "tls"
    assert keys == [["openssl", "x509", "-noout", "-pubkey", "-in", f"{tls}/cert.pem"],
                    ["openssl", "pkey", "-pubout", "-in", f"{tls}/key.pem"]]


def test_tls_1_3_alone_passes(checker, keys, capsys, tmp_path):
    path = xrdp_ini(tmp_path, ssl_protocols="TLSv1.3")
    assert run(checker, capsys, "xrdp", path) == (0, [])


@pytest.mark.parametrize("layer", ["rdp", "negotiate", "TLS"])
def test_xrdp_without_tls_is_refused(checker, keys, capsys, tmp_path, layer):
    path = xrdp_ini(tmp_path, security_layer=layer)
    assert run(checker, capsys, "xrdp", path) == (1, [f"{path}: security_layer must be tls"])


@pytest.mark.parametrize("protocols", ["TLSv1.2, TLSv1.1", "SSLv3,TLSv1.2", " TLSv1 ,TLSv1.3"])
def test_old_protocols_are_refused(checker, keys, capsys, tmp_path, protocols):
    path = xrdp_ini(tmp_path, ssl_protocols=protocols)
    assert run(checker, capsys, "xrdp", path) == (
        1, [f"{path}: ssl_protocols must not offer SSLv3, TLSv1 or TLSv1.1"])


def test_a_key_that_is_not_the_certificates_is_refused(checker, keys, capsys, tmp_path):
    path = xrdp_ini(tmp_path, key="KEY-B")
    tls = tmp_path / "tls"
    assert run(checker, capsys, "xrdp", path) == (
        1, [f"{path}: {tls}/key.pem is not the key of {tls}/cert.pem"])


@pytest.mark.parametrize("missing", ["cert", "key"])
def test_an_unreadable_certificate_or_key_is_refused(checker, keys, capsys, tmp_path, missing):
    path = xrdp_ini(tmp_path, **{missing: None})
    tls = tmp_path / "tls"
    assert run(checker, capsys, "xrdp", path) == (
        1, [f"{path}: cannot read {tls}/cert.pem or {tls}/key.pem"])


def test_every_problem_of_xrdp_ini_is_reported(checker, keys, capsys, tmp_path):
    path = xrdp_ini(tmp_path, key="KEY-B", security_layer="rdp", ssl_protocols="TLSv1")
    rc, errors = run(checker, capsys, "xrdp", path)
    assert rc == 1
    assert [e.split(": ", 1)[1] for e in errors] == [
        "security_layer must be tls",
        "ssl_protocols must not offer SSLv3, TLSv1 or TLSv1.1",
        f"{tmp_path}/tls/key.pem is not the key of {tmp_path}/tls/cert.pem",
    ]


@pytest.mark.parametrize("option",
                         ["port", "security_layer", "certificate", "key_file", "ssl_protocols"])
def test_a_missing_xrdp_option_is_refused_before_openssl_runs(
        checker, keys, capsys, tmp_path, option):
    path = xrdp_ini(tmp_path, **{option: None})
    assert run(checker, capsys, "xrdp", path) == (1, [f"{path}: [Globals] {option} is missing"])
    assert keys == []


def test_a_missing_globals_section_is_refused(checker, keys, capsys, tmp_path):
    path = tmp_path / "xrdp.ini"
    path.write_text("[Logging]\nLogLevel=INFO\n", encoding="utf-8")
    rc, errors = run(checker, capsys, "xrdp", path)
    assert rc == 1
    assert errors[0] == f"{path}: [Globals] port is missing"
    assert len(errors) == 5


def test_an_option_given_twice_is_refused(checker, keys, capsys, tmp_path):
    path = xrdp_ini(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "security_layer=tls\n", "security_layer=tls\nsecurity_layer=rdp\n")
    path.write_text(text, encoding="utf-8")
    assert run(checker, capsys, "xrdp", path) == (
        1, [f"{path}: [Globals] security_layer is given twice"])
    assert keys == []


# --- sesman.ini ---------------------------------------------------------------------------


def test_a_good_sesman_ini_passes(checker, capsys, tmp_path, my_group):
    # The repeated param= lines (the X server's arguments) are allowed.
    path = sesman_ini(tmp_path, my_group)
    assert run(checker, capsys, "sesman", path) == (0, [])


@pytest.mark.parametrize(("root", "check"), [("False", "True"), ("no", "yes"), ("0", "1")])
def test_sesman_booleans_in_any_spelling_pass(checker, capsys, tmp_path, my_group, root, check):
    path = sesman_ini(tmp_path, my_group, AllowRootLogin=root, AlwaysGroupCheck=check)
    assert run(checker, capsys, "sesman", path) == (0, [])


def test_a_missing_group_is_refused(checker, capsys, tmp_path):
    path = sesman_ini(tmp_path, NO_GROUP)
    assert run(checker, capsys, "sesman", path) == (
        1, [f"{path}: the group {NO_GROUP} does not exist"])


@pytest.mark.parametrize("value", ["true", "yes", "1", ""])
def test_root_logins_are_refused(checker, capsys, tmp_path, my_group, value):
    path = sesman_ini(tmp_path, my_group, AllowRootLogin=value)
    assert run(checker, capsys, "sesman", path) == (1, [f"{path}: AllowRootLogin must be false"])


@pytest.mark.parametrize("value", ["false", "no", "0", ""])
def test_skipping_the_group_check_is_refused(checker, capsys, tmp_path, my_group, value):
    path = sesman_ini(tmp_path, my_group, AlwaysGroupCheck=value)
    assert run(checker, capsys, "sesman", path) == (1, [f"{path}: AlwaysGroupCheck must be true"])


@pytest.mark.parametrize(("option", "section"), [
    ("TerminalServerUsers", "Security"), ("AlwaysGroupCheck", "Security"),
    ("AllowRootLogin", "Security"), ("MaxSessions", "Sessions"),
])
def test_a_missing_sesman_option_is_refused(checker, capsys, tmp_path, my_group, option, section):
    path = sesman_ini(tmp_path, my_group, **{option: None})
    assert run(checker, capsys, "sesman", path) == (1, [f"{path}: [{section}] {option} is missing"])


def test_every_problem_of_sesman_ini_is_reported(checker, capsys, tmp_path):
    path = sesman_ini(tmp_path, NO_GROUP, AllowRootLogin="true", AlwaysGroupCheck="false")
    rc, errors = run(checker, capsys, "sesman", path)
    assert rc == 1
    assert errors == [f"{path}: the group {NO_GROUP} does not exist",
                      f"{path}: AllowRootLogin must be false",
                      f"{path}: AlwaysGroupCheck must be true"]


def test_a_sesman_option_given_twice_is_refused(checker, capsys, tmp_path, my_group):
    path = sesman_ini(tmp_path, my_group)
    text = path.read_text(encoding="utf-8").replace("MaxSessions=2\n",
                                                    "MaxSessions=2\nMaxSessions=50\n")
    path.write_text(text, encoding="utf-8")
    assert run(checker, capsys, "sesman", path) == (
        1, [f"{path}: [Sessions] MaxSessions is given twice"])


# --- files that cannot be read ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["xrdp", "sesman"])
def test_a_missing_file_is_reported(checker, capsys, tmp_path, kind):
    path = tmp_path / "missing.ini"
    rc, errors = run(checker, capsys, kind, path)
    assert rc == 1 and len(errors) == 1
    assert errors[0].startswith(f"{path}: {path}: ")
    assert "No such file or directory" in errors[0]


@pytest.mark.parametrize(("text", "reason"), [
    ("port=3389\n[Globals]\n", "File contains no section headers"),
    ("[Globals]\nport\n", "Source contains parsing errors"),
])
def test_a_file_that_is_not_ini_is_reported(checker, keys, capsys, tmp_path, text, reason):
    path = tmp_path / "xrdp.ini"
    path.write_text(text, encoding="utf-8")
    rc, errors = run(checker, capsys, "xrdp", path)
    # configparser's message goes on over the next lines (the line it refused).
    assert rc == 1
    assert errors[0].startswith(f"{path}: ") and reason in errors[0]
    assert keys == []


def test_a_file_that_is_not_utf8_is_reported(checker, capsys, tmp_path):
    path = tmp_path / "sesman.ini"
    path.write_bytes("[Globals]\nls_title=Ajuntament de Llu\xefsa\n".encode("latin-1"))
    rc, errors = run(checker, capsys, "sesman", path)
    assert rc == 1 and len(errors) == 1
    assert "codec can't decode" in errors[0]


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["xrdp"], ["rdp", "x.ini"], ["xrdp", "a.ini", "b.ini"]])
def test_a_wrong_command_line_exits_2_with_the_usage(checker, capsys, argv):
    assert "usage: teletreball-xrdp-check" in usage_error(checker, argv, capsys)


# --- the real openssl ---------------------------------------------------------------------


def key_pair(folder, name):
    """A self-signed EC certificate and its key: folder/name.crt, folder/name.key."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", f"/CN={name}", "-days", "1",
         "-keyout", str(folder / f"{name}.key"), "-out", str(folder / f"{name}.crt")],
        check=True, capture_output=True)


@needs_openssl
def test_public_key_reads_the_same_key_from_a_certificate_and_its_key(checker, tmp_path):
    key_pair(tmp_path, "a")
    key_pair(tmp_path, "b")
    from_cert = checker.public_key(
        ["openssl", "x509", "-noout", "-pubkey", "-in", str(tmp_path / "a.crt")])
    assert from_cert and from_cert.startswith("-----BEGIN PUBLIC KEY-----")
    assert checker.public_key(["openssl", "pkey", "-pubout", "-in", str(tmp_path / "a.key")]) \
        == from_cert
    assert checker.public_key(["openssl", "pkey", "-pubout", "-in", str(tmp_path / "b.key")]) \
        != from_cert
    assert checker.public_key(["openssl", "pkey", "-pubout", "-in", str(tmp_path / "no.key")]) \
        is None


@needs_openssl
def test_the_installed_file_without_extension_runs_as_a_program(tmp_path, my_group):
    installed = tmp_path / "teletreball-xrdp-check"
    shutil.copy(SCRIPT, installed)
    assert sorted(load_script(installed).REQUIRED) == ["sesman", "xrdp"]
    tls = tmp_path / "tls"
    tls.mkdir()
    key_pair(tls, "cert")
    key_pair(tls, "other")
    (tls / "cert.crt").rename(tls / "cert.pem")
    (tls / "cert.key").rename(tls / "key.pem")
    path = write(tmp_path / "xrdp.ini", XRDP_INI.format(tls=tls), {})
    command = [sys.executable, str(installed)]
    result = subprocess.run([*command, "xrdp", str(path)], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    write(path, XRDP_INI.format(tls=tls), {"key_file": f"{tls}/other.key"})
    result = subprocess.run([*command, "xrdp", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1
    assert result.stderr == f"{path}: {tls}/other.key is not the key of {tls}/cert.pem\n"
    path = sesman_ini(tmp_path, NO_GROUP, AllowRootLogin="true")
    result = subprocess.run([*command, "sesman", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{path}: the group {NO_GROUP} does not exist",
                                          f"{path}: AllowRootLogin must be false"]
