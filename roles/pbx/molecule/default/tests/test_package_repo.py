# ruff: noqa: S101, S108, S603, S607
"""The council's package repository, seen from its host and from a client.

In the pbx scenario (roles/pbx/molecule/default). The repository host is in
package_repo_hosts, the client (the PBX) ran the entry point `client` and
installed Asterisk. Host names can be changed
with PACKAGE_REPO_TEST_REPO and PACKAGE_REPO_TEST_CLIENT.

The untrusted-key tests run apt in a scratch folder of the client (own lists and
sources), so the client's own apt state is never touched.
"""

from __future__ import annotations

import os
import pathlib
import re
import stat

import pytest
import testinfra

REPO = os.environ.get("PACKAGE_REPO_TEST_REPO", "repo")
CLIENT = os.environ.get("PACKAGE_REPO_TEST_CLIENT", "pbx")
CREDENTIALS = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / (
    "credentials"
)
SUITE = "teletreball-trixie"
ORIGIN = "teletreball"
KEYRING = "/etc/apt/keyrings/teletreball.asc"
SOURCE = "/etc/apt/sources.list.d/teletreball.sources"
CACHE = (
    pathlib.Path(os.environ.get("TT_CACHE_DIR") or pathlib.Path.home() / ".cache" / "teletreball")
    / "packages"
)

testinfra_hosts = [f"podman://{CLIENT}"]
# package_repo_packages of molecule.yml: the clients pin src:asterisk alone.
CLIENT_SOURCES = ["asterisk"]


def repo_host():
    return testinfra.get_host(f"podman://{REPO}")


def repo_url(host) -> str:
    """The URIs: line of the client's deb822 source."""
    for line in host.file(SOURCE).content_string.splitlines():
        if line.startswith("URIs:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{SOURCE} has no URIs")


def scratch_update(host, signed_by: str | None):
    """apt-get update of the repository alone, in a scratch folder, with the given key."""
    scratch = "/tmp/package-repo-test"
    lines = [f"Types: deb\nURIs: {repo_url(host)}\nSuites: {SUITE}\nComponents: main\n"]
    if signed_by:
        lines.append(f"Signed-By: {signed_by}\n")
    host.run(f"rm -rf {scratch} && mkdir -p {scratch}/lists/partial {scratch}/parts")
    host.run(f"cat > {scratch}/test.sources <<'EOF'\n{''.join(lines)}EOF")
    return host.run(
        "apt-get update"
        f" -o Dir::Etc::SourceList={scratch}/test.sources"
        f" -o Dir::Etc::SourceParts={scratch}/parts"
        f" -o Dir::State::Lists={scratch}/lists"
        " -o APT::Update::Error-Mode=any"
    )


def repo_params(host, **role) -> dict:
    """The params of REPO-SIG-01 (roles/package_repo/tasks/audit.yml) in this scenario."""
    fingerprint = (CREDENTIALS / "package-repo" / "signing-key.fingerprint").read_text()
    return {"repo_fingerprint": fingerprint.strip(), "repo_url": repo_url(host),
            "repo_suite": SUITE, "repo_origin": ORIGIN, "repo_client_sources": CLIENT_SOURCES,
            **role}


@pytest.mark.control("REPO-SIG-01")
def test_the_client_trusts_the_pinned_key_for_its_source_and_pins_the_packages(
        host, control_check):
    """The audit's check on the PBX: the deb822 source with Signed-By, the key of the
    controller's fingerprint and in no global keyring, no other source of the repository,
    the pins, and apt's lists of the repository at priority -1."""
    control_check("REPO-SIG-01", repo_params(host, repo_client=True))


@pytest.mark.control("REPO-SIG-01")
def test_the_repository_host_publishes_a_release_signed_by_the_council_key(host, control_check):
    """The audit's check on the repository host: the published key is the controller's,
    sqv verifies Release with it and not with Debian's key, InRelease carries Release."""
    control_check("REPO-SIG-01", repo_params(host, repo_server=True), on=repo_host())


