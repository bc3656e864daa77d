"""Unit tests of the module teletreball_cert_expiry: when does each certificate and key of
a host end, and which of them must a run warn or fail about?

Each test makes real certificates in a temporary folder with the cryptography library (an
internal CA and another, "external", one; leaves that ended, or end in 5, 40 or 100 days),
real WireGuard and SSH keys, and a real OpenPGP key with gpg, and runs the module on them."""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from module_runner import collect_warnings, load_library_module, run_main

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
NOW_TEXT = "2026-12-07T12:00:00Z"
WATCH = {"warn_days": 45, "fail_days": 7, "label": "tt-conf", "now": NOW_TEXT}


@pytest.fixture(name="expiry")
def fixture_expiry():
    return load_library_module("teletreball_cert_expiry")


@pytest.fixture(name="warned")
def fixture_warned(monkeypatch):
    """The warnings of the module's runs in a test (a list a test may clear)."""
    return collect_warnings(monkeypatch)


def name(common_name):
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])


def make_ca(common_name, days=3650):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder().subject_name(name(common_name)).issuer_name(name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=30))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256()))
    return key, certificate


def make_leaf(ca, common_name, days):
    ca_key, ca_certificate = ca
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder().subject_name(name(common_name))
        .issuer_name(ca_certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=300))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256()))
    return key, certificate


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def install(folder, entry, ca, key_and_certificate):
    """<entry>.key, .crt, .chain.crt and .fullchain.crt, as the role pki writes them."""
    key, certificate = key_and_certificate
    (folder / f"{entry}.key").write_bytes(key_pem(key))
    os.chmod(folder / f"{entry}.key", 0o600)
    (folder / f"{entry}.crt").write_bytes(pem(certificate))
    (folder / f"{entry}.chain.crt").write_bytes(pem(ca[1]))
    (folder / f"{entry}.fullchain.crt").write_bytes(pem(certificate) + pem(ca[1]))


@pytest.fixture(name="host")
def fixture_host(tmp_path):
    """A host's /etc/teletreball/pki: the internal CA's ca.crt; internal certificates that
    ended 2 days ago, end in 5, 40 and 100 days; an external one that ends in 5 days."""
    folder = tmp_path / "pki"
    folder.mkdir()
    internal = make_ca("teletreball internal CA")
    external = make_ca("Public ACME issuer")
    (folder / "ca.crt").write_bytes(pem(internal[1]))
    leaves = {"expired": -2, "soon": 5, "month": 40, "later": 100}
    for entry, days in leaves.items():
        install(folder, entry, internal, make_leaf(internal, f"{entry}.example.org", days))
    install(folder, "public", external, make_leaf(external, "chat.example.org", 5))
    return {"folder": folder, "internal": internal, "external": external}


def by_name(result):
    return {os.path.basename(item["path"]): item for item in result["certificates"]}


def renew_all(folder, runs=True, within=30):
    return [{"path": str(folder / f"{entry}.crt"), "within_days": within, "runs": runs,
             "advice": "run playbooks/site.yml --tags pki"}
            for entry in ("ca", "expired", "soon", "month", "later", "public")]


def test_a_run_without_the_pki_play_fails_on_what_ends_within_7_days(expiry, warned, host, capsys):
    folder = host["folder"]
    result = run_main(expiry, dict(WATCH, directory=str(folder),
                                   renew=renew_all(folder, runs=False)), capsys)
    assert result["rc"] == 1 and result["failed"]
    # A failure shows what fails and warns, not the whole list.
    assert "certificates" not in result and len(result["expiring"]) == 4
    # The same without the stop, to see each one.
    found = by_name(run_main(expiry, dict(WATCH, directory=str(folder), fail_days=0,
                                          renew=renew_all(folder, runs=False)), capsys))
    # Each certificate once: the CA of the chains is ca.crt; no full chain is read.
    assert sorted(found) == ["ca.crt", "expired.crt", "later.crt", "month.crt", "public.chain.crt",
                             "public.crt", "soon.crt"]
    assert found["expired.crt"]["days_left"] == -2 and found["expired.crt"]["state"] == "warn"
    assert found["soon.crt"]["days_left"] == 5 and found["soon.crt"]["state"] == "warn"
    assert found["public.crt"]["state"] == "warn" and not found["public.crt"]["internal"]
    assert found["month.crt"]["state"] == "warn" and found["later.crt"]["state"] == "ok"
    assert found["ca.crt"]["kind"] == "CA certificate" and found["ca.crt"]["internal"]
    assert found["public.chain.crt"]["kind"] == "chain"
    assert found["public.chain.crt"]["issuer"] == "CN=Public ACME issuer"
    assert all(found[entry]["internal"] for entry in ("expired.crt", "soon.crt", "later.crt"))
    assert found["later.crt"]["not_after"].startswith("2027-03-17")
    assert found["soon.crt"]["subject"] == "CN=soon.example.org"
    assert found["soon.crt"]["issuer"] == "CN=teletreball internal CA"
    message = result["msg"]
    assert message.startswith("3 certificate(s) or key(s) end in less than 7 days")
    assert (f"tt-conf: {folder}/expired.crt (CN=expired.example.org, issued by the internal CA)"
            " expired on 2026-12-05 (2 days ago) and this run does not renew it: run "
            "playbooks/site.yml --tags pki") in message
    assert f"{folder}/soon.crt (CN=soon.example.org, issued by the internal CA) expires on " \
           "2026-12-12 (5 days left)" in message
    assert f"{folder}/public.crt (CN=chat.example.org, issued by CN=Public ACME issuer)" in message
    assert "pki_external_certificates" in message
    # The 40 days' certificate is a warning of one line (in each of the two runs).
    warnings = [line for line in warned if "month.crt" in line]
    assert warnings[:1] == [
        f"tt-conf: {folder}/month.crt (CN=month.example.org, issued by the internal CA) expires "
        "on 2027-01-16 (40 days left) and this run does not renew it: run playbooks/site.yml "
        "--tags pki."]


