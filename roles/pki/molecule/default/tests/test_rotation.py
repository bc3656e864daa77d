"""Rotations of the internal CA and of its passphrase (playbooks/rotate_ca.yml), each
step followed by the normal run (converge.yml), with real TLS clients on pki-client
against openssl s_server on pki-server serving the certificate "intranet":

* prepare: a new CA beside the active one; every host trusts both, what people trust
  (council-ca.crt) carries the new one first; the service keeps its certificate of the
  old CA, so a client that trusts only the old CA still verifies it;
* passphrase (during the rotation, so both keys get it): the keys open with the new
  passphrase only, and the normal run changes nothing;
* switch: the new CA signs (with the new passphrase): the certificate is issued again,
  a client that trusts only the new CA verifies it, the hosts still trust both, and a
  client that trusts only the old CA is refused;
* finish: the old CA is archived on the controller and trusted by no host.

Both CAs have the same name. Besides OpenSSL (s_client, curl), GnuTLS is a client
too: it is the library of rsyslog's TLS driver, whose mutual TLS (role logs) reads
the host's ca.crt. gnutls-cli must verify the service with that file, and with
both CAs in either order, during the overlap and after the switch.

Steps out of order are refused and a step run twice changes nothing. The tests run in
the file's order; the scenario ends with the new CA as its CA (test_trust.py follows).
"""

from __future__ import annotations

import pathlib
import re
import stat

import pytest
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki_helpers import (
    CLIENT,
    PKI_DIR,
    REPO,
    SERVER,
    SYSTEM_BUNDLE,
    TRUST_FILE,
    ca_dir,
    converge,
    passphrase_file,
    start_tls_server,
    stop_tls_server,
)
from teletreball_testinfra import run_converge

testinfra_hosts = [SERVER]

PORT = 8444
NAME = "intranet.teletreball.test"
TRUST_DIR = str(pathlib.PurePosixPath(TRUST_FILE).parent)
OTHER_TRUST_FILE = f"{TRUST_DIR}/teletreball-internal-ca-rotation.crt"
OLD_ONLY = "/root/tt-rotation-old-ca.pem"
NEW_ONLY = "/root/tt-rotation-new-ca.pem"
OLD_THEN_NEW = "/root/tt-rotation-old-new.pem"
NEW_THEN_OLD = "/root/tt-rotation-new-old.pem"
PLAYBOOK = REPO / "playbooks" / "rotate_ca.yml"
PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


def rotate(step: str, check: bool = True):
    """playbooks/rotate_ca.yml -e step=<step> with the scenario's inventory (controller)."""
    result, stats = run_converge("--extra-vars", f"step={step}", playbook=PLAYBOOK, check=check)
    return result, stats.get("localhost", {})


def blocks(text: str) -> list[str]:
    """The certificates of a PEM text, each as its base64 body (line breaks ignored)."""
    return ["".join(body.split()) for body in PEM.findall(text)]


def one(text: str) -> str:
    [block] = blocks(text)
    return block


def read(host, path: str) -> str:
    return host.file(path).content_string


def s_client(client, address: str, cafile: str):
    """A TLS client that trusts only ``cafile``: no default store, no hashed folder; the
    handshake fails when the served chain does not verify or has another name."""
    return client.run(
        f"openssl s_client -connect {address}:{PORT} -servername {NAME} -verify_hostname {NAME} "
        f"-CAfile {cafile} -no-CApath -no-CAstore -verify_return_error -brief </dev/null")


def gnutls_cli(client, address: str, cafile: str):
    """GnuTLS (the library of rsyslog's TLS driver) as a client that trusts only
    ``cafile``: gnutls-cli fails when the served chain does not verify or has
    another name."""
    return client.run(
        f"gnutls-cli --x509cafile={cafile} --port={PORT} --sni-hostname={NAME} "
        f"--verify-hostname={NAME} {address} </dev/null")


def assert_gnutls_verifies(client, address: str, cafiles=(OLD_THEN_NEW, NEW_THEN_OLD)):
    """GnuTLS verifies the service with the host's ca.crt and with each of ``cafiles``,
    which hold two CAs of the same name."""
    for cafile in (f"{PKI_DIR}/ca.crt", *cafiles):
        result = gnutls_cli(client, address, cafile)
        assert result.rc == 0, f"gnutls-cli with {cafile}: {result.stdout}{result.stderr}"


def served(client, address: str) -> str:
    """The certificate the TLS server presents (its base64 body)."""
    pem = client.check_output(
        f"openssl s_client -connect {address}:{PORT} -servername {NAME} </dev/null 2>/dev/null "
        f"| openssl x509")
    return one(pem)


def system_curl(client, address: str):
    """curl with the system trust store only."""
    return client.run(f"curl --silent --show-error --max-time 10 --fail --output /dev/null "
                      f"--resolve {NAME}:{PORT}:{address} https://{NAME}:{PORT}/")


