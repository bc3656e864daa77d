"""Unit tests of the modules in library/: results, check mode and error paths."""

from __future__ import annotations

import base64
import copy
import json
import os
import stat
import subprocess
import tarfile

import pytest
from ansible.module_utils.testing import patch_module_args
from module_runner import load_library_module, run_main  # registers our module_utils too
from test_directory import VALID


def load(name):
    return load_library_module(name)


def run_module(name, args, capsys, check_mode=False):
    return run_main(load(name), args, capsys, check_mode)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def directory_args(tmp_path, **changes):
    args = copy.deepcopy(VALID)
    args.update(
        state_file=str(tmp_path / "creds" / "vpn-addresses.json"),
        quarantine_days=30,
        now="2026-11-01T12:00:00Z",
    )
    args.update(changes)
    return args


# --- teletreball_directory ------------------------------------------------------


def test_directory_writes_the_address_file_privately(tmp_path, capsys):
    result = run_module("teletreball_directory", directory_args(tmp_path), capsys)
    assert result["rc"] == 0 and result["changed"] is True
    state_file = tmp_path / "creds" / "vpn-addresses.json"
    assert mode(state_file) == 0o600
    assert mode(state_file.parent) == 0o700
    anna = result["directory"]["people"][0]
    assert anna["vpn_devices"] == [
        {"name": "laptop", "address": "10.99.0.2"},
        {"name": "phone", "address": "10.99.0.3"},
    ]
    assert result["vpn_gateway_address"] == "10.99.0.1"
    again = run_module("teletreball_directory", directory_args(tmp_path), capsys)
    assert again["changed"] is False


def test_directory_check_mode_writes_nothing(tmp_path, capsys):
    result = run_module("teletreball_directory", directory_args(tmp_path), capsys, True)
    assert result["changed"] is True
    assert '"anna/laptop"' in result["diff"]["after"]
    assert not (tmp_path / "creds").exists()


def test_directory_fails_with_every_problem_and_writes_nothing(tmp_path, capsys):
    staff = copy.deepcopy(VALID["staff"])
    staff[1]["username"] = "anna"
    staff[0]["email"] = "nope"
    result = run_module("teletreball_directory", directory_args(tmp_path, staff=staff), capsys)
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"].startswith("The staff directory has 2 problem(s):")
    assert (
        "teletreball_staff[0] (anna): email 'nope' is not a valid e-mail address."
        in (result["errors"])
    )
    assert not (tmp_path / "creds").exists()


def test_directory_offboarding_keeps_the_others(tmp_path, capsys):
    first = run_module("teletreball_directory", directory_args(tmp_path), capsys)
    staff = copy.deepcopy(VALID["staff"])
    staff[0]["state"] = "absent"
    second = run_module("teletreball_directory", directory_args(tmp_path, staff=staff), capsys)
    assert second["directory"]["people"][1] == first["directory"]["people"][1]
    assert second["directory"]["people"][0]["vpn_devices"] == []
    saved = json.loads((tmp_path / "creds" / "vpn-addresses.json").read_text())
    assert saved["released"]["10.99.0.2"]["device"] == "anna/laptop"


def test_directory_rejects_a_broken_address_file(tmp_path, capsys):
    state_file = tmp_path / "creds" / "vpn-addresses.json"
    state_file.parent.mkdir()
    state_file.write_text("{not json")
    result = run_module("teletreball_directory", directory_args(tmp_path), capsys)
    assert result["rc"] == 1
    assert result["msg"].startswith(f"Cannot read the VPN address file {state_file}")


def test_directory_rejects_a_bad_clock_value(tmp_path, capsys):
    result = run_module("teletreball_directory", directory_args(tmp_path, now="yesterday"), capsys)
    assert result["msg"] == "now must look like 2026-01-31T12:00:00Z, not yesterday."


# --- teletreball_secrets --------------------------------------------------------


