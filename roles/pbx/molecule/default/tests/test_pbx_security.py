"""The PBX's protections, probed from the other containers with real tools.

TLS with openssl s_client, raw SIP requests over TLS from the agents'
container, TCP probes from the carrier (which may only use plain SIP), AMI
from inside and outside the PBX, and the configuration checker on broken files.
What the host itself shows (Asterisk's transports, endpoints and modules, the
firewall's rules, AMI's settings) is the controls' live checks
(module_utils/teletreball_checks_pbx.py), asserted through control_check.
"""

from __future__ import annotations

import textwrap

import pytest
import testinfra
from pbx_helpers import audit_params, register

testinfra_hosts = ["podman://pbx"]

AGENTS = testinfra.get_host("podman://agents")
CARRIER = testinfra.get_host("podman://carrier")
# The configuration checker as the role's validate: runs it (vars/main.yml).
CHECKER = "/usr/local/sbin/teletreball-asterisk-check --config-dir /etc/asterisk"

# A SIP request over TLS from the agents' container; prints the status line.
SIP_PROBE = textwrap.dedent("""\
    import socket, ssl, sys, uuid
    method, user = sys.argv[1], sys.argv[2]
    context = ssl.create_default_context()
    with socket.create_connection(("pbx", 5061), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="pbx") as tls:
            local = "%s:%d" % tls.getsockname()[:2]
            tag, call = uuid.uuid4().hex[:8], uuid.uuid4().hex
            request = (
                f"{method} sip:{user}@prova.teletreball.test SIP/2.0\\r\\n"
                f"Via: SIP/2.0/TLS {local};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\\r\\n"
                "Max-Forwards: 70\\r\\n"
                f"From: <sip:{user}@prova.teletreball.test>;tag={tag}\\r\\n"
                f"To: <sip:{user}@prova.teletreball.test>\\r\\n"
                f"Call-ID: {call}\\r\\nCSeq: 1 {method}\\r\\n"
                f"Contact: <sip:{user}@{local};transport=tls>\\r\\n"
                "Content-Length: 0\\r\\n\\r\\n")
            tls.sendall(request.encode())
            print(tls.recv(4096).decode().splitlines()[0])
""")


def sip_request(method, user):
    AGENTS.run("mkdir -p /root/probe")
    AGENTS.run(f"cat > /root/probe/sip.py <<'PY'\n{SIP_PROBE}PY")
    return AGENTS.check_output(f"python3 /root/probe/sip.py {method} {user}")


@pytest.mark.control("PBX-TLS-01")
def test_asterisk_runs_unprivileged_from_the_councils_repository_over_tls_and_srtp(
        host, control_check):
    control_check("PBX-TLS-01", audit_params())


@pytest.mark.control("PBX-TLS-01")
def test_tls_transport_presents_the_pki_certificate_with_tls_1_2_or_newer(host):
    ok = AGENTS.run("openssl s_client -connect pbx:5061 -servername pbx -verify_return_error "
                    "-tls1_2 </dev/null")
    assert ok.rc == 0, ok.stderr
    assert "Verify return code: 0 (ok)" in ok.stdout
    old = AGENTS.run("openssl s_client -connect pbx:5061 -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' "
                     "</dev/null")
    assert old.rc != 0, "the PBX accepted TLS 1.1"


@pytest.mark.control("PBX-ACC-01")
@pytest.mark.parametrize("method", ["OPTIONS", "REGISTER"])
def test_requests_are_challenged_for_known_and_unknown_users(host, method):
    # A scanner cannot tell an existing account (agent1) from a missing one.
    assert sip_request(method, "agent1").startswith("SIP/2.0 401")
    assert sip_request(method, "nobody").startswith("SIP/2.0 401")


@pytest.mark.control("PBX-ACC-01")
def test_no_anonymous_endpoint_no_other_protocol_and_options_challenged(host, control_check):
    control_check("PBX-ACC-01", audit_params())


@pytest.mark.control("PBX-AMI-01")
def test_ami_listens_on_the_loopback_only_with_its_secret(host, control_check):
    control_check("PBX-AMI-01", audit_params())
    assert AGENTS.run("timeout 5 bash -c '</dev/tcp/pbx/5038'").rc != 0
    login = textwrap.dedent("""\
        import socket, time
        s = socket.create_connection(("127.0.0.1", 5038), timeout=5)
        s.sendall(b"Action: Login\\r\\nUsername: teletreball\\r\\nSecret: wrong\\r\\n\\r\\n")
        data, end = b"", time.time() + 5
        while b"Message:" not in data and time.time() < end:
            data += s.recv(4096)
        print(data.decode())
    """)
    assert "Authentication failed" in host.check_output(f"python3 -c '{login}'")


@pytest.mark.control("PBX-NET-01")
def test_the_carrier_reaches_plain_sip_only(host, control_check):
    assert CARRIER.run("timeout 5 bash -c '</dev/tcp/pbx/5061'").rc != 0
    assert AGENTS.run("timeout 5 bash -c '</dev/tcp/pbx/5061'").rc == 0
    control_check("PBX-NET-01", audit_params())


@pytest.mark.control("PBX-TLS-02")
def test_staff_credentials_work_over_tls_only_never_over_plain_udp(host, control_check):
    # The same client with the same correct password: accepted over TLS.
    assert register(AGENTS, "tls", "mayor").startswith("SIP/2.0 200"), "TLS REGISTER refused"
    # Over UDP from the phones' address: the port is closed to it (no answer).
    assert register(AGENTS, "udp", "mayor") == "no answer"
    # From the carrier's address, the only one that reaches plain SIP: it is
    # the carrier endpoint, which holds no staff account (Asterisk refuses).
    from_carrier = register(CARRIER, "udp", "mayor")
    assert from_carrier.startswith("SIP/2.0 4"), from_carrier
    # The firewall opens UDP 5060 to the trunk's address only, which Asterisk
    # identifies first as the carrier (no staff account).
    control_check("PBX-TLS-02", audit_params())


def test_the_checker_refuses_broken_files_before_they_replace_the_running_ones(host):
    broken = {
        "pjsip": "[a]\ntype = endpoint\nauth = missing\n",
        "extensions": "[x]\nexten => 1,1,Dial(PJSIP/a\n",
        "generic": "[general]\n#exec /bin/true\n",
    }
    for kind, text in broken.items():
        host.run(f"cat > /tmp/broken.conf <<'EOF'\n{text}EOF")
        result = host.run(f"{CHECKER} {kind} /tmp/broken.conf")
        assert result.rc == 1 and result.stderr.strip(), (kind, result.stderr)
    for kind, name in [("pjsip", "pjsip.conf"), ("extensions", "extensions.conf"),
                       ("generic", "queues.conf")]:
        good = host.run(f"{CHECKER} {kind} /etc/asterisk/{name}")
        assert good.rc == 0, good.stderr


def test_prompts_are_8_khz_files_in_both_languages(host):
    for name in ["welcome", "queue", "closed", "holiday"]:
        for language in ["ca", "es"]:
            path = f"/usr/local/share/asterisk/teletreball/{name}-{language}.wav"
            assert host.check_output(f"soxi -r {path}") == "8000"
            assert float(host.check_output(f"soxi -D {path}")) > 1.0
