"""Issue 21, point 1: the credentials folder survives a lost controller. Back it up with
playbooks/backup.yml (age, a key pair made here), delete it, bring it back with
playbooks/restore.yml: the next site.yml changes nothing on any host, and every file of
every person's welcome pack is byte-identical. A restore with the wrong identity fails
and leaves the folder as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from stack_helpers import CREDENTIALS, LAB, REPO, run_site
from teletreball_testinfra import run_converge

testinfra_hosts = ["local://"]


def digests(folder):
    """{relative path: sha256} of every file under ``folder``."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def keypair(folder, name):
    identity = folder / f"{name}.key"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(identity)], check=True,
                            capture_output=True, text=True).stdout.strip()
    return identity, public


def run_playbook(name, variables):
    return run_converge(
        "--extra-vars", f"teletreball_credentials_dir={CREDENTIALS}",
        "--extra-vars", json.dumps(variables),
        timeout=300, inventory=LAB / "hosts.yml", playbook=REPO / "playbooks" / name,
        check=False)[0]


@pytest.fixture(scope="module", name="keys")
def fixture_keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backup-keys")
    identity, public = keypair(folder, "office")
    wrong, _ = keypair(folder, "stranger")
    return {"identity": identity, "public": public, "wrong": wrong,
            "backups": folder / "backups"}


@pytest.fixture(scope="module", name="archive")
def fixture_archive(keys):
    result = run_playbook("backup.yml", {"teletreball_backup_dir": str(keys["backups"]),
                                         "teletreball_backup_recipients": [keys["public"]]})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    archives = sorted(keys["backups"].glob("teletreball-lab-*.tar.age"))
    assert len(archives) == 1, archives
    return archives[0]


def test_a_restore_with_the_wrong_identity_changes_nothing(keys, archive):
    before = digests(CREDENTIALS)
    result = run_playbook("restore.yml", {
        "teletreball_restore_archive": str(archive),
        "teletreball_restore_identity": str(keys["wrong"]),
        "teletreball_restore_force": True})
    assert result.returncode != 0
    assert "could not decrypt" in result.stdout + result.stderr
    assert digests(CREDENTIALS) == before
    assert not list(CREDENTIALS.parent.glob(f"{CREDENTIALS.name}.before-restore-*"))
    assert not list(CREDENTIALS.parent.glob(f".{CREDENTIALS.name}.restore-*"))


def test_a_deleted_folder_comes_back_and_site_changes_nothing(keys, archive):
    packs = digests(CREDENTIALS / "people")
    assert packs, "the lab's welcome packs are missing"
    assert len({path.split("/", 1)[0] for path in packs}) >= 2, sorted(packs)
    everything = digests(CREDENTIALS)
    # The backup is encrypted: not one secret of the folder is readable in it.
    data = archive.read_bytes()
    assert data.startswith(b"age-encryption.org/v1")

    shutil.rmtree(CREDENTIALS)
    result = run_playbook("restore.yml", {
        "teletreball_restore_archive": str(archive),
        "teletreball_restore_identity": str(keys["identity"])})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert digests(CREDENTIALS) == everything

    stats, seconds = run_site()
    print(f"stack: site.yml after the restore {seconds:.0f} s")
    assert all(counts["failures"] == 0 and counts["unreachable"] == 0
               for counts in stats.values()), stats
    assert {host: counts["changed_tasks"] for host, counts in stats.items()
            if counts["changed"]} == {}
    assert digests(CREDENTIALS / "people") == packs