def test_secrets_are_generated_once_and_private(tmp_path, capsys):
    args = {
        "directory": str(tmp_path / "c"),
        "secrets": [
            {"name": "people/anna/sip-password"},
            {"name": "turn", "length": 40, "charset": "hex"},
        ],
    }
    first = run_module("teletreball_secrets", args, capsys)
    assert first["changed"] is True
    assert sorted(first["created"]) == ["people/anna/sip-password", "turn"]
    assert len(first["secrets"]["turn"]) == 40
    assert set(first["secrets"]["turn"]) <= set("0123456789abcdef")
    assert mode(tmp_path / "c" / "people" / "anna" / "sip-password") == 0o600
    assert mode(tmp_path / "c" / "people") == 0o700
    second = run_module("teletreball_secrets", args, capsys)
    assert second["changed"] is False
    assert second["secrets"] == first["secrets"]


def test_secrets_check_mode_writes_nothing(tmp_path, capsys):
    args = {"directory": str(tmp_path / "c"), "secrets": [{"name": "a"}]}
    result = run_module("teletreball_secrets", args, capsys, check_mode=True)
    assert result["changed"] is True
    assert not (tmp_path / "c").exists()


def test_secrets_fix_loose_modes(tmp_path, capsys):
    (tmp_path / "c").mkdir()
    secret = tmp_path / "c" / "a"
    secret.write_text("kept-value-1234567890\n")
    secret.chmod(0o644)
    result = run_module(
        "teletreball_secrets",
        {"directory": str(tmp_path / "c"), "secrets": [{"name": "a"}]},
        capsys,
    )
    assert result["changed"] is True and result["created"] == []
    assert result["secrets"]["a"] == "kept-value-1234567890"
    assert mode(secret) == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"directory": "relative", "secrets": []},
            "directory must be an absolute path, not relative.",
        ),
        (
            {"secrets": [{"name": "../escape"}]},
            "secret name '../escape' must be a relative path without '..'.",
        ),
        (
            {"secrets": [{"name": "/etc/shadow"}]},
            "secret name '/etc/shadow' must be a relative path without '..'.",
        ),
        (
            {"secrets": [{"name": "a", "length": 8}]},
            "secret 'a': length 8 is too short for alnum (at least 16).",
        ),
    ],
)
def test_secrets_error_paths(tmp_path, capsys, args, message):
    args = {"directory": str(tmp_path), **args}
    result = run_module("teletreball_secrets", args, capsys)
    assert result["rc"] == 1
    assert result["msg"] == message


def test_secrets_refuse_an_empty_file(tmp_path, capsys):
    (tmp_path / "a").write_text("\n")
    result = run_module(
        "teletreball_secrets", {"directory": str(tmp_path), "secrets": [{"name": "a"}]}, capsys
    )
    assert result["msg"] == f"secret file {tmp_path}/a is empty; remove it to generate a new one."


# --- teletreball_welcome_packs --------------------------------------------------


def test_welcome_packs_write_compare_and_archive(tmp_path, capsys):
    base = tmp_path / "c"
    args = {"directory": str(base), "packs": {"anna": {"README.md": "hola\n"}}}
    first = run_module("teletreball_welcome_packs", args, capsys)
    assert first["written"] == ["anna/README.md"]
    assert mode(base / "people" / "anna") == 0o700
    assert mode(base / "people" / "anna" / "README.md") == 0o600
    assert run_module("teletreball_welcome_packs", args, capsys)["changed"] is False
    # A file another role wrote in the same folder is left alone.
    (base / "people" / "anna" / "wg-laptop.conf").write_text("x")
    assert run_module("teletreball_welcome_packs", args, capsys)["changed"] is False
    gone = run_module(
        "teletreball_welcome_packs", {"directory": str(base), "archive": ["anna"]}, capsys
    )
    assert gone["archived"] == ["anna"]
    archived = list((base / "archive").iterdir())
    assert len(archived) == 1 and archived[0].name.startswith("anna-")
    assert (archived[0] / "wg-laptop.conf").exists()
    assert "archived anna to archive/anna-" in (base / "audit.log").read_text()
    assert mode(base / "audit.log") == 0o600
    assert (
        run_module(
            "teletreball_welcome_packs", {"directory": str(base), "archive": ["anna"]}, capsys
        )["changed"]
        is False
    )


