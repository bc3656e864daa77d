# ruff: noqa: S101, S603, S607
"""The build environment of the council's repository, proven on a tiny package.

Scenario roles/package_repo/molecule/default: ttdemo build-depends on
libttdemo-dev, of which the test mirror's backports carry a newer version (2.0)
than its release (1.0). Built the old way (apt-get -t <release>-backports) the
binary depends on libttdemo1 (>= 2.0), which no plain host of the release can
install. These tests fail on that build. Every test takes ``host`` so that pytest
keeps the order of this file: the last one discards the cached build.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

import pytest
import testinfra

SUITE = "teletreball-trixie"
BASE = "/var/lib/teletreball-repo"
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
CACHE = EPHEMERAL / "packages"

testinfra_hosts = ["podman://pkg-client"]


def repo_host():
    return testinfra.get_host("podman://pkg-repo")


def published(name="ttdemo"):
    out = repo_host().check_output(
        f"reprepro --basedir {BASE} --list-format '${{version}}\\n' list {SUITE} {name}"
    )
    return out.strip()


def cached_builds():
    marks = sorted(CACHE.glob("ttdemo_1.0_trixie_*/.complete")) if CACHE.is_dir() else []
    return [m.parent for m in marks]


def test_the_rebuild_installs_on_a_plain_release_host_and_runs_with_the_release_library(host):
    version = host.check_output("dpkg-query -W -f '${Version}' ttdemo")
    assert re.fullmatch(r"1\.0~tt13\+[0-9]+", version), version
    assert version == published()
    depends = host.check_output("dpkg-query -W -f '${Depends}' ttdemo")
    assert re.search(r"libttdemo1 \(>= 1\.0\)", depends), depends
    assert "2.0" not in depends
    assert host.check_output("dpkg-query -W -f '${Version}' libttdemo1") == "1.0-1"
    assert host.check_output("ttdemo") == "ttdemo runs with libttdemo 1.0-1"
    # The installed version is the council's (pinned), not one from Debian's mirror.
    policy = host.check_output("apt-cache policy ttdemo")
    assert f"{SUITE}/main" in policy, policy


def test_only_the_named_build_tool_came_from_backports(host):
    (folder,) = cached_builds()
    (buildinfo,) = folder.glob("ttdemo_*.buildinfo")
    text = buildinfo.read_text()
    installed = text.split("Installed-Build-Depends:", 1)[1].split("\n\n", 1)[0]
    backports = sorted(set(re.findall(r"^ (\S+) \(= [^)]*~bpo[^)]*\)", installed, re.M)))
    assert backports == ["tt-build-helper"], backports
    assert re.search(r"^ libttdemo-dev \(= 1\.0-1\)", installed, re.M), installed
    complete = (folder / ".complete").read_text()
    assert "tt-build-helper 2.0~bpo13+1 trixie-backports/main" in complete
    assert f"local_version: {published()}\n" in complete


def test_the_build_left_no_build_dependency_on_the_repository_host(host):
    repo = repo_host()
    assert not repo.package("ttdemo-build-deps").is_installed
    assert not repo.package("libttdemo-dev").is_installed
    assert not repo.file("/var/tmp/teletreball-build").exists  # noqa: S108


def break_the_cached_build(folder):
    """Rewrite the cached ttdemo .deb so that it depends on the backports library,
    as a build of the old way did, keeping its name and version."""
    (deb,) = folder.glob("ttdemo_*.deb")
    work = folder.parent / "unpacked"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(work)], check=True)
    control = work / "DEBIAN" / "control"
    text = re.sub(r"libttdemo1 \(>= 1\.0\)", "libttdemo1 (>= 2.0)", control.read_text())
    control.write_text(text)
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(work), str(deb)],
        check=True,
        capture_output=True,
    )
    subprocess.run(["rm", "-rf", str(work)], check=True)


@pytest.mark.skipif("MOLECULE_INVENTORY_FILE" not in os.environ, reason="needs Molecule")
def test_a_cached_build_the_hosts_cannot_install_is_discarded_not_served(host):
    from teletreball_testinfra import run_converge

    (folder,) = cached_builds()
    break_the_cached_build(folder)
    # The repository no longer has it: the next run publishes from the cache.
    repo_host().check_output(f"reprepro --basedir {BASE} remove {SUITE} ttdemo")

    result, _ = run_converge("--limit", "pkg-repo", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "cannot be installed on a plain trixie host" in output, output[-3000:]
    assert "ttdemo : Depends: libttdemo1 (>= 2.0)" in output, output[-3000:]
    assert "Run again to build ttdemo anew" in output, output[-3000:]
    assert not folder.exists(), "the broken build is still cached"
    assert published() == ""
    # (The next run builds it again: a folder without .complete is a cache miss,
    # as in the first converge.)

    # The repository's Release file changed (ttdemo removed): the client's next
    # run refreshes its copy of the repository's lists, nothing else.
    run_converge("--limit", "pkg-client")
    served = repo_host().check_output(f"sha256sum /srv/teletreball-repo/dists/{SUITE}/InRelease")
    lists = host.check_output(f"sha256sum /var/lib/apt/lists/*_dists_{SUITE}_InRelease")
    assert served.split()[0] == lists.split()[0]
    assert "ttdemo" not in host.run("apt-cache madison ttdemo").stdout
