"""Every host trusts the internal CA system-wide: curl, with nothing but the
system trust store, accepts a TLS server that presents a certificate issued by
the role, and refuses it for a name the certificate does not carry."""

from __future__ import annotations

import pytest
from pki_helpers import (
    CLIENT,
    ISSUED,
    SERVER,
    SYSTEM_BUNDLE,
    TRUST_FILE,
    crt_params,
    curl,
    start_tls_server,
    stop_tls_server,
)

testinfra_hosts = [SERVER, CLIENT]

PORT = 8443


@pytest.fixture(scope="module")
def intranet_tls(server):
    """openssl s_server on pki-server with the certificate "intranet"."""
    start_tls_server(server, "intranet", PORT)
    yield PORT
    stop_tls_server(server, PORT)


@pytest.mark.control("PKI-CRT-01")
def test_certificates_are_valid_verified_and_the_ca_trusted(host, control_check):
    """The audit's check on both hosts: the installed CA and the trust store's are the
    controller's, the system bundle holds it; on pki-server each certificate of
    molecule.yml is valid, signed by the CA, outside the renewal window, has its names,
    matches its key (0600/0640, owned as asked) and its chain files."""
    control_check("PKI-CRT-01", crt_params(issued=host.backend.get_hostname() == "pki-server"))


def test_the_internal_ca_is_in_the_hashed_store(host):
    # The system bundle is the check's; OpenSSL's hashed folder is what other clients read.
    result = host.run(f"openssl verify -CApath /etc/ssl/certs {TRUST_FILE}")
    assert result.rc == 0, result.stdout + result.stderr


DNS_NAMES = sorted(name[4:] for name in ISSUED["intranet"]["sans"] if name.startswith("DNS:"))


@pytest.mark.parametrize("dns", DNS_NAMES)
def test_issued_certificate_is_trusted_for_its_names(host, server_address, intranet_tls, dns):
    result = curl(host, dns, intranet_tls, server_address)
    assert result.rc == 0, result.stderr
    assert result.stdout == "200"


def test_issued_certificate_is_trusted_for_its_address(server, intranet_tls):
    result = server.run(
        f"curl --silent --show-error --max-time 10 --fail --output /dev/null "
        f"--write-out '%{{http_code}}' https://127.0.0.1:{intranet_tls}/"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout == "200"


def test_a_name_outside_the_certificate_is_refused(host, server_address, intranet_tls):
    result = curl(host, "other.teletreball.test", intranet_tls, server_address)
    # 60: the peer certificate cannot be authenticated (here: wrong name)
    assert result.rc == 60, result.stdout + result.stderr


def test_an_undeclared_ca_is_not_trusted(host):
    work = host.check_output("mktemp -d")
    try:
        host.check_output(
            f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
            f"-subj /CN=tt-untrusted -keyout {work}/key.pem -out {work}/ca.pem 2>/dev/null"
        )
        assert host.run(f"openssl verify -CAfile {SYSTEM_BUNDLE} {work}/ca.pem").rc != 0
    finally:
        host.run(f"rm -rf {work}")