def test_welcome_packs_of_a_username_given_to_another_person_start_empty(tmp_path, capsys):
    base = tmp_path / "c"
    anna, other = "a1" * 16, "b2" * 16
    first = run_module("teletreball_welcome_packs", {
        "directory": str(base), "identities": {"anna": anna},
        "packs": {"anna": {"README.md": "hola\n"}}}, capsys)
    assert first["written"] == ["anna/.identity", "anna/README.md"]
    assert mode(base / "people" / "anna" / ".identity") == 0o600
    (base / "people" / "anna" / "sip-password").write_text("hers")
    same = {"directory": str(base), "identities": {"anna": anna}}
    assert run_module("teletreball_welcome_packs", same, capsys)["changed"] is False
    check = run_module("teletreball_welcome_packs", dict(same, identities={"anna": other}),
                       capsys, check_mode=True)
    assert check["archived"] == ["anna"]
    assert (base / "people" / "anna" / "sip-password").exists()
    reused = run_module("teletreball_welcome_packs", dict(same, identities={"anna": other}),
                        capsys)
    assert reused["archived"] == ["anna"]
    assert sorted(p.name for p in (base / "people" / "anna").iterdir()) == [".identity"]
    assert (base / "people" / "anna" / ".identity").read_text() == other + "\n"
    (archived,) = (base / "archive").iterdir()
    assert (archived / "sip-password").read_text() == "hers"
    assert (archived / ".identity").read_text() == anna + "\n"
    # A folder made before identities were recorded is taken as the person's.
    (base / "people" / "pere").mkdir(mode=0o700)
    (base / "people" / "pere" / "README.md").write_text("x")
    adopt = run_module("teletreball_welcome_packs", {
        "directory": str(base), "identities": {"pere": anna}}, capsys)
    assert adopt["archived"] == [] and adopt["written"] == ["pere/.identity"]


def test_welcome_packs_check_mode_writes_nothing(tmp_path, capsys):
    args = {"directory": str(tmp_path / "c"), "packs": {"anna": {"README.md": "x"}}}
    result = run_module("teletreball_welcome_packs", args, capsys, check_mode=True)
    assert result["changed"] is True
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"packs": {"Anna": {"a": "x"}}}, "'Anna' is not a valid username."),
        ({"packs": {"anna": {"../x": "x"}}}, "packs.anna: '../x' is not a plain file name."),
        (
            {"packs": {"anna": {"a": "x"}}, "archive": ["anna"]},
            "cannot both write and archive the packs of: anna.",
        ),
        ({"identities": {"anna": "not-hex"}}, "identities.anna must be a hex digest."),
        (
            {"identities": {"anna": "ab" * 16}, "archive": ["anna"]},
            "cannot both keep and archive the packs of: anna.",
        ),
    ],
)
def test_welcome_packs_error_paths(tmp_path, capsys, args, message):
    result = run_module("teletreball_welcome_packs", {"directory": str(tmp_path), **args}, capsys)
    assert result["rc"] == 1
    assert result["msg"] == message


# --- teletreball_vpn_clients ----------------------------------------------------

# Any 32 bytes in base64 stand for the gateway's public key here (no real key).
GATEWAY_KEY = base64.b64encode(bytes(range(32))).decode("ascii")


def vpn_args(base, devices=(("anna", "laptop", "10.99.0.2"),), **changes):
    args = {
        "directory": str(base),
        "devices": [{"username": u, "device": d, "address": a} for u, d, a in devices],
        "people": sorted({u for u, _, _ in devices} | {"anna"}),
        "gateway_public_key": GATEWAY_KEY,
        "endpoint": "vpn.example:51820",
        "allowed_ips": ["10.20.30.0/24"],
        "qr_code": False,
    }
    args.update(changes)
    return args


