"""Unit tests of the council repository's build checks: the cache key and local
version (library/teletreball_build_cache.py), the installability check with the
real apt-get on file: repositories (library/teletreball_deb_installable.py) and
the choice of the packages to publish (filter teletreball_debs_to_publish)."""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import subprocess
import sys

import pytest
from module_runner import load_library_module, run_main

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "filter_plugins"))
from teletreball_filters import debs_to_publish  # noqa: E402  pylint: disable=wrong-import-position

VERSION = "1:22.10.1+dfsg+~cs6.17.60671434-1"
MADISON = """\
 debhelper | 14.5~bpo13+1 | http://mirror.invalid/debian trixie-backports/main amd64 Packages
 debhelper |    13.24.2 | http://mirror.invalid/debian trixie/main amd64 Packages
 debhelper |       14.6 | http://mirror.invalid/debian forky/main Sources
       gcc | 4:14.2.0-1 | http://mirror.invalid/debian trixie/main amd64 Packages
"""


@pytest.fixture(name="cache_module")
def fixture_cache_module():
    return load_library_module("teletreball_build_cache")


@pytest.fixture(name="installable_module")
def fixture_installable_module():
    return load_library_module("teletreball_deb_installable")


def cache_args(cache_dir, **changes):
    args = {
        "cache_dir": str(cache_dir),
        "source": "asterisk",
        "version": VERSION,
        "release": "trixie",
        "release_version": "13",
        "architecture": "amd64",
        "tools": MADISON,
        "recipe": "2",
        "published": [],
    }
    args.update(changes)
    return args


def complete(folder, local_version):
    folder.mkdir(parents=True)
    (folder / ".complete").write_text(
        f"source: asterisk\nversion: {VERSION}\nlocal_version: {local_version}\n"
        "tools:\n  - gcc 4:14.2.0-1 x\n"
    )


# ---------- cache key and local version ----------


def test_a_first_build_gets_the_first_local_version_in_a_folder_named_by_release_and_key(
    cache_module, tmp_path, capsys
):
    result = run_main(cache_module, cache_args(tmp_path), capsys)
    assert result["rc"] == 0 and result["changed"] is False
    assert not result["complete"]
    assert result["local_version"] == VERSION + "~tt13+1"
    assert result["path"] == str(
        tmp_path / f"asterisk_22.10.1+dfsg+~cs6.17.60671434-1_trixie_{result['key']}"
    )
    assert len(result["key"]) == 12


def test_the_key_ignores_mirror_addresses_and_source_indexes(cache_module, tmp_path, capsys):
    first = run_main(cache_module, cache_args(tmp_path), capsys)
    other_mirror = MADISON.replace("http://mirror.invalid/debian", "file:/srv/mirror")
    newer_source = MADISON.replace("14.6 |", "14.7 |")
    assert (
        run_main(cache_module, cache_args(tmp_path, tools=other_mirror), capsys)["key"]
        == first["key"]
    )
    assert (
        run_main(cache_module, cache_args(tmp_path, tools=newer_source), capsys)["key"]
        == first["key"]
    )
    assert "debhelper 14.5~bpo13+1 trixie-backports/main amd64 Packages" in first["tools"]
    assert not any("Sources" in line for line in first["tools"])


@pytest.mark.parametrize(
    "change",
    [
        {"version": "1:22.10.2-1"},
        {"release": "forky"},
        {"architecture": "arm64"},
        {"recipe": "3"},
        {"tools": MADISON.replace("14.5~bpo13+1", "14.6~bpo13+1")},
        {"tools": MADISON.replace("4:14.2.0-1", "4:14.2.0-2")},
    ],
)
def test_every_input_of_the_build_changes_the_key(cache_module, tmp_path, capsys, change):
    first = run_main(cache_module, cache_args(tmp_path), capsys)
    assert run_main(cache_module, cache_args(tmp_path, **change), capsys)["key"] != first["key"]