@pytest.mark.control("REPO-SIG-01")
def test_release_is_signed_by_the_council_key_kept_on_the_controller(host):
    key_dir = CREDENTIALS / "package-repo"
    private = key_dir / "signing-key.asc"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert "PRIVATE KEY" in private.read_text()
    public = (key_dir / "signing-key.pub.asc").read_text()
    assert host.file(KEYRING).content_string == public
    assert "PRIVATE" not in host.file(KEYRING).content_string
    url = repo_url(host).rstrip("/")
    fetch = (
        "python3 -c 'import sys, urllib.request; "
        "sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "
    )
    host.check_output(f"{fetch} {url}/dists/{SUITE}/Release > /tmp/Release")
    host.check_output(f"{fetch} {url}/dists/{SUITE}/Release.gpg > /tmp/Release.gpg")
    verified = host.run(f"sqv --keyring {KEYRING} /tmp/Release.gpg /tmp/Release")
    assert verified.rc == 0, verified.stderr
    release = host.file("/tmp/Release").content_string
    assert f"Origin: {ORIGIN}" in release and f"Codename: {SUITE}" in release
    # Debian's own archive key does not verify it.
    debian_key = "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert host.run(f"sqv --keyring {debian_key} /tmp/Release.gpg /tmp/Release").rc != 0


@pytest.mark.control("REPO-SIG-01")
def test_apt_refuses_the_repository_without_its_pinned_key(host):
    # The key is trusted for this one source only (Signed-By), never globally: the
    # audit's check (above); here apt itself, with and without that key.
    good = scratch_update(host, KEYRING)
    assert good.rc == 0, good.stdout + good.stderr
    unsigned = scratch_update(host, None)
    assert unsigned.rc != 0
    assert "NO_PUBKEY" in unsigned.stdout + unsigned.stderr or "not signed" in (
        unsigned.stdout + unsigned.stderr
    )
    wrong = scratch_update(host, "/usr/share/keyrings/debian-archive-keyring.gpg")
    assert wrong.rc != 0
    assert "NO_PUBKEY" in wrong.stdout + wrong.stderr or "not signed" in (
        wrong.stdout + wrong.stderr
    )


@pytest.mark.control("REPO-SIG-01")
def test_asterisk_is_installed_from_the_council_repository(host):
    installed = host.check_output("dpkg-query -W -f '${Version}' asterisk")
    policy = host.check_output("apt-cache policy asterisk")
    # The installed version is the repository's, at the pinned priority 500.
    lines = policy.splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip().startswith(f"*** {installed} "))
    assert lines[row].split()[-1] == "500", policy
    assert f"{repo_url(host).rstrip('/')} {SUITE}/main" in lines[row + 1], policy
    listed = repo_host().check_output(
        f"reprepro --basedir /var/lib/teletreball-repo --list-format '${{version}}' "
        f"list {SUITE} asterisk"
    )
    assert listed.strip() == installed
    # Everything else of the repository is pinned away: the audit's check (above).
    # Asterisk's sounds come from Debian, not from the council.
    sounds = host.run("apt-cache policy asterisk-core-sounds-en").stdout
    assert SUITE not in sounds


def test_repository_serves_the_published_tree_only(host):
    url = repo_url(host).rstrip("/")
    fetch = "python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "
    assert host.run(f"{fetch} {url}/dists/{SUITE}/InRelease").rc == 0
    for path in ("conf/distributions", "db/packages.db", "signing-key.asc", "gnupg/"):
        assert host.run(f"{fetch} {url}/{path}").rc != 0, path
    repo = repo_host()
    assert repo.file("/var/lib/teletreball-repo/signing-key.asc").mode == 0o600
    assert repo.file("/var/lib/teletreball-repo/gnupg").mode == 0o700


def test_the_build_left_nothing_behind_and_its_result_is_cached():
    repo = repo_host()
    version = repo.check_output(
        f"reprepro --basedir /var/lib/teletreball-repo --list-format '${{version}}' "
        f"list {SUITE} asterisk"
    ).strip()
    # The published version is the rebuild's local one (Debian's backport style).
    assert re.fullmatch(r".+~tt13\+[0-9]+", version), version
    marks = [m for m in CACHE.glob("asterisk_*_trixie_*/.complete") if m.is_file()]
    folders = [m.parent for m in marks if f"local_version: {version}\n" in m.read_text()]
    assert len(folders) == 1, f"no cached build of {version} in {CACHE}"
    folder = folders[0]
    assert list(folder.glob(f"asterisk_{version.split(':', 1)[-1]}_*.deb"))
    assert list(folder.glob("*.buildinfo"))
    assert not repo.package("asterisk-build-deps").is_installed
    assert not repo.file("/var/tmp/teletreball-build").exists
