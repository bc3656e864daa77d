# ruff: noqa: S101
"""The rotation of the repository's signing key, as roles/package_repo/README.md
("Rotating the key") tells IT to do it: move the controller's
<credentials>/package-repo away, then run the repository host and its clients in
one run.

Scenario roles/package_repo/molecule/default. This file sorts before
test_package_build.py, whose last test discards the cached build: the runs here
find ttdemo published and cached, and build nothing. They leave the scenario
converged (with the new key) for the tests after them. Every test takes ``host``
so that pytest keeps the order of this file.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import shlex
import shutil
import subprocess
import time

import pytest
import testinfra

SUITE = "teletreball-trixie"
BASE = "/var/lib/teletreball-repo"
DISTS = f"/srv/teletreball-repo/dists/{SUITE}"
KEYRING = "/etc/apt/keyrings/teletreball.asc"
SOURCE = "/etc/apt/sources.list.d/teletreball.sources"
LISTS_INRELEASE = f"/var/lib/apt/lists/pkg-repo_dists_{SUITE}_InRelease"
OLD_INRELEASE = "/root/rotation-old-InRelease"
SAVED = "/root/rotation-saved"
RELEASE_FILES = ("InRelease", "Release", "Release.gpg")
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
KEY_DIR = EPHEMERAL / "credentials" / "package-repo"
GENERATE = "package_repo : Generate the signing key of the repository (first run only)"
EXPORT = "package_repo : Export the package repository"
DELETE = "package_repo : Delete the previous signing keys from reprepro's keyring"
REFRESH = "package_repo : Refresh the package lists of the council's repository"

testinfra_hosts = ["podman://pkg-client"]

pytestmark = pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ,
                                reason="needs Molecule")


def repo_host():
    return testinfra.get_host("podman://pkg-repo")


def fingerprint():
    return (KEY_DIR / "signing-key.fingerprint").read_text().strip()


def key_fingerprints(armored: str) -> list[str]:
    """The primary key fingerprints of an armored OpenPGP public key file, read by
    GnuPG on the controller."""
    result = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--show-keys"],
        input=armored, capture_output=True, text=True, check=True,
    )
    lines = result.stdout.splitlines()
    fprs = []
    for number, line in enumerate(lines):
        if line.startswith("pub:"):
            fprs.append(lines[number + 1].split(":")[9])
    return fprs


def signer(host, path: str):
    """What sqv (apt's verifier on trixie) says signed the clear-signed ``path``
    with the client's pinned keyring: (rc, fingerprint or error)."""
    result = host.run(
        f"rm -f /tmp/rotation-out; sqv --keyring {KEYRING} --cleartext "
        f"--output /tmp/rotation-out {shlex.quote(path)}; rc=$?; rm -f /tmp/rotation-out; exit $rc"
    )
    return result.rc, (result.stdout.strip() or result.stderr.strip())


def copy_release_files(source: str, destination: str) -> str:
    """The shell command that copies the signed Release files, times kept."""
    return "cp -p " + " ".join(f"{source}/{name}" for name in RELEASE_FILES) + f" {destination}/"


def update_repository_lists(host):
    """apt-get update of the council's repository alone, as the role's client runs it."""
    return host.run(
        f"LC_ALL=C.UTF-8 apt-get update --error-on=any -o Dir::Etc::SourceList={SOURCE} "
        "-o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=false"
    )


@pytest.fixture(scope="module")
def rotation():
    """Step 1 and the run of steps 2 and 3 of the README, once for the tests below."""
    from teletreball_testinfra import run_converge

    client = testinfra.get_host("podman://pkg-client")
    old = fingerprint()
    # The client trusts the old key and holds an index it signed.
    assert signer(client, LISTS_INRELEASE) == (0, old)
    client.check_output(f"cp {LISTS_INRELEASE} {OLD_INRELEASE}")
    # The repository's Release files signed by the old key, to serve again later.
    repo_host().check_output(f"rm -rf {SAVED} && mkdir -p {SAVED}/old {SAVED}/new && "
                             + copy_release_files(DISTS, f"{SAVED}/old"))

    # The date of the README's name, to the second: a run stopped before its
    # teardown leaves its folder behind, never in the way of the next.
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    moved = KEY_DIR.with_name(f"package-repo.old-{stamp}")
    assert not moved.exists()
    KEY_DIR.rename(moved)
    start = time.monotonic()
    result, stats = run_converge()
    seconds = time.monotonic() - start
    yield {"old": old, "moved": moved, "result": result, "stats": stats, "seconds": seconds}
    # The README: keep the old folder until the clients have the new key, then destroy it.
    shutil.rmtree(moved)
    client.run(f"rm -f {OLD_INRELEASE}")
    repo_host().run(f"rm -rf {SAVED}")


def test_the_run_makes_a_new_key_and_signs_the_repository_with_it(host, rotation, measurement):
    measurement(f"package_repo: the rotation run (new key, re-signed, clients updated) "
                f"took {rotation['seconds']:.0f} s")
    new = fingerprint()
    assert new != rotation["old"]
    assert (KEY_DIR / "signing-key.asc").stat().st_mode & 0o777 == 0o600
    assert KEY_DIR.stat().st_mode & 0o777 == 0o700
    assert key_fingerprints((KEY_DIR / "signing-key.pub.asc").read_text()) == [new]
    stats = rotation["stats"]
    assert GENERATE in stats["pkg-repo"]["changed_tasks"], stats["pkg-repo"]
    assert EXPORT in stats["pkg-repo"]["changed_tasks"], stats["pkg-repo"]
    assert REFRESH in stats["pkg-client"]["changed_tasks"], stats["pkg-client"]

    repo = repo_host()
    conf = repo.file(f"{BASE}/conf/distributions").content_string
    assert f"SignWith: {new}\n" in conf, conf
    # The served Release files verify with the new public key only: the detached
    # Release.gpg and the clear-signed InRelease, by sqv on the repository host.
    served_key = repo.file("/srv/teletreball-repo/teletreball.asc").content_string
    assert served_key == (KEY_DIR / "signing-key.pub.asc").read_text()
    detached = repo.check_output(f"sqv --keyring /srv/teletreball-repo/teletreball.asc "
                                 f"--signature-file {DISTS}/Release.gpg {DISTS}/Release")
    assert detached.strip() == new
    # reprepro's keyring holds the new key, and no longer the old one.
    assert DELETE in stats["pkg-repo"]["changed_tasks"], stats["pkg-repo"]
    for listing in ("--list-secret-keys", "--list-keys"):
        keys = repo.check_output(f"gpg --homedir {BASE}/gnupg --batch --with-colons {listing}")
        fingerprints = [line.split(":")[9] for line in keys.splitlines() if line.startswith("fpr:")]
        assert fingerprints == [new], keys


def test_the_client_trusts_only_the_new_key_for_the_repository(host, rotation):
    new = fingerprint()
    assert key_fingerprints(host.file(KEYRING).content_string) == [new]
    assert signer(host, LISTS_INRELEASE) == (0, new)
    # An index signed by the old key no longer verifies with the pinned keyring.
    rc, error = signer(host, OLD_INRELEASE)
    assert rc != 0, error
    assert rotation["old"] in error, error
    # The repository's own lists are those the repository serves now.
    served = repo_host().check_output(f"sha256sum {DISTS}/InRelease").split()[0]
    assert host.check_output(f"sha256sum {LISTS_INRELEASE}").split()[0] == served


def test_apt_updates_and_installs_from_the_repository_signed_by_the_new_key(host, rotation):
    update = update_repository_lists(host)
    assert update.rc == 0, update.stdout + update.stderr
    # Downloaded again (not from apt's cache), its hash checked against the
    # Packages index that the newly signed InRelease lists.
    host.check_output("rm -f /var/cache/apt/archives/ttdemo_*.deb")
    install = host.run("LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "
                       "apt-get install --reinstall --yes ttdemo")
    assert install.rc == 0, install.stdout + install.stderr
    assert f"http://pkg-repo {SUITE}/main" in install.stdout, install.stdout
    assert host.check_output("ttdemo") == "ttdemo runs with libttdemo 1.0-1"


def test_apt_refuses_a_release_signed_by_the_old_key(host, rotation):
    repo = repo_host()
    repo.check_output(copy_release_files(DISTS, f"{SAVED}/new") + " && "
                      + copy_release_files(f"{SAVED}/old", DISTS))
    try:
        refused = update_repository_lists(host)
    finally:
        repo.check_output(copy_release_files(f"{SAVED}/new", DISTS))
    output = refused.stdout + refused.stderr
    assert refused.rc != 0, output
    assert "OpenPGP signature verification failed" in output, output
    assert f"Missing key {rotation['old']}" in output, output
    # apt kept the lists it had verified; the repository signed by the new key is
    # accepted again, and then has nothing new.
    assert signer(host, LISTS_INRELEASE) == (0, fingerprint())
    again = update_repository_lists(host)
    assert again.rc == 0, again.stdout + again.stderr
    settled = update_repository_lists(host)
    assert settled.rc == 0, settled.stdout + settled.stderr
    assert "Get:" not in settled.stdout, again.stdout + settled.stdout


def test_a_second_run_after_the_rotation_changes_nothing(host, rotation, measurement):
    from teletreball_testinfra import run_converge

    start = time.monotonic()
    result, stats = run_converge()
    measurement(f"package_repo: the run after the rotation took {time.monotonic() - start:.0f} s")
    changed = {name: summary["changed_tasks"] for name, summary in stats.items()
               if summary["changed"]}
    assert changed == {}, result.stdout[-3000:]
    assert set(stats) >= {"pkg-repo", "pkg-client"}