def test_a_finished_build_is_found_with_its_own_local_version(cache_module, tmp_path, capsys):
    entry = run_main(cache_module, cache_args(tmp_path), capsys)
    complete(pathlib.Path(entry["path"]), VERSION + "~tt13+4")
    again = run_main(cache_module, cache_args(tmp_path, published=[VERSION + "~tt13+4"]), capsys)
    assert again["complete"] and again["local_version"] == VERSION + "~tt13+4"


def test_a_folder_without_a_local_version_is_not_complete(cache_module, tmp_path, capsys):
    entry = run_main(cache_module, cache_args(tmp_path), capsys)
    folder = pathlib.Path(entry["path"])
    folder.mkdir()
    (folder / ".complete").write_text(f"source: asterisk\nversion: {VERSION}\n")
    assert not run_main(cache_module, cache_args(tmp_path), capsys)["complete"]


def test_a_new_build_environment_gets_a_newer_local_version_than_cached_and_published(
    cache_module, tmp_path, capsys
):
    complete(
        tmp_path / "asterisk_22.10.1+dfsg+~cs6.17.60671434-1_trixie_aaaaaaaaaaaa",
        VERSION + "~tt13+2",
    )
    result = run_main(cache_module, cache_args(tmp_path), capsys)
    assert result["local_version"] == VERSION + "~tt13+3"
    assert result["others"] == [
        str(tmp_path / "asterisk_22.10.1+dfsg+~cs6.17.60671434-1_trixie_aaaaaaaaaaaa")
    ]
    published = [VERSION, VERSION + "~tt13+7", "2:1.0-1~tt13+9"]
    result = run_main(cache_module, cache_args(tmp_path, published=published), capsys)
    assert result["local_version"] == VERSION + "~tt13+8"


def test_a_build_of_the_forky_version_without_suffix_does_not_count(cache_module, tmp_path, capsys):
    complete(tmp_path / "asterisk_22.10.1+dfsg+~cs6.17.60671434-1", VERSION)
    result = run_main(cache_module, cache_args(tmp_path, published=[VERSION]), capsys)
    assert result["local_version"] == VERSION + "~tt13+1" and result["others"] == []


@pytest.mark.parametrize(
    "change, words",
    [
        ({"source": "Asterisk"}, "source"),
        ({"version": "1:22 10"}, "version"),
        ({"release": "../trixie"}, "release"),
        ({"release_version": "13a"}, "release_version"),
        ({"suffix": "t1"}, "suffix"),
    ],
)
def test_bad_inputs_are_refused_by_name(cache_module, tmp_path, capsys, change, words):
    result = run_main(cache_module, cache_args(tmp_path, **change), capsys)
    assert result["rc"] == 1 and result["failed"] and words in result["msg"]


# ---------- installability, with the real apt-get on file: repositories ----------

needs_apt = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None,
    reason="apt-get and dpkg-deb are Debian's; this controller has none",
)


def make_deb(folder, name, version, depends=None, arch="all"):
    root = folder / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: Test <test@example.invalid>\nDescription: test package\n"
    )
    if depends:
        control += f"Depends: {depends}\n"
    (root / "DEBIAN" / "control").write_text(control)
    deb = folder / f"{name}_{version.split(':')[-1]}_{arch}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(root)
    return deb


def suite_repo(base, suite, debs):
    """A repository of one suite (component main) holding ``debs``, as a mirror has it."""
    index = base / "dists" / suite / "main" / "binary-amd64"
    index.mkdir(parents=True)
    stanzas = []
    for deb in debs:
        control = subprocess.run(
            ["dpkg-deb", "--field", str(deb)], check=True, capture_output=True, text=True
        ).stdout
        shutil.copy(deb, base / deb.name)
        stanzas.append(f"{control.rstrip()}\nFilename: {deb.name}\nSize: {deb.stat().st_size}\n")
    packages = "\n".join(stanzas) + "\n"
    (index / "Packages").write_text(packages)
    digest = hashlib.sha256(packages.encode()).hexdigest()
    (base / "dists" / suite / "Release").write_text(
        f"Suite: {suite}\nCodename: {suite}\nArchitectures: amd64\nComponents: main\nSHA256:\n"
        f" {digest} {len(packages.encode())} main/binary-amd64/Packages\n"
    )
    return f"deb [trusted=yes] file:{base} {suite} main"


