"""Unit tests of library/teletreball_ca_rotate.py (steps switch and finish of a rotation
of the CA) and library/teletreball_ca_passphrase.py (the CA key under a new passphrase):
real files in a temporary credentials folder, every refusal and every resumption of a
step stopped half-way. The pki scenario's tests/test_rotation.py runs the whole rotation
on hosts."""

from __future__ import annotations

import os
import pathlib
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from module_runner import load_library_module, refuse_commands, run_main

OLD = "Old-passphrase-0123456789-abcdefghij"
NEW = "New-passphrase-0123456789-abcdefghij"
OTHER = "Another-one-0123456789-abcdefghijkl"
SHORT = "short-one"


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)


def encrypted(key, passphrase):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode()))


def make_ca(folder, tag, passphrase=OLD):
    """A stand-in CA in ``folder``: a real encrypted key, a request and a certificate
    whose text names ``tag`` (the rotation module only moves files)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    files = {"ca.key": encrypted(key, passphrase), "ca.csr": f"csr {tag}\n".encode(),
             "ca.crt": f"crt {tag}\n".encode()}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        os.chmod(folder / name, 0o600)
    return files


@pytest.fixture
def council(tmp_path):
    credentials = tmp_path / "credentials"
    pki = credentials / "pki"
    old = make_ca(pki, "old")
    return {"credentials": credentials, "pki": pki, "old": old,
            "archive": credentials / "revoked"}


def rotate(council, step, capsys, check_mode=False):
    args = {"step": step, "directory": str(council["pki"]),
            "archive_dir": str(council["archive"]), "credentials_dir": str(council["credentials"]),
            "timeout": 5}
    return run_main(load_library_module("teletreball_ca_rotate"), args, capsys, check_mode)


def contents(folder):
    return {name: (folder / name).read_bytes() for name in ("ca.key", "ca.csr", "ca.crt")}


# --- teletreball_ca_rotate -----------------------------------------------------------

def test_switch_without_a_prepared_ca_is_refused(council, capsys):
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 1 and "step=prepare first" in result["msg"]
    assert contents(council["pki"]) == council["old"]


def test_switch_with_an_incomplete_next_ca_is_refused(council, capsys):
    make_ca(council["pki"] / "next", "new")
    (council["pki"] / "next" / "ca.crt").unlink()
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 1 and "step=prepare again" in result["msg"]
    assert not (council["pki"] / "previous").exists()


def test_switch_makes_next_active_and_keeps_the_old_in_previous(council, capsys):
    new = make_ca(council["pki"] / "next", "new")
    planned = rotate(council, "switch", capsys, check_mode=True)
    assert planned["changed"] and (council["pki"] / "next").is_dir()
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 0 and result["changed"]
    assert contents(council["pki"]) == new
    assert contents(council["pki"] / "previous") == council["old"]
    assert not (council["pki"] / "next").exists()
    assert sorted(os.listdir(council["pki"])) == ["ca.crt", "ca.csr", "ca.key", "previous"]
    assert stat.S_IMODE((council["pki"] / "previous").stat().st_mode) == 0o700
    assert stat.S_IMODE((council["pki"] / "ca.key").stat().st_mode) == 0o600
    again = rotate(council, "switch", capsys)
    assert again["rc"] == 0 and not again["changed"]


def test_a_switch_stopped_after_previous_is_finished_by_running_it_again(council, capsys):
    """previous/ complete and one active file already the new one: the re-run copies
    nothing more into previous/ and completes the rest."""
    new = make_ca(council["pki"] / "next", "new")
    make_ca(council["pki"] / "previous", "x")
    for name, data in council["old"].items():
        (council["pki"] / "previous" / name).write_bytes(data)
    (council["pki"] / "ca.key").write_bytes(new["ca.key"])
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 0 and result["done"] == ["made next/ the active CA", "removed next/"]
    assert contents(council["pki"]) == new
    assert contents(council["pki"] / "previous") == council["old"]


def test_a_switch_stopped_while_copying_the_old_ca_starts_that_copy_again(council, capsys):
    new = make_ca(council["pki"] / "next", "new")
    partial = council["pki"] / ".previous-partial"
    partial.mkdir(mode=0o700)
    (partial / "ca.key").write_bytes(b"half")
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 0
    assert contents(council["pki"] / "previous") == council["old"]
    assert contents(council["pki"]) == new and not partial.exists()


def test_a_switch_stopped_while_removing_next_only_removes_it(council, capsys):
    make_ca(council["pki"] / "previous", "old")
    removed = council["pki"] / ".next-removed"
    removed.mkdir(mode=0o700)
    (removed / "ca.crt").write_bytes(b"crt new\n")
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 0 and result["done"] == ["removed next/"]
    assert not removed.exists()


def test_finish_before_the_switch_is_refused(council, capsys):
    make_ca(council["pki"] / "next", "new")
    result = rotate(council, "finish", capsys)
    assert result["rc"] == 1 and "step=switch first" in result["msg"]
    assert (council["pki"] / "next").is_dir() and not council["archive"].exists()


def test_finish_without_any_rotation_is_refused(council, capsys):
    result = rotate(council, "finish", capsys)
    assert result["rc"] == 1 and "step=prepare" in result["msg"]


def test_finish_after_an_interrupted_switch_is_refused(council, capsys):
    make_ca(council["pki"] / "previous", "old")
    (council["pki"] / ".next-removed").mkdir()
    result = rotate(council, "finish", capsys)
    assert result["rc"] == 1 and "step=switch again" in result["msg"]


def test_finish_archives_the_previous_ca_once(council, capsys):
    make_ca(council["pki"] / "previous", "old")
    kept = contents(council["pki"] / "previous")
    result = rotate(council, "finish", capsys)
    assert result["rc"] == 0 and result["changed"]
    archive = council["archive"] / os.path.basename(result["archive"])
    assert archive.name.startswith("pki-") and contents(archive) == kept
    assert stat.S_IMODE(council["archive"].stat().st_mode) == 0o700
    assert stat.S_IMODE(archive.stat().st_mode) == 0o700
    assert not (council["pki"] / "previous").exists()
    again = rotate(council, "finish", capsys)
    assert again["rc"] == 0 and not again["changed"] and again["archive"] == ""


def test_a_step_without_an_active_ca_is_refused(council, capsys):
    (council["pki"] / "ca.key").unlink()
    result = rotate(council, "switch", capsys)
    assert result["rc"] == 1 and "No complete active CA" in result["msg"]


# --- teletreball_ca_passphrase -------------------------------------------------------

def passphrase(council, capsys, check_mode=False, **changes):
    args = {"directory": str(council["pki"]), "credentials_dir": str(council["credentials"]),
            "timeout": 5}
    args.update(changes)
    args = {name: value for name, value in args.items() if value is not None}
    return run_main(load_library_module("teletreball_ca_passphrase"), args, capsys, check_mode)


def opens_with(path, secret):
    try:
        serialization.load_pem_private_key(path.read_bytes(), password=secret.encode())
    except (ValueError, TypeError):
        return False
    return True


@pytest.fixture
def passphrase_file(council, tmp_path):
    path = tmp_path / "credentials.ca-passphrase"
    path.write_text(OLD + "\n")
    os.chmod(path, 0o600)
    return path


def test_the_variable_passphrase_is_changed_once(council, capsys):
    key = council["pki"] / "ca.key"
    result = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW)
    assert result["rc"] == 0 and result["changed"] and result["rewritten"] == [str(key)]
    assert opens_with(key, NEW) and not opens_with(key, OLD)
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert OLD not in result["raw"] and NEW not in result["raw"]
    again = passphrase(council, capsys, passphrase=NEW, new_passphrase=NEW)
    assert again["rc"] == 0 and not again["changed"]
    # Before the vault is updated: the old passphrase given, the keys already changed.
    stale = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW)
    assert stale["rc"] == 0 and not stale["changed"]


def test_the_keys_of_a_rotation_under_way_get_the_new_passphrase_too(council, capsys):
    make_ca(council["pki"] / "next", "new")
    result = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW)
    assert len(result["rewritten"]) == 2
    assert opens_with(council["pki"] / "next" / "ca.key", NEW)


def test_a_wrong_current_passphrase_changes_nothing(council, capsys):
    before = (council["pki"] / "ca.key").read_bytes()
    wrong = "Wrong-passphrase-0123456789-abcdefgh"
    result = passphrase(council, capsys, passphrase=wrong, new_passphrase=NEW)
    assert result["rc"] == 1 and "neither the current passphrase nor the new" in result["msg"]
    assert wrong not in result["raw"] and NEW not in result["raw"]
    assert (council["pki"] / "ca.key").read_bytes() == before


def test_one_key_that_opens_with_neither_stops_before_any_key_is_written(council, capsys):
    make_ca(council["pki"] / "next", "new", passphrase=OTHER)
    before = (council["pki"] / "ca.key").read_bytes()
    result = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW)
    assert result["rc"] == 1 and "next/ca.key" in result["msg"]
    assert (council["pki"] / "ca.key").read_bytes() == before


def test_a_missing_key_is_refused(council, capsys):
    (council["pki"] / "ca.key").unlink()
    result = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW)
    assert result["rc"] == 1 and "is missing" in result["msg"]


def test_an_unencrypted_key_is_refused(council, capsys):
    key = ec.generate_private_key(ec.SECP256R1())
    (council["pki"] / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    result = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW)
    assert result["rc"] == 1 and "not an encrypted PKCS#8 key" in result["msg"]


def test_a_short_or_missing_new_passphrase_is_refused(council, capsys):
    short = passphrase(council, capsys, passphrase=OLD, new_passphrase=SHORT)
    assert short["rc"] == 1 and "at least 32" in short["msg"]
    missing = passphrase(council, capsys, passphrase=OLD)
    assert missing["rc"] == 1 and "pki_ca_new_passphrase" in missing["msg"]


def test_the_passphrase_file_gets_a_generated_one(council, passphrase_file, capsys):
    key = council["pki"] / "ca.key"
    planned = passphrase(council, capsys, check_mode=True, passphrase_path=str(passphrase_file))
    assert planned["changed"] and opens_with(key, OLD)
    assert passphrase_file.read_text().strip() == OLD
    result = passphrase(council, capsys, passphrase_path=str(passphrase_file))
    assert result["rc"] == 0 and result["passphrase_file_changed"]
    new = passphrase_file.read_text().strip()
    assert len(new) == 48 and new.isalnum() and new != OLD
    assert new not in result["raw"]
    assert opens_with(key, new) and not opens_with(key, OLD)
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    assert not os.path.lexists(str(passphrase_file) + ".new")


def test_a_given_new_passphrase_in_the_file_mode_is_idempotent(council, passphrase_file, capsys):
    first = passphrase(council, capsys, passphrase_path=str(passphrase_file), new_passphrase=NEW)
    assert first["changed"] and passphrase_file.read_text().strip() == NEW
    again = passphrase(council, capsys, passphrase_path=str(passphrase_file), new_passphrase=NEW)
    assert again["rc"] == 0 and not again["changed"]


def test_a_file_mode_change_stopped_half_way_is_finished_with_the_staged_passphrase(
        council, passphrase_file, capsys):
    """The new passphrase was staged in <file>.new and the key already rewritten, then
    the run stopped: the re-run takes that passphrase and renames the file."""
    staged = pathlib.Path(str(passphrase_file) + ".new")
    staged.write_text(NEW + "\n")
    os.chmod(staged, 0o600)
    key = council["pki"] / "ca.key"
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=OLD.encode())
    key.write_bytes(encrypted(loaded, NEW))
    result = passphrase(council, capsys, passphrase_path=str(passphrase_file))
    assert result["rc"] == 0 and result["rewritten"] == []
    assert passphrase_file.read_text().strip() == NEW and not staged.exists()
    assert opens_with(key, NEW)


def test_a_missing_passphrase_file_is_refused(council, tmp_path, capsys):
    result = passphrase(council, capsys, passphrase_path=str(tmp_path / "nothing"))
    assert result["rc"] == 1 and "is missing" in result["msg"]


# --- Both: another run holding the credentials folder ---------------------------------

def hold_lock_by(council, other_run):
    """The run lock of the credentials folder, held by a live other process."""
    import json
    import sys
    lock = council["credentials"].parent / "credentials.lock"
    load_library_module("teletreball_ca_rotate")  # registers the module_utils it imports
    lock_utils = sys.modules["ansible.module_utils.teletreball_lock"]
    lock.write_text(json.dumps(lock_utils.identity(other_run.pid)))
    return lock


def test_a_switch_waits_for_another_run_then_changes_nothing(council, capsys, other_run):
    new = make_ca(council["pki"] / "next", "new")
    lock = hold_lock_by(council, other_run)
    args = {"step": "switch", "directory": str(council["pki"]),
            "archive_dir": str(council["archive"]),
            "credentials_dir": str(council["credentials"]), "timeout": 0}
    result = run_main(load_library_module("teletreball_ca_rotate"), args, capsys)
    assert result["rc"] == 1 and "Another run is using the credentials folder" in result["msg"]
    assert f"process {other_run.pid}" in result["msg"]
    assert contents(council["pki"]) == council["old"]
    assert contents(council["pki"] / "next") == new
    assert not (council["pki"] / "previous").exists()
    assert lock.exists(), "another run's lock is left alone"


def test_a_passphrase_change_waits_for_another_run_then_changes_nothing(council, capsys,
                                                                        other_run):
    lock = hold_lock_by(council, other_run)
    key = council["pki"] / "ca.key"
    before = key.read_bytes()
    result = passphrase(council, capsys, passphrase=OLD, new_passphrase=NEW, timeout=0)
    assert result["rc"] == 1 and "Another run is using the credentials folder" in result["msg"]
    assert "nothing was changed" in result["msg"]
    assert key.read_bytes() == before and opens_with(key, OLD)
    assert OLD not in result["raw"] and NEW not in result["raw"]
    assert lock.exists(), "another run's lock is left alone"
