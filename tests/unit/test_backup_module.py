"""Unit tests of library/teletreball_backup.py with the real age program: a backup that
only age's identity opens, a restore that brings back every byte and mode, and every
refusal (the stack scenario's tests/test_backup.py restores a whole council)."""

from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tarfile

import pytest
from module_runner import load_library_module, run_main

pytestmark = pytest.mark.skipif(shutil.which("age") is None or shutil.which("age-keygen") is None,
                                reason="the Debian package age is missing (harness/setup-host)")


@pytest.fixture(name="backup_module")
def fixture_backup_module():
    return load_library_module("teletreball_backup")


def keypair(folder, name="backup"):
    """An age identity file and its public key."""
    path = folder / f"{name}.key"
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True,
                            text=True).stdout.strip()
    return path, public


@pytest.fixture(name="council")
def fixture_council(tmp_path):
    """A small credentials folder, an age key pair and a backup folder."""
    folder = tmp_path / "credentials" / "council"
    (folder / "pki").mkdir(parents=True)
    (folder / "people" / "anna").mkdir(parents=True)
    files = {
        "state-id": "7c1f\n",
        "pki/ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "pki/ca.key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nsecret\n",
        "people/anna/vpn-laptop.conf": "[Interface]\nPrivateKey = s3cret\n",
        "people/anna/totp-secret": "JBSWY3DPEHPK3PXP\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
        os.chmod(folder / name, 0o600)
    os.chmod(folder / "people" / "anna" / "totp-secret", 0o640)
    os.chmod(folder / "people" / "anna", 0o700)
    os.chmod(folder / "people", 0o750)  # noqa: S103 - a mode the restore must keep
    identity, public = keypair(tmp_path)
    return {"folder": folder, "files": files, "identity": identity, "public": public,
            "backups": tmp_path / "backups", "tmp": tmp_path}


def backup_args(council, **extra):
    return dict({"state": "backup", "credentials_dir": str(council["folder"]),
                 "inventory": "council", "backup_dir": str(council["backups"]),
                 "recipients": [council["public"]], "timeout": 0}, **extra)


def restore_args(council, archive, **extra):
    return dict({"state": "restore", "credentials_dir": str(council["folder"]),
                 "archive": str(archive), "identity": str(council["identity"]),
                 "timeout": 0}, **extra)


def snapshot(folder):
    return {str(path.relative_to(folder)): (path.read_bytes() if path.is_file() else None,
                                            stat.S_IMODE(path.stat().st_mode))
            for path in sorted(folder.rglob("*"))}


def encrypt(council, members):
    """An age archive of a hand-made tar: members are (TarInfo, bytes or None)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    archive = council["tmp"] / "crafted.tar.age"
    subprocess.run(["age", "-r", council["public"], "-o", str(archive)],
                   input=buffer.getvalue(), check=True)
    return archive


def test_a_backup_is_encrypted_dated_private_and_restores_every_byte(backup_module, council,
                                                                     capsys):
    before = snapshot(council["folder"])
    result = run_main(backup_module, backup_args(council), capsys)
    assert result["rc"] == 0 and result["changed"], result
    archive = pathlib.Path(result["path"])
    assert archive.parent == council["backups"]
    assert archive.name.startswith("teletreball-council-") and archive.name.endswith("Z.tar.age")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(council["backups"].stat().st_mode) == 0o700
    assert result["size"] == archive.stat().st_size
    assert result["members"] == len(before)
    assert os.listdir(council["backups"]) == [archive.name], "no temporary file is left"
    data = archive.read_bytes()
    assert data.startswith(b"age-encryption.org/v1")
    assert b"s3cret" not in data and b"JBSWY3DPEHPK3PXP" not in data
    assert not (council["tmp"] / "credentials" / "council.lock").exists(), "lock given back"

    shutil.rmtree(council["folder"])
    restored = run_main(backup_module, restore_args(council, archive), capsys)
    assert restored["rc"] == 0 and restored["changed"], restored
    assert restored["sha256"] == result["sha256"]
    assert snapshot(council["folder"]) == before
    assert stat.S_IMODE(council["folder"].stat().st_mode) == 0o700
    assert "previous" not in restored
    assert sorted(os.listdir(council["tmp"] / "credentials")) == ["council"]


def test_the_tar_is_deterministic_and_keeps_no_owner(backup_module, council):
    first, count = backup_module.make_tar(str(council["folder"]))
    second, _ = backup_module.make_tar(str(council["folder"]))
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == ["people", "people/anna", "people/anna/totp-secret",
                     "people/anna/vpn-laptop.conf", "pki", "pki/ca.crt", "pki/ca.key",
                     "state-id"]
    assert count == len(names)
    assert {(member.uid, member.gid, member.uname, member.gname) for member in members} == {
        (0, 0, "", "")}
    assert {member.name: member.mode for member in members}["people/anna/totp-secret"] == 0o640


def test_recipients_from_a_file(backup_module, council, capsys):
    recipients = council["tmp"] / "recipients.txt"
    recipients.write_text(f"# the office's key\n{council['public']}\n")
    result = run_main(backup_module, backup_args(council, recipients=[],
                                                 recipients_file=str(recipients)), capsys)
    assert result["rc"] == 0, result
    out = subprocess.run(["age", "-d", "-i", str(council["identity"]), result["path"]],
                         capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        assert "state-id" in tar.getnames()


def test_check_mode_writes_nothing(backup_module, council, capsys):
    result = run_main(backup_module, backup_args(council), capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] and result["size"] == 0
    assert result["path"].startswith(str(council["backups"]))
    assert not council["backups"].exists()
    assert not (council["tmp"] / "credentials" / "council.lock").exists()
    archive = run_main(backup_module, backup_args(council), capsys)["path"]
    before = snapshot(council["folder"])
    shutil.rmtree(council["folder"])
    restored = run_main(backup_module, restore_args(council, archive), capsys, check_mode=True)
    assert restored["rc"] == 0 and restored["changed"] and restored["members"] == len(before)
    assert not council["folder"].exists()
    assert sorted(os.listdir(council["tmp"] / "credentials")) == []


def test_no_recipients_is_refused(backup_module, council, capsys):
    result = run_main(backup_module, backup_args(council, recipients=[]), capsys)
    assert result["rc"] == 1 and "No recipients" in result["msg"]
    assert not council["backups"].exists()


def test_a_bad_recipient_is_named(backup_module, council, capsys):
    result = run_main(backup_module, backup_args(council, recipients=[
        council["public"], "ssh-ed25519 AAAA", "age1notakey"]), capsys)
    assert result["rc"] == 1
    assert "ssh-ed25519 AAAA" in result["msg"] and "age1notakey" in result["msg"]
    assert not council["backups"].exists()


def test_a_recipient_age_refuses_leaves_no_file(backup_module, council, capsys):
    # The right form, a wrong checksum: only age can tell.
    wrong = council["public"][:-1] + ("q" if council["public"][-1] != "q" else "p")
    result = run_main(backup_module, backup_args(council, recipients=[wrong]), capsys)
    assert result["rc"] == 1 and "age refused" in result["msg"], result
    assert os.listdir(council["backups"]) == []
    checked = run_main(backup_module, backup_args(council, recipients=[wrong]), capsys,
                       check_mode=True)
    assert checked["rc"] == 1 and "age refused" in checked["msg"]


def test_age_missing_is_named(backup_module, council, capsys, monkeypatch):
    monkeypatch.setattr(backup_module.AnsibleModule, "get_bin_path",
                        lambda self, name, *args, **kwargs: None)
    result = run_main(backup_module, backup_args(council), capsys)
    assert result["rc"] == 1 and "package age" in result["msg"]
    archive = council["tmp"] / "x.tar.age"
    archive.write_bytes(b"x")
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "package age" in result["msg"]


def test_a_link_in_the_folder_is_refused(backup_module, council, capsys):
    (council["folder"] / "people" / "anna" / "link").symlink_to("/etc/passwd")
    result = run_main(backup_module, backup_args(council), capsys)
    assert result["rc"] == 1 and "link" in result["msg"]
    assert not council["backups"].exists()


def test_a_missing_folder_or_relative_backup_dir_is_refused(backup_module, council, capsys):
    result = run_main(backup_module, backup_args(council, backup_dir="backups"), capsys)
    assert result["rc"] == 1 and "absolute" in result["msg"]
    shutil.rmtree(council["folder"])
    result = run_main(backup_module, backup_args(council), capsys)
    assert result["rc"] == 1 and "does not exist" in result["msg"]


def test_a_live_run_holding_the_folder_stops_the_backup(backup_module, council, capsys,
                                                        other_run):
    lock = council["tmp"] / "credentials" / "council.lock"
    lock_utils = sys.modules["ansible.module_utils.teletreball_lock"]  # registered by the loader
    lock.write_text(json.dumps(lock_utils.identity(other_run.pid)))
    result = run_main(backup_module, backup_args(council), capsys)
    assert result["rc"] == 1 and "Another run" in result["msg"]
    assert not council["backups"].exists() or os.listdir(council["backups"]) == []
    assert lock.exists(), "another run's lock is left alone"


def test_an_existing_folder_needs_force_and_is_kept(backup_module, council, capsys):
    archive = run_main(backup_module, backup_args(council), capsys)["path"]
    before = snapshot(council["folder"])
    (council["folder"] / "state-id").write_text("changed since\n")
    after_change = snapshot(council["folder"])
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "not empty" in result["msg"]
    assert snapshot(council["folder"]) == after_change
    forced = run_main(backup_module, restore_args(council, archive, force=True), capsys)
    assert forced["rc"] == 0, forced
    assert snapshot(council["folder"]) == before
    previous = pathlib.Path(forced["previous"])
    assert previous.name.startswith("council.before-restore-")
    assert snapshot(previous) == after_change


def test_the_wrong_identity_restores_nothing(backup_module, council, capsys):
    archive = run_main(backup_module, backup_args(council), capsys)["path"]
    other, _ = keypair(council["tmp"], "other")
    before = snapshot(council["folder"])
    result = run_main(backup_module, restore_args(council, archive, identity=str(other),
                                                  force=True), capsys)
    assert result["rc"] == 1 and "could not decrypt" in result["msg"]
    assert "AGE-SECRET-KEY" not in result["raw"]
    assert snapshot(council["folder"]) == before
    assert sorted(os.listdir(council["tmp"] / "credentials")) == ["council"]


def test_a_corrupt_archive_restores_nothing(backup_module, council, capsys):
    archive = pathlib.Path(run_main(backup_module, backup_args(council), capsys)["path"])
    data = bytearray(archive.read_bytes())
    data[-20] ^= 0xFF
    archive.write_bytes(bytes(data))
    shutil.rmtree(council["folder"])
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "could not decrypt" in result["msg"]
    assert not council["folder"].exists()
    assert sorted(os.listdir(council["tmp"] / "credentials")) == []


def test_an_archive_that_is_not_a_tar_restores_nothing(backup_module, council, capsys):
    archive = council["tmp"] / "text.tar.age"
    subprocess.run(["age", "-r", council["public"], "-o", str(archive)],
                   input=b"not a tar archive at all" * 40, check=True)
    shutil.rmtree(council["folder"])
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "not to a tar archive" in result["msg"], result
    assert not council["folder"].exists()


@pytest.mark.parametrize("member", ["../escape", "/etc/cron.d/x", "pki/../../escape"])
def test_a_member_outside_the_folder_is_refused(backup_module, council, capsys, member):
    archive = encrypt(council, [(tarfile.TarInfo("state-id"), b"id\n"),
                                (tarfile.TarInfo(member), b"evil\n")])
    shutil.rmtree(council["folder"])
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "outside the folder" in result["msg"], result
    assert not council["folder"].exists()
    assert not (council["tmp"] / "escape").exists()
    assert sorted(os.listdir(council["tmp"] / "credentials")) == []


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE])
def test_a_link_or_special_member_is_refused(backup_module, council, capsys, kind):
    link = tarfile.TarInfo("people/anna/link")
    link.type = kind
    link.linkname = "/etc/shadow"
    archive = encrypt(council, [(tarfile.TarInfo("state-id"), b"id\n"), (link, None)])
    shutil.rmtree(council["folder"])
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "not a file or folder" in result["msg"], result
    assert not council["folder"].exists()


def test_an_archive_of_another_folder_is_refused(backup_module, council, capsys):
    archive = encrypt(council, [(tarfile.TarInfo("notes.txt"), b"hello\n")])
    shutil.rmtree(council["folder"])
    result = run_main(backup_module, restore_args(council, archive), capsys)
    assert result["rc"] == 1 and "not a backup of a credentials folder" in result["msg"]
    assert not council["folder"].exists()


def test_a_restore_needs_archive_and_identity(backup_module, council, capsys):
    result = run_main(backup_module, {"state": "restore",
                                      "credentials_dir": str(council["folder"])}, capsys)
    assert result["rc"] == 1 and "archive" in result["msg"]
    result = run_main(backup_module, restore_args(council, council["tmp"] / "missing.tar.age"),
                      capsys)
    assert result["rc"] == 1 and "is not a file" in result["msg"]


def test_the_folders_of_a_ca_rotation_are_backed_up_and_restored(backup_module, council, capsys):
    """playbooks/rotate_ca.yml: pki/next/ (step prepare), pki/previous/ (step switch) and
    revoked/pki-<UTC>/ (step finish), each 0700 with files 0600, and pki/council-ca.crt."""
    folder = council["folder"]
    for sub in ("pki/next", "pki/previous", "revoked", "revoked/pki-20270301T100000Z"):
        (folder / sub).mkdir(mode=0o700)
        os.chmod(folder / sub, 0o700)
    for name in ("pki/next/ca.key", "pki/previous/ca.crt", "revoked/pki-20270301T100000Z/ca.key",
                 "pki/council-ca.crt"):
        (folder / name).write_text(f"{name}\n")
        os.chmod(folder / name, 0o600)
    before = snapshot(folder)
    result = run_main(backup_module, backup_args(council), capsys)
    assert result["rc"] == 0 and result["members"] == len(before), result
    shutil.rmtree(folder)
    restored = run_main(backup_module, restore_args(council, pathlib.Path(result["path"])), capsys)
    assert restored["rc"] == 0, restored
    assert snapshot(folder) == before