@pytest.fixture(name="release")
def fixture_release(tmp_path):
    """A tiny release: libttdemo1 1.0 and a tool, as the suite trixie of a mirror."""
    pool = tmp_path / "pool"
    pool.mkdir()
    debs = [make_deb(pool, "libttdemo1", "1.0-1"), make_deb(pool, "ttbase", "3.0")]
    return suite_repo(tmp_path / "mirror", "trixie", debs)


@pytest.fixture(name="built")
def fixture_built(tmp_path):
    """The folder of the packages a test builds."""
    folder = tmp_path / "built"
    folder.mkdir()
    return folder


def check(module, capsys, debs, release, **more):
    tmp = pathlib.Path(release.split("file:", 1)[1].split()[0]).parent
    args = {
        "packages": [str(d) for d in debs],
        "release": "trixie",
        "sources": [release],
        "tmpdir": str(tmp),
    }
    args.update(more)
    return run_main(module, args, capsys)


@needs_apt
def test_packages_built_against_the_release_are_installable(
    installable_module, built, capsys, release
):
    debs = [
        make_deb(
            built, "ttdemo", "1:2.0-1~tt13+1", "libttdemo1 (>= 1.0), ttdemo-data (= 1:2.0-1~tt13+1)"
        ),
        make_deb(built, "ttdemo-data", "1:2.0-1~tt13+1"),
    ]
    result = check(installable_module, capsys, debs, release)
    assert result["rc"] == 0, result["msg"] if result["rc"] else ""
    assert result["installable"] and result["problems"] == []
    assert result["changed"] is False
    assert sorted(result["checked"]) == ["ttdemo-data=1:2.0-1~tt13+1", "ttdemo=1:2.0-1~tt13+1"]


@needs_apt
def test_a_library_newer_than_the_release_is_named_with_its_package(
    installable_module, built, capsys, release
):
    debs = [
        make_deb(built, "ttdemo", "2.0-1~tt13+1", "libttdemo1 (>= 2.0~bpo13+1)"),
        make_deb(built, "ttdemo-doc", "2.0-1~tt13+1", "ttbase"),
    ]
    result = check(installable_module, capsys, debs, release)
    assert result["rc"] == 1 and result["failed"] and not result["installable"]
    assert [p["package"] for p in result["problems"]] == ["ttdemo"]
    assert "ttdemo : Depends: libttdemo1 (>= 2.0~bpo13+1)" in result["problems"][0]["unmet"][0]
    assert "ttdemo 2.0-1~tt13+1" in result["msg"] and "libttdemo1 (>= 2.0~bpo13+1)" in result["msg"]
    assert not list(built.parent.glob("teletreball-installable.*"))  # its apt root is removed

    quiet = check(installable_module, capsys, debs, release, fail=False)
    assert (
        quiet["rc"] == 0
        and not quiet["installable"]
        and quiet["problems"][0]["package"] == "ttdemo"
    )


@needs_apt
def test_a_package_missing_from_the_set_is_unmet(installable_module, built, capsys, release):
    debs = [make_deb(built, "ttdemo", "2.0-1~tt13+1", "ttdemo-modules (= 2.0-1~tt13+1)")]
    result = check(installable_module, capsys, debs, release, fail=False)
    assert not result["installable"] and "ttdemo-modules" in result["problems"][0]["unmet"][0]


@needs_apt
def test_without_a_source_of_the_release_it_refuses_to_judge(
    installable_module, tmp_path, capsys, release
):
    deb = make_deb(tmp_path, "ttdemo", "2.0-1")
    result = run_main(
        installable_module,
        {
            "packages": [str(deb)],
            "release": "trixie",
            "sources": ["deb http://mirror.invalid/debian trixie-backports main"],
        },
        capsys,
    )
    assert result["rc"] == 1 and "No apt source of the release trixie itself" in result["msg"]