def test_vpn_clients_make_keys_once_and_a_matching_profile(tmp_path, capsys):
    first = run_module("teletreball_vpn_clients", vpn_args(tmp_path), capsys)
    assert first["changed"] is True
    folder = tmp_path / "people" / "anna" / "vpn"
    private = (folder / "laptop.key").read_text().strip()
    public = (folder / "laptop.pub").read_text().strip()
    module = load("teletreball_vpn_clients")
    assert module.public_key_of(private) == public
    assert first["peers"] == [{
        "name": "anna/laptop", "public_key": public, "address": "10.99.0.2",
        "preshared_key": (folder / "laptop.psk").read_text().strip(),
    }]
    profile = (folder / "laptop.conf").read_text()
    assert f"PrivateKey = {private}\n" in profile
    assert "Address = 10.99.0.2/32\n" in profile
    assert "AllowedIPs = 10.20.30.0/24\n" in profile
    assert all(mode(p) == 0o600 for p in folder.iterdir())
    second = run_module("teletreball_vpn_clients", vpn_args(tmp_path), capsys)
    assert second["changed"] is False
    assert second["peers"] == first["peers"]


def test_vpn_clients_revoke_a_removed_device(tmp_path, capsys):
    two = (("anna", "laptop", "10.99.0.2"), ("anna", "mobil", "10.99.0.3"))
    run_module("teletreball_vpn_clients", vpn_args(tmp_path, devices=two), capsys)
    result = run_module("teletreball_vpn_clients", vpn_args(tmp_path), capsys)
    assert result["revoked"] == ["anna/mobil"]
    assert not list((tmp_path / "people" / "anna" / "vpn").glob("mobil.*"))
    moved = list((tmp_path / "revoked" / "vpn").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith("anna-mobil-")
    assert sorted(p.name for p in moved[0].iterdir()) == [
        "mobil.conf", "mobil.key", "mobil.psk", "mobil.pub"]
    assert "vpn revoked device anna/mobil" in (tmp_path / "audit.log").read_text()


def test_vpn_clients_check_mode_writes_nothing(tmp_path, capsys):
    result = run_module("teletreball_vpn_clients", vpn_args(tmp_path), capsys, check_mode=True)
    assert result["changed"] is True
    assert not (tmp_path / "people").exists()


def test_vpn_clients_supplied_keys(tmp_path, capsys):
    keys = {"anna/laptop": GATEWAY_KEY}
    args = vpn_args(tmp_path, key_mode="supplied", supplied_public_keys=keys)
    result = run_module("teletreball_vpn_clients", args, capsys)
    assert result["peers"][0]["public_key"] == GATEWAY_KEY
    folder = tmp_path / "people" / "anna" / "vpn"
    assert sorted(p.name for p in folder.iterdir()) == ["laptop.conf", "laptop.psk"]
    assert "PrivateKey = <the private key made on this device>" in (
        folder / "laptop.conf").read_text()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gateway_public_key": "short"},
         "gateway_public_key is not a WireGuard key (base64 of 32 bytes)."),
        ({"key_mode": "supplied"},
         "vpn_supplied_public_keys['anna/laptop'] is missing or not a WireGuard public key "
         "(base64 of 32 bytes); with vpn_client_keys: supplied every device needs one."),
        ({"device_list": [{"username": "anna", "device": "my laptop", "address": "10.99.0.2"}]},
         "'anna/my laptop' is not a valid username/device."),
        ({"directory": "relative"}, "directory must be an absolute path, not relative."),
    ],
)
def test_vpn_clients_error_paths(tmp_path, capsys, changes, message):
    changes = dict(changes)
    args = vpn_args(tmp_path, **changes)
    if "device_list" in changes:
        args["devices"] = args.pop("device_list")
    result = run_module("teletreball_vpn_clients", args, capsys)
    assert result["rc"] == 1
    assert result["msg"] == message
    assert not (tmp_path / "people").exists()