def test_the_pki_play_of_this_run_renews_internal_certificates_in_its_window(
        expiry, warned, host, capsys):
    folder = host["folder"]
    result = run_main(expiry, dict(WATCH, directory=str(folder),
                                   renew=renew_all(folder)), capsys)
    found = by_name(run_main(expiry, dict(WATCH, directory=str(folder), fail_days=0,
                                          renew=renew_all(folder)), capsys))
    assert found["expired.crt"]["renewed"] and found["soon.crt"]["renewed"]
    assert found["expired.crt"]["state"] == "renewed"
    # Outside the 30 days' window: this run leaves it; the warning says from when it will.
    assert found["month.crt"]["state"] == "warn" and not found["month.crt"]["renewed"]
    assert any("month.crt" in line and "this run reissues it only from 2026-12-17 "
               "(30 days before its end); run playbooks/site.yml" in line for line in warned)
    # An external certificate is never renewed by a run: it still fails the run.
    assert result["rc"] == 1
    assert found["public.crt"]["state"] == "warn" and not found["public.crt"]["renewed"]
    assert "public.crt" in result["msg"] and "soon.crt" not in result["msg"]
    # Without it, the run goes on.
    (folder / "public.crt").unlink()
    (folder / "public.chain.crt").unlink()
    result = run_main(expiry, dict(WATCH, directory=str(folder),
                                   renew=renew_all(folder)), capsys)
    assert result["rc"] == 0 and not result["changed"], result
    assert len(result["expiring"]) == 1 and "month.crt" in result["expiring"][0]


def test_an_internal_certificate_no_longer_declared_is_named_as_such(expiry, host, capsys):
    folder = host["folder"]
    renew = [item for item in renew_all(folder) if not item["path"].endswith("/soon.crt")]
    result = run_main(expiry, dict(WATCH, directory=str(folder), renew=renew), capsys)
    assert result["rc"] == 1 and f"{folder}/soon.crt" in result["msg"]
    assert "it is not in the host's pki_certificates" in result["msg"]


def test_the_internal_ca_is_the_one_given_by_the_controller(expiry, host, capsys):
    """A host whose ca.crt is not the controller's CA: its certificates are external."""
    folder = host["folder"]
    (folder / "ca.crt").write_bytes(pem(host["external"][1]))
    result = run_main(expiry, {"directory": str(folder), "now": NOW_TEXT}, capsys)
    found = by_name(result)
    assert not found["later.crt"]["internal"] and found["public.crt"]["internal"]
    result = run_main(expiry, {"directory": str(folder), "now": NOW_TEXT,
                               "ca_certificates": [pem(host["internal"][1]).decode()]}, capsys)
    found = by_name(result)
    assert found["later.crt"]["internal"]


def test_an_unreadable_file_is_a_warning_not_a_crash(expiry, warned, host, capsys):
    folder = host["folder"]
    (folder / "broken.crt").write_text("not a certificate\n")
    (folder / "folder.crt").mkdir()
    result = run_main(expiry, dict(WATCH, directory=str(folder), fail_days=0), capsys)
    assert result["rc"] == 0
    errors = {os.path.basename(item["path"]): item["error"] for item in result["errors"]}
    assert errors == {"broken.crt": "not a PEM certificate", "folder.crt": "not a regular file"}
    assert f"tt-conf: {folder}/broken.crt not a PEM certificate: its end is not watched." in \
        warned
    # The others are still read.
    assert "later.crt" in by_name(result)