@needs_apt
def test_two_versions_of_one_package_and_a_file_that_is_no_package_are_refused(
    installable_module, tmp_path, capsys, release
):
    one = make_deb(tmp_path, "ttdemo", "2.0-1")
    (tmp_path / "other").mkdir()
    two = make_deb(tmp_path / "other", "ttdemo", "2.0-2")
    result = check(installable_module, capsys, [one, two], release)
    assert result["rc"] == 1 and "both the package ttdemo" in result["msg"]
    junk = tmp_path / "junk_1.0_all.deb"
    junk.write_text("not a package")
    result = check(installable_module, capsys, [junk], release)
    assert result["rc"] == 1 and "is not a Debian package" in result["msg"]


def test_release_sources_keep_only_the_release_binary_indexes(installable_module):
    targets = "\n".join(
        [
            "Packages\tdeb\thttp://m.invalid/debian/\ttrixie\tmain",
            "Packages\tdeb\thttp://m.invalid/debian/\ttrixie\tcontrib",
            "Packages\tdeb\thttp://m.invalid/debian/\ttrixie-backports\tmain",
            "Packages\tdeb\thttp://s.invalid/debian-security/\ttrixie-security\tmain",
            "Sources\tdeb-src\thttp://m.invalid/debian/\tforky\tmain",
            "Translations\tdeb\thttp://m.invalid/debian/\ttrixie\tmain",
            "Packages\tdeb\thttp://repo.invalid/\tteletreball-trixie\tmain",
        ]
    )
    sources = installable_module.release_sources(
        targets, installable_module.default_suites("trixie")
    )
    assert sources == [
        "deb http://m.invalid/debian/ trixie contrib main",
        "deb http://s.invalid/debian-security/ trixie-security main",
    ]


def test_unmet_lines_read_both_apt_layouts(installable_module):
    classic = (
        "Reading package lists...\nThe following packages have unmet dependencies:\n"
        " asterisk-modules : Depends: libxml2-16 (>= 2.14.1) but it is not installable\n"
        "                    Depends: libcurl4t64 (>= 8.14) but 8.11.1-1 is to be installed\n"
        "E: Unable to correct problems, you have held broken packages.\n"
    )
    assert installable_module.unmet_lines(classic) == [
        "asterisk-modules : Depends: libxml2-16 (>= 2.14.1) but it is not installable",
        "asterisk-modules : Depends: libcurl4t64 (>= 8.14) but 8.11.1-1 is to be installed",
    ]
    assert installable_module.unmet_lines("E: Unable to locate package ttdemo\n") == [
        "E: Unable to locate package ttdemo"
    ]


# ---------- what is published ----------


def test_debs_to_publish_keep_the_architecture_and_all_minus_exclusions_and_debug_symbols():
    paths = [
        "/c/asterisk_22-1~tt13+1_amd64.deb",
        "/c/asterisk-config_22-1~tt13+1_all.deb",
        "/c/asterisk-dev_22-1~tt13+1_amd64.deb",
        "/c/asterisk-dbgsym_22-1~tt13+1_amd64.deb",
        "/c/asterisk_22-1~tt13+1_arm64.deb",
        "/c/asterisk_22-1~tt13+1_amd64.buildinfo",
        "/c/odd.deb",
    ]
    assert debs_to_publish(paths, "amd64", ["asterisk-dev"]) == [
        {
            "name": "asterisk-config",
            "version": "22-1~tt13+1",
            "file": "asterisk-config_22-1~tt13+1_all.deb",
            "path": "/c/asterisk-config_22-1~tt13+1_all.deb",
        },
        {
            "name": "asterisk",
            "version": "22-1~tt13+1",
            "file": "asterisk_22-1~tt13+1_amd64.deb",
            "path": "/c/asterisk_22-1~tt13+1_amd64.deb",
        },
    ]