def test_welcome_packs_archive_people_deleted_from_the_list(tmp_path, capsys):
    base = tmp_path / "c"
    run_module("teletreball_welcome_packs",
               {"directory": str(base), "packs": {"anna": {"a": "x"}, "pau": {"a": "y"}}}, capsys)
    result = run_module("teletreball_welcome_packs",
                        {"directory": str(base), "packs": {"anna": {"a": "x"}}, "keep": ["anna"]},
                        capsys)
    assert result["archived"] == ["pau"]
    assert sorted(p.name for p in (base / "people").iterdir()) == ["anna"]


def test_vpn_clients_qr_code_is_a_private_png_of_the_profile(tmp_path, capsys):
    result = run_module("teletreball_vpn_clients", vpn_args(tmp_path, qr_code=True), capsys)
    assert result["rc"] == 0, result
    png = tmp_path / "people" / "anna" / "vpn" / "laptop.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    assert mode(png) == 0o600
    # The picture reads back (zbarimg) as the profile, byte for byte.
    conf = (tmp_path / "people" / "anna" / "vpn" / "laptop.conf").read_text()
    read = subprocess.run(["zbarimg", "-q", "--raw", "--oneshot", str(png)], check=True,
                          capture_output=True, text=True).stdout
    assert read == conf
    again = run_module("teletreball_vpn_clients", vpn_args(tmp_path, qr_code=True), capsys)
    assert again["changed"] is False


def test_welcome_packs_draw_a_qr_code_again_only_when_its_text_changed(tmp_path, capsys,
                                                                        monkeypatch):
    base = tmp_path / "c"
    args = {"directory": str(base), "qr_codes": {"anna": {"totp.png": "otpauth://x"}}}
    first = run_module("teletreball_welcome_packs", args, capsys)
    assert first["written"] == ["anna/totp.png"]
    assert mode(base / ".qr-codes.json") == 0o600
    # The text is remembered: nothing is drawn (segno not even needed) when it did
    # not change.
    files = __import__("ansible.module_utils.teletreball_files", fromlist=["segno"])
    monkeypatch.setattr(files, "segno", None)
    assert run_module("teletreball_welcome_packs", args, capsys)["changed"] is False
    # A new text, or a missing picture, draws it again (segno needed).
    monkeypatch.undo()
    args["qr_codes"]["anna"]["totp.png"] = "otpauth://y"
    assert run_module("teletreball_welcome_packs", args, capsys)["written"] == ["anna/totp.png"]
    (base / "people" / "anna" / "totp.png").unlink()
    assert run_module("teletreball_welcome_packs", args, capsys)["written"] == ["anna/totp.png"]


def test_welcome_packs_keep_the_qr_memo_entries_of_other_writers(tmp_path, capsys):
    # site.yml runs the service hosts side by side: one role's run must not drop the
    # entries another role's run added to the memo since this run read it.
    base = tmp_path / "c"
    run_module("teletreball_welcome_packs",
               {"directory": str(base), "qr_codes": {"anna": {"vpn.png": "wg://a"}}}, capsys)
    module = load_library_module("teletreball_welcome_packs")
    real_read = module.read_memo
    calls = []

    def read_memo_while_another_writes(path):
        calls.append(path)
        if len(calls) == 1:  # the memo as this run first read it, then another run writes
            memo = real_read(path)
            module.atomic_write(path, json.dumps(dict(memo, **{"pau/totp.png": "d"})) + "\n")
            return memo
        return real_read(path)

    module.read_memo = read_memo_while_another_writes
    args = {"directory": str(base), "qr_codes": {"anna": {"totp.png": "otpauth://x"}}}
    with patch_module_args(dict(args, _ansible_check_mode=False, _ansible_diff=False)), \
            pytest.raises(SystemExit):
        module.main()
    capsys.readouterr()
    memo = json.loads((base / ".qr-codes.json").read_text())
    assert sorted(memo) == ["anna/totp.png", "anna/vpn.png", "pau/totp.png"]
    assert mode(base / ".qr-codes.json") == 0o600 and mode(base / ".qr-codes.json.lock") == 0o600


