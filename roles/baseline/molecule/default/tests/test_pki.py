"""Extra CA certificates: BL-PKI-01. The declared CA (the scenario's test CA)
is trusted by OpenSSL through the system bundle and the hashed folder."""

from __future__ import annotations

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]

CA_DIR = "/usr/local/share/ca-certificates/teletreball"


@pytest.mark.control("BL-PKI-01")
def test_declared_ca_certificates_are_trusted(host):
    certificates = host.check_output(f"find {CA_DIR} -name '*.crt' -type f").split()
    assert certificates, f"no extra CA certificate in {CA_DIR}"
    for certificate in certificates:
        for store in ("-CAfile /etc/ssl/certs/ca-certificates.crt", "-CApath /etc/ssl/certs"):
            result = host.run(f"openssl verify {store} {certificate}")
            assert result.rc == 0, result.stdout + result.stderr
            assert result.stdout.strip().endswith(": OK")


@pytest.mark.control("BL-PKI-01")
def test_an_undeclared_ca_is_not_trusted(host):
    work = host.check_output("mktemp -d")
    try:
        host.check_output(
            f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
            f"-subj /CN=tt-untrusted -keyout {work}/key.pem -out {work}/ca.pem 2>/dev/null"
        )
        result = host.run(
            f"openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt {work}/ca.pem"
        )
        assert result.rc != 0
    finally:
        host.run(f"rm -rf {work}")