def test_without_thresholds_it_only_lists(expiry, warned, host, capsys):
    result = run_main(expiry, {"directory": str(host["folder"]), "now": NOW_TEXT}, capsys)
    assert result["rc"] == 0 and not warned and result["expiring"] == []
    assert {item["state"] for item in result["certificates"]} == {"ok"}


def test_check_mode_reads_the_same_and_changes_nothing(expiry, host, capsys):
    folder = host["folder"]
    before = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()
              if path.is_file()}
    args = dict(WATCH, directory=str(folder), renew=renew_all(folder), fail_days=0)
    normal = run_main(expiry, args, capsys)
    checked = run_main(expiry, args, capsys, check_mode=True)
    assert checked["certificates"] == normal["certificates"] and not checked["changed"]
    after = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in folder.iterdir()
             if path.is_file()}
    assert after == before


def test_a_missing_folder_is_nothing_to_watch(expiry, tmp_path, capsys):
    result = run_main(expiry, dict(WATCH, directory=str(tmp_path / "none"),
                                   files=[str(tmp_path / "ca" / "next" / "ca.crt")],
                                   openpgp_keys=[str(tmp_path / "signing-key.pub.asc")]), capsys)
    assert result["rc"] == 0 and result["certificates"] == [] and result["errors"] == []


def test_the_controller_ca_files_and_their_advice(expiry, warned, tmp_path, capsys):
    """The CA on the controller (ends in 40 days) and a previous CA (ends in 3)."""
    current, previous = make_ca("teletreball internal CA", 40), make_ca("old CA", 3)
    (tmp_path / "previous").mkdir()
    (tmp_path / "ca.crt").write_bytes(pem(current[1]))
    (tmp_path / "previous" / "ca.crt").write_bytes(pem(previous[1]))
    renew = [{"path": str(tmp_path / "ca.crt"), "within_days": 730, "runs": False,
              "advice": "run playbooks/site.yml"},
             {"path": str(tmp_path / "previous" / "ca.crt"), "within_days": 0, "runs": False,
              "advice": "end the CA rotation"}]
    files = [str(tmp_path / "ca.crt"), str(tmp_path / "next" / "ca.crt"),
             str(tmp_path / "previous" / "ca.crt")]
    args = dict(WATCH, label="controller", files=files, renew=renew)
    result = run_main(expiry, args, capsys)
    assert result["rc"] == 1
    assert (f"controller: {tmp_path}/previous/ca.crt (CN=old CA, a CA) expires on 2026-12-10 "
            "(3 days left) and this run does not renew it: end the CA rotation") in result["msg"]
    assert any(f"{tmp_path}/ca.crt (CN=teletreball internal CA, a CA) expires on 2027-01-16"
               in line for line in warned)
    renew[0]["runs"] = True
    renew[1]["advice"] = "end the CA rotation"
    (tmp_path / "previous" / "ca.crt").unlink()
    result = run_main(expiry, args, capsys)
    assert result["rc"] == 0 and result["certificates"][0]["state"] == "renewed"


def test_the_keys_are_listed_without_their_content(expiry, host, tmp_path, capsys):
    folder = host["folder"]
    wireguard, ssh = tmp_path / "wireguard", tmp_path / "ssh"
    wireguard.mkdir()
    ssh.mkdir()
    private = x25519.X25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    secret = base64.b64encode(raw).decode()
    (wireguard / "wg0.key").write_text(secret + "\n")
    os.chmod(wireguard / "wg0.key", 0o600)
    public = base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
    host_key = ed25519.Ed25519PrivateKey.generate()
    (ssh / "ssh_host_ed25519_key").write_bytes(host_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()))
    os.chmod(ssh / "ssh_host_ed25519_key", 0o600)
    (ssh / "ssh_host_ed25519_key.pub").write_bytes(host_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" root@host\n")
    result = run_main(expiry, {"directory": str(folder), "keys": True, "now": NOW_TEXT,
                               "wireguard_directory": str(wireguard),
                               "ssh_directory": str(ssh)}, capsys)
    keys = {os.path.basename(item["path"]): item for item in result["keys"]}
    assert sorted(keys) == ["expired.key", "later.key", "month.key", "public.key", "soon.key",
                            "ssh_host_ed25519_key", "wg0.key"]
    assert keys["later.key"]["kind"] == "TLS private key"
    assert keys["later.key"]["algorithm"] == "ECC secp256r1"
    assert keys["later.key"]["certificate"] == f"{folder}/later.crt"
    assert keys["later.key"]["mode"] == "0600"
    assert keys["wg0.key"] == {
        "path": f"{wireguard}/wg0.key", "kind": "WireGuard private key", "algorithm": "Curve25519",
        "public": public, "mode": "0600", "modified": keys["wg0.key"]["modified"]}
    if shutil.which("wg"):
        assert subprocess.run(["wg", "pubkey"], input=secret + "\n", capture_output=True,
                              text=True, check=True).stdout.strip() == public
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(ssh / "ssh_host_ed25519_key.pub")],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    assert keys["ssh_host_ed25519_key"]["public"] == fingerprint
    assert keys["ssh_host_ed25519_key"]["algorithm"] == "ssh-ed25519"
    # No private key's content leaves the host.
    assert secret not in result["raw"]
    for path in folder.glob("*.key"):
        body = "".join(path.read_text().splitlines()[1:-1])
        assert body[:40] not in result["raw"]