def trusted_on(host) -> dict:
    """What a host trusts: the files of the trust store's folder, the CAs of the system
    bundle, the CAs of /etc/teletreball/pki/ca.crt."""
    return {"files": sorted(host.check_output(f"ls {TRUST_DIR}").split()),
            "bundle": set(blocks(read(host, SYSTEM_BUNDLE))),
            "ca_file": blocks(read(host, f"{PKI_DIR}/ca.crt"))}


def opens(path: pathlib.Path, secret: str) -> bool:
    try:
        serialization.load_pem_private_key(path.read_bytes(), password=secret.encode())
    except (ValueError, TypeError):
        return False
    return True


@pytest.fixture(scope="module")
def pair():
    return {"server": testinfra.get_host(SERVER), "client": testinfra.get_host(CLIENT)}


@pytest.fixture(scope="module")
def prepared(pair, server_address):
    """The step prepare and the normal run; then the TLS server and the clients."""
    server, client = pair["server"], pair["client"]
    old = (ca_dir() / "ca.crt").read_text()
    serial = server.check_output(f"openssl x509 -noout -serial -in {PKI_DIR}/intranet.crt")
    result, summary = rotate("prepare")
    new = (ca_dir() / "next" / "ca.crt").read_text()
    stats = converge()
    start_tls_server(server, "intranet", PORT)
    client.check_output(f"printf '%s' '{old}' > {OLD_ONLY}")
    client.check_output(f"printf '%s' '{new}' > {NEW_ONLY}")
    client.check_output(f"cat {OLD_ONLY} {NEW_ONLY} > {OLD_THEN_NEW}")
    client.check_output(f"cat {NEW_ONLY} {OLD_ONLY} > {NEW_THEN_OLD}")
    yield {"old": old, "new": new, "serial": serial, "stats": stats, "summary": summary,
           "output": result.stdout}
    stop_tls_server(server, PORT)
    client.run(f"rm -f {OLD_ONLY} {NEW_ONLY} {OLD_THEN_NEW} {NEW_THEN_OLD}")


def test_prepare_makes_a_new_ca_beside_the_active_one(prepared):
    next_dir = ca_dir() / "next"
    assert stat.S_IMODE(next_dir.stat().st_mode) == 0o700
    for name in ("ca.key", "ca.csr", "ca.crt"):
        assert stat.S_IMODE((next_dir / name).stat().st_mode) == 0o600
    assert one(prepared["new"]) != one(prepared["old"])
    assert (ca_dir() / "ca.crt").read_text() == prepared["old"], "the old CA still signs"
    new = x509.load_pem_x509_certificate(prepared["new"].encode())
    old = x509.load_pem_x509_certificate(prepared["old"].encode())
    assert new.subject == old.subject
    new.verify_directly_issued_by(new)
    assert opens(next_dir / "ca.key", passphrase_file().read_text().strip())
    assert "-e step=switch" in prepared["output"]


def test_during_the_overlap_every_host_and_person_trusts_both_cas(prepared, pair):
    old, new = one(prepared["old"]), one(prepared["new"])
    for host in pair.values():
        trusted = trusted_on(host)
        assert trusted["files"] == sorted(["teletreball-internal-ca.crt",
                                           "teletreball-internal-ca-rotation.crt"])
        assert {old, new} <= trusted["bundle"]
        assert trusted["ca_file"] == [old, new]
    # What the packs copy as council-ca.crt: the new CA first.
    assert blocks((ca_dir() / "council-ca.crt").read_text()) == [new, old]


def test_during_the_overlap_a_client_trusting_only_the_old_ca_still_verifies(
        prepared, pair, server_address):
    server, client = pair["server"], pair["client"]
    assert server.check_output(f"openssl x509 -noout -serial -in {PKI_DIR}/intranet.crt") \
        == prepared["serial"], "the service certificate must stay from the old CA"
    result = s_client(client, server_address, OLD_ONLY)
    assert result.rc == 0, result.stdout + result.stderr
    assert served(client, server_address) == one(read(server, f"{PKI_DIR}/intranet.crt"))
    assert s_client(client, server_address, NEW_ONLY).rc != 0, "not issued by the new CA yet"
    assert system_curl(client, server_address).rc == 0
    assert_gnutls_verifies(client, server_address)
    assert gnutls_cli(client, server_address, NEW_ONLY).rc != 0, "GnuTLS: the new CA alone"


def test_steps_out_of_order_are_refused_and_prepare_again_changes_nothing(prepared):
    result, _ = rotate("finish", check=False)
    assert result.returncode != 0
    assert "step=switch first" in result.stdout + result.stderr
    _, summary = rotate("prepare")
    assert summary["changed_tasks"] == []


@pytest.fixture(scope="module")
def new_passphrase(prepared):
    """The step passphrase (passphrase file: a generated one), during the rotation."""
    old = passphrase_file().read_text().strip()
    result, summary = rotate("passphrase")
    new = passphrase_file().read_text().strip()
    return {"old": old, "new": new, "summary": summary, "output": result.stdout + result.stderr}


