"""Unit tests of the module teletreball_ca_check: is the CA on the controller complete?

Each test makes a real CA in a temporary folder with the cryptography library, as the
role makes it (encrypted PKCS#8 key, CA request, self-signed certificate), then breaks
one thing and expects the module to name it."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from module_runner import load_library_module, refuse_commands, run_main

NAME = "teletreball internal CA"
PASSPHRASE = b"Zq0cS3kq9fXo2bT7"
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
WANTED = {"type": "ECC", "curve": "secp384r1"}


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)


def request(key, name=NAME, path_length=0):
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length),
                              critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                            False, False), critical=True))
    return builder.sign(key, hashes.SHA256())


def self_signed(key, csr, days=3650, signer=None):
    return (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(csr.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(START).not_valid_after(START + datetime.timedelta(days=days))
            .sign(signer or key, hashes.SHA256()))


def write(path, data, mode=0o600):
    path.write_bytes(data)
    os.chmod(path, mode)


@pytest.fixture
def ca(tmp_path):
    folder = tmp_path / "pki"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    key = ec.generate_private_key(ec.SECP384R1())
    csr = request(key)
    # The passphrase is kept outside the CA's folder (pki_ca_passphrase_file).
    write(tmp_path / "ca.passphrase", PASSPHRASE + b"\n")
    write(folder / "ca.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE)))
    write(folder / "ca.csr", csr.public_bytes(serialization.Encoding.PEM))
    write(folder / "ca.crt", self_signed(key, csr).public_bytes(serialization.Encoding.PEM))
    return {"folder": folder, "key": key, "csr": csr, "passphrase": tmp_path / "ca.passphrase"}


def check(ca, capsys, now="2026-06-01T00:00:00Z", **changes):
    args = {
        "directory": str(ca["folder"]),
        "key_path": str(ca["folder"] / "ca.key"),
        "passphrase_path": str(ca["passphrase"]),
        "csr_path": str(ca["folder"] / "ca.csr"),
        "certificate_path": str(ca["folder"] / "ca.crt"),
        "common_name": NAME,
        "key": WANTED,
        "renew_days_before": 730,
        "now": now,
    }
    args.update(changes)
    args = {name: value for name, value in args.items() if value is not None}
    return run_main(load_library_module("teletreball_ca_check"), args, capsys)


def test_a_complete_ca_is_ready(ca, capsys):
    result = check(ca, capsys)
    assert result["rc"] == 0 and result["changed"] is False
    assert result["ready"] is True and result["reasons"] == []
    assert PASSPHRASE.decode() not in result["raw"]


def test_no_folder_is_not_ready(tmp_path, capsys, ca):
    result = check(ca, capsys, directory=str(tmp_path / "nothing"))
    assert result["ready"] is False and result["reasons"] == ["nothing: missing"]


def test_missing_files_and_loose_modes_are_named(ca, capsys):
    (ca["folder"] / "ca.csr").unlink()
    os.chmod(ca["folder"] / "ca.crt", 0o644)
    os.chmod(ca["folder"], 0o750)  # noqa: S103 (the loose mode the module must name)
    result = check(ca, capsys)
    assert result["ready"] is False
    assert result["reasons"] == ["pki: mode 0750, not 0700", "ca.csr: missing",
                                 "ca.crt: mode 0644, not 0600"]


def test_a_wrong_passphrase_is_named_and_not_shown(ca, capsys):
    write(ca["passphrase"], b"not-the-passphrase\n")
    result = check(ca, capsys)
    assert result["reasons"] == ["ca.key: does not open with the passphrase"]
    assert "not-the-passphrase" not in result["raw"]


def test_an_empty_passphrase_is_named(ca, capsys):
    write(ca["passphrase"], b"\n")
    assert check(ca, capsys)["reasons"] == ["ca.passphrase: empty"]


def test_an_unencrypted_key_is_not_ready(ca, capsys):
    write(ca["folder"] / "ca.key", ca["key"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert check(ca, capsys)["reasons"] == ["ca.key: not an encrypted PKCS#8 key"]


def test_another_key_type_is_named(ca, capsys):
    result = check(ca, capsys, key={"type": "RSA", "size": 4096})
    assert result["reasons"] == ["ca.key: ECC secp384r1, not RSA 4096"]


def test_another_common_name_is_named_for_request_and_certificate(ca, capsys):
    result = check(ca, capsys, common_name="Ajuntament CA")
    assert result["reasons"] == ["ca.csr: another common name", "ca.crt: another common name"]


def test_a_request_that_is_not_for_a_ca_is_named(ca, capsys):
    write(ca["folder"] / "ca.csr",
          request(ca["key"], path_length=1).public_bytes(serialization.Encoding.PEM))
    assert check(ca, capsys)["reasons"] == [
        "ca.csr: basic constraints are not critical CA:TRUE, pathlen:0"]


def test_a_certificate_of_another_key_is_named(ca, capsys):
    other = ec.generate_private_key(ec.SECP384R1())
    write(ca["folder"] / "ca.crt",
          self_signed(other, request(other)).public_bytes(serialization.Encoding.PEM))
    assert check(ca, capsys)["reasons"] == ["ca.crt: another public key than ca.key's"]


def test_a_certificate_signed_by_another_key_is_not_self_signed(ca, capsys):
    other = ec.generate_private_key(ec.SECP384R1())
    cert = self_signed(ca["key"], ca["csr"], signer=other)
    write(ca["folder"] / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
    assert check(ca, capsys)["reasons"] == ["ca.crt: not self-signed"]


def test_inside_the_renewal_window_and_not_yet_valid(ca, capsys):
    inside = check(ca, capsys, now="2034-02-01T00:00:00Z")["reasons"]
    assert len(inside) == 1 and inside[0].startswith("ca.crt: inside the renewal window")
    before = check(ca, capsys, now="2025-12-31T00:00:00Z")["reasons"]
    assert len(before) == 1 and before[0].startswith("ca.crt: not valid yet")


def test_a_bad_time_fails_the_module(ca, capsys):
    result = check(ca, capsys, now="yesterday")
    assert result["failed"] is True and result["msg"] == "now: yesterday is not an ISO 8601 time."


def test_a_linked_file_is_not_taken(ca, capsys):
    target = ca["folder"].parent / "elsewhere.crt"
    (ca["folder"] / "ca.crt").rename(target)
    os.symlink(target, ca["folder"] / "ca.crt")
    assert check(ca, capsys)["reasons"] == ["ca.crt: not a regular file"]


def test_the_passphrase_as_a_variable_opens_the_key(ca, capsys):
    result = check(ca, capsys, passphrase_path=None, passphrase=PASSPHRASE.decode())
    assert result["reasons"] == [] and result["ready"]
    assert PASSPHRASE.decode() not in result["raw"]


def test_a_wrong_passphrase_variable_is_named_and_not_shown(ca, capsys):
    result = check(ca, capsys, passphrase_path=None, passphrase="not-the-passphrase-at-all")  # noqa: S106
    assert result["reasons"] == ["ca.key: does not open with the passphrase"]
    assert "not-the-passphrase-at-all" not in result["raw"]
    # (Ansible masks the blank value itself in the output: only the end is compared.)
    empty = check(ca, capsys, passphrase_path=None, passphrase="  ")["reasons"]  # noqa: S106
    assert len(empty) == 1
    assert empty[0].startswith("pki_ca_passphrase") and empty[0].endswith("empty")


def test_one_passphrase_source_is_needed(ca, capsys):
    result = check(ca, capsys, passphrase_path=None)
    assert result["rc"] == 1 and "passphrase" in result["msg"]
    result = check(ca, capsys, passphrase="x" * 40)
    assert result["rc"] == 1 and "mutually exclusive" in result["msg"]