def gpg_key(home, expiry_days):
    subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase", "", "--quick-generate-key", "Council packages <packages@example.org>",
         "ed25519", "sign", f"{expiry_days}d" if expiry_days else "never"],
        check=True, capture_output=True)
    out = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--armor", "--export"],
                         check=True, capture_output=True).stdout
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                   capture_output=True)
    return out


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
@pytest.mark.parametrize(("days", "state"), [(5, "fail"), (40, "warn"), (100, "ok"),
                                             (None, "ok")])
def test_the_signing_key_is_watched_and_never_renewed(expiry, warned, tmp_path, capsys, days,
                                                      state):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    key_file = tmp_path / "signing-key.pub.asc"
    key_file.write_bytes(gpg_key(home, days))
    result = run_main(expiry, dict(WATCH, label="controller", openpgp_keys=[str(key_file)],
                                   now=None), capsys)
    listed = run_main(expiry, dict(WATCH, label="controller", openpgp_keys=[str(key_file)],
                                   now=None, fail_days=0), capsys)
    (key,) = listed["openpgp_keys"]
    assert key["state"] == ("warn" if state == "fail" else state)
    assert len(key["fingerprint"]) == 40
    assert key["uid"] == "Council packages <packages@example.org>"
    if days is None:
        assert key["not_after"] is None and key["days_left"] is None
    else:
        assert key["days_left"] in (days - 1, days)
    if state == "fail":
        assert result["rc"] == 1 and "rotate the repository's signing key" in result["msg"]
        assert f"controller: {key_file} (OpenPGP key {key['fingerprint']}, Council packages" \
            in result["msg"]
    elif state == "warn":
        assert result["rc"] == 0 and any("Rotating the key" in line for line in warned)
    else:
        assert result["rc"] == 0 and result["expiring"] == []


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")
def test_a_file_that_is_no_openpgp_key_is_named(expiry, tmp_path, capsys):
    key_file = tmp_path / "signing-key.pub.asc"
    key_file.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbroken\n")
    result = run_main(expiry, dict(WATCH, openpgp_keys=[str(key_file)]), capsys)
    assert result["rc"] == 0 and result["openpgp_keys"] == []
    assert result["errors"][0]["path"] == str(key_file)
    assert result["errors"][0]["error"].startswith("not an OpenPGP key")


def test_a_negative_threshold_is_refused(expiry, capsys):
    result = run_main(expiry, {"warn_days": -1}, capsys)
    assert result["rc"] == 1 and "warn_days must be 0 or more" in result["msg"]


def test_the_key_files_are_listed_without_the_scan(expiry, host, tmp_path, capsys):
    """The controller: the CA's key by path, mode and date; no folder of the host scanned."""
    ca_key = tmp_path / "ca.key"
    ca_key.write_bytes(key_pem(host["internal"][0]))
    os.chmod(ca_key, 0o600)
    result = run_main(expiry, {"directory": str(host["folder"]), "now": NOW_TEXT,
                               "key_files": [str(ca_key), str(tmp_path / "none.key")]}, capsys)
    assert [(item["path"], item["kind"], item["mode"]) for item in result["keys"]] == [
        (str(ca_key), "private key", "0600")]
    assert "BEGIN" not in result["raw"]


def test_a_host_ca_bundle_of_a_rotation_lists_both_cas(expiry, host, capsys):
    """During a rotation of the CA, the host's ca.crt holds the active CA and the other."""
    folder = host["folder"]
    other = make_ca("teletreball internal CA 2")
    (folder / "ca.crt").write_bytes(pem(host["internal"][1]) + pem(other[1]))
    install(folder, "next", other, make_leaf(other, "next.example.org", 100))
    found = by_name(run_main(expiry, {"directory": str(folder), "now": NOW_TEXT}, capsys))
    cas = [item for item in run_main(expiry, {"directory": str(folder), "now": NOW_TEXT},
                                     capsys)["certificates"] if item["path"].endswith("/ca.crt")]
    assert [(item["kind"], item["subject"], item["internal"]) for item in cas] == [
        ("CA certificate", "CN=teletreball internal CA", True),
        ("CA certificate", "CN=teletreball internal CA 2", True)]
    assert found["next.crt"]["internal"] and found["later.crt"]["internal"]