def test_the_passphrase_change_gives_both_keys_the_new_passphrase_only(new_passphrase):
    old, new = new_passphrase["old"], new_passphrase["new"]
    assert new != old and len(new) == 48
    assert stat.S_IMODE(passphrase_file().stat().st_mode) == 0o600
    assert not pathlib.Path(f"{passphrase_file()}.new").exists()
    for key in (ca_dir() / "ca.key", ca_dir() / "next" / "ca.key"):
        assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert opens(key, new) and not opens(key, old), key
    assert old not in new_passphrase["output"] and new not in new_passphrase["output"]


def test_after_the_passphrase_change_the_normal_run_changes_nothing(new_passphrase):
    stats = converge()
    changed = {host: item["changed_tasks"] for host, item in stats.items()
               if item["changed_tasks"]}
    assert changed == {}


@pytest.fixture(scope="module")
def switched(prepared, new_passphrase, pair):
    """The step switch and the normal run (it signs with the key under its new
    passphrase); then the TLS server loads its new certificate, as the service would."""
    rotate("switch")
    stats = converge()
    start_tls_server(pair["server"], "intranet", PORT)
    return {"stats": stats}


def test_switch_makes_the_new_ca_sign_and_keeps_the_old_one_apart(prepared, switched):
    assert (ca_dir() / "ca.crt").read_text() == prepared["new"]
    assert (ca_dir() / "previous" / "ca.crt").read_text() == prepared["old"]
    assert not (ca_dir() / "next").exists()
    assert stat.S_IMODE((ca_dir() / "previous").stat().st_mode) == 0o700
    _, summary = rotate("switch")
    assert summary["changed_tasks"] == [], "a switch done is done"


def test_after_the_switch_every_certificate_is_from_the_new_ca(prepared, switched, pair):
    server = pair["server"]
    new = x509.load_pem_x509_certificate(prepared["new"].encode())
    for name in ("intranet", "sip"):
        x509.load_pem_x509_certificate(
            read(server, f"{PKI_DIR}/{name}.crt").encode()).verify_directly_issued_by(new)
        assert blocks(read(server, f"{PKI_DIR}/{name}.chain.crt")) == [one(prepared["new"])]
    for host in pair.values():
        trusted = trusted_on(host)
        assert trusted["ca_file"] == [one(prepared["new"]), one(prepared["old"])]
        assert {one(prepared["new"]), one(prepared["old"])} <= trusted["bundle"]
    assert blocks((ca_dir() / "council-ca.crt").read_text()) == [one(prepared["new"]),
                                                                one(prepared["old"])]


def test_after_the_switch_the_new_ca_verifies_and_the_old_one_alone_no_longer(
        prepared, switched, pair, server_address):
    server, client = pair["server"], pair["client"]
    assert served(client, server_address) == one(read(server, f"{PKI_DIR}/intranet.crt"))
    result = s_client(client, server_address, NEW_ONLY)
    assert result.rc == 0, result.stdout + result.stderr
    assert system_curl(client, server_address).rc == 0
    assert s_client(client, server_address, OLD_ONLY).rc != 0
    assert_gnutls_verifies(client, server_address)
    assert gnutls_cli(client, server_address, OLD_ONLY).rc != 0, "GnuTLS: the old CA alone"


@pytest.fixture(scope="module")
def finished(switched):
    """The step finish and the normal run."""
    revoked = ca_dir().parent / "revoked"
    before = set(revoked.glob("pki-*"))
    result, summary = rotate("finish")
    stats = converge()
    return {"summary": summary, "stats": stats, "output": result.stdout,
            "archives": sorted(set(revoked.glob("pki-*")) - before)}


def test_finish_archives_the_old_ca_on_the_controller(prepared, finished):
    assert not (ca_dir() / "previous").exists()
    revoked = ca_dir().parent / "revoked"
    [archive] = finished["archives"]
    assert stat.S_IMODE(revoked.stat().st_mode) == 0o700
    assert stat.S_IMODE(archive.stat().st_mode) == 0o700
    assert (archive / "ca.crt").read_text() == prepared["old"]
    assert (archive / "ca.key").is_file()
    assert blocks((ca_dir() / "council-ca.crt").read_text()) == [one(prepared["new"])]
    _, summary = rotate("finish")
    assert summary["changed_tasks"] == [], "a finish done is done"
    result, _ = rotate("switch", check=False)
    assert result.returncode != 0 and "step=prepare first" in result.stdout + result.stderr


def test_after_finish_no_host_trusts_the_old_ca(prepared, finished, pair, server_address):
    for host in pair.values():
        trusted = trusted_on(host)
        assert trusted["files"] == ["teletreball-internal-ca.crt"]
        assert one(prepared["old"]) not in trusted["bundle"]
        assert one(prepared["new"]) in trusted["bundle"]
        assert trusted["ca_file"] == [one(prepared["new"])]
        assert not host.file(OTHER_TRUST_FILE).exists
    client = pair["client"]
    assert s_client(client, server_address, OLD_ONLY).rc != 0
    assert system_curl(client, server_address).rc == 0


def test_after_the_rotation_the_normal_run_changes_nothing(finished):
    stats = converge()
    changed = {host: item["changed_tasks"] for host, item in stats.items()
               if item["changed_tasks"]}
    assert changed == {}