# --- teletreball_spool_archive ----------------------------------------------------


def spool_args(tmp_path, holders):
    return {"path": str(tmp_path / "staff"), "holders": holders,
            "archive_dir": str(tmp_path / "backups"), "state_file": str(tmp_path / "h.json")}


def mailbox(tmp_path, ext, message="hello"):
    """A mailbox as Asterisk's app_voicemail leaves it: INBOX with a message and its
    envelope, and a recorded greeting."""
    inbox = tmp_path / "staff" / ext / "INBOX"
    inbox.mkdir(parents=True)
    (inbox / "msg0000.txt").write_text(f"[message]\ncallerid={message}\n")
    (inbox / "msg0000.wav").write_bytes(b"RIFF")
    (tmp_path / "staff" / ext / "greet.wav").write_bytes(b"RIFF")


def test_spool_archive_plan():
    plan = load("teletreball_spool_archive").plan
    assert plan(["1001", "1002", "1003"], {"1001": "a", "1003": "c2"},
                {"1001": "a", "1003": "c1"}) == (
        [("1002", "no holder"), ("1003", "another holder")], {"1001": "a", "1003": "c2"})
    # A folder from before the record is its holder's.
    assert plan(["1001"], {"1001": "a"}, {}) == ([], {"1001": "a"})


def test_spool_archive_keeps_the_holders_and_archives_the_rest(tmp_path, capsys):
    anna, pau = "a1" * 16, "b2" * 16
    mailbox(tmp_path, "1001")
    mailbox(tmp_path, "1002")
    (tmp_path / "staff" / "general").mkdir()  # not a number: left alone
    first = run_module("teletreball_spool_archive",
                       spool_args(tmp_path, {"1001": anna, "1002": anna}), capsys)
    assert first["changed"] is True and first["archived"] == []
    assert mode(tmp_path / "h.json") == 0o600
    same = spool_args(tmp_path, {"1001": anna, "1002": anna})
    assert run_module("teletreball_spool_archive", same, capsys)["changed"] is False
    # 1001 left; 1002 is now somebody else's.
    args = spool_args(tmp_path, {"1002": pau})
    check = run_module("teletreball_spool_archive", args, capsys, check_mode=True)
    assert [a["name"] for a in check["archived"]] == ["1001", "1002"]
    assert (tmp_path / "staff" / "1001").is_dir()
    done = run_module("teletreball_spool_archive", args, capsys)
    assert [(a["name"], a["reason"]) for a in done["archived"]] == [
        ("1001", "no holder"), ("1002", "another holder")]
    assert sorted(p.name for p in (tmp_path / "staff").iterdir()) == ["general"]
    assert mode(tmp_path / "backups") == 0o700
    for entry in done["archived"]:
        assert mode(entry["archive"]) == 0o600
        with tarfile.open(entry["archive"]) as tar:
            assert f"{entry['name']}/INBOX/msg0000.txt" in tar.getnames()
            assert f"{entry['name']}/greet.wav" in tar.getnames()
    assert run_module("teletreball_spool_archive", args, capsys)["changed"] is False


@pytest.mark.parametrize(("holders", "message"), [
    ({"../x": "ab" * 16}, "holders: '../x' is not a folder name the pattern manages."),
    ({"1001": "secret"}, "holders.1001 must be a hex digest."),
])
def test_spool_archive_error_paths(tmp_path, capsys, holders, message):
    result = run_module("teletreball_spool_archive", spool_args(tmp_path, holders), capsys)
    assert result["rc"] == 1 and result["msg"] == message
