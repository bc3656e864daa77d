"""The web chat behind nginx: HTTPS only, headers, TLS, and a real browser.

What the scenario's prepare must give each platform (the role installs the
rest on conf):
  conf     the PKI certificate 'conference' (role pki) with the names
           prova.teletreball.test, rooms., upload. and turn.prova.teletreball.test.
  client   chromium, python3-websocket, libnss3-tools, python3-slixmpp,
           openssl, curl, coturn (turnutils_uclient); the PKI CA in the trust
           store (role pki) and in root's NSS database
           (certutil -d sql:/root/.pki/nssdb -A -t C,, -n teletreball
           -i /etc/teletreball/pki/ca.crt); /etc/hosts mapping
           prova.teletreball.test and its rooms., upload. and turn. names to
           10.89.60.10.
  media, lanhost   see test_conference_turn.py.
The browser test needs the accounts of BROWSER_USER and POSTER_USER in
Prosody, both members (or admins) of ROOM, with the passwords of their
welcome packs (credentials/people/<username>/chat-password).

Set TT_UPDATE_DOC_IMAGES=1 to also copy the browser's screenshot to
docs/images/conference-converse.png.
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import shutil
import subprocess
import uuid

import pytest
import testinfra
import yaml
from conference_helpers import audit_params
from teletreball_testinfra import wait_for

testinfra_hosts = ["podman://conf"]

REPO = pathlib.Path(os.environ.get("TT_ROOT") or pathlib.Path(__file__).resolve().parents[5])
EPHEMERAL = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
CREDENTIALS = EPHEMERAL / "credentials"
SCREENSHOTS = EPHEMERAL / "screenshots"
DOMAIN = "prova.teletreball.test"
URL = f"https://{DOMAIN}/"
SERVER_ADDRESS = "10.89.60.10"
CLIENT_ADDRESS = "10.89.60.30"
CA = "/etc/teletreball/pki/ca.crt"
ROOM = f"govern@rooms.{DOMAIN}"
BROWSER_USER = "mayor"
POSTER_USER = "itadmin"
SUPPORT = REPO / "tests" / "conference_support"


def client():
    return testinfra.get_host("podman://client")


def chat_password(username):
    return (CREDENTIALS / "people" / username / "chat-password").read_text().strip()


def headers(path="/"):
    """The answer's status line and headers, lower-case names, as the client sees them."""
    result = client().run(
        f"curl -sS --max-time 20 --cacert {CA} -o /dev/null -D - {URL.rstrip('/')}{path}")
    assert result.rc == 0, result.stderr
    lines = result.stdout.splitlines()
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if value:
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields



@pytest.mark.control("CONF-WEB-01")
def test_nginx_configuration_and_the_site_checker_pass(host):
    assert host.run("nginx -t").rc == 0
    site = "/etc/nginx/sites-available/teletreball-conference"
    check = host.run(f"/usr/local/sbin/teletreball-nginx-check {site}")
    assert check.rc == 0, check.stderr
    # The checker refuses a broken site (a missing semicolon).
    broken = host.run(
        f"sed 's/server_tokens off;/server_tokens off/' {site} > /run/tt-broken-site && "
        "/usr/local/sbin/teletreball-nginx-check /run/tt-broken-site")
    host.run("rm -f /run/tt-broken-site")
    assert broken.rc != 0


@pytest.mark.control("CONF-WEB-01")
def test_https_only_the_web_port_80_is_closed(host, control_check):
    # nginx listens on 443 only, TLS 1.2+ verified, the headers on its answers.
    control_check("CONF-WEB-01", audit_params())
    status, _ = headers("/")
    assert " 200" in status
    plain = client().run(f"curl -sS --max-time 5 -o /dev/null http://{DOMAIN}/")
    # 7: refused (nothing listens); 28: no answer (the baseline firewall drops it).
    assert plain.rc in (7, 28), plain.stderr


@pytest.mark.control("CONF-WEB-01")
@pytest.mark.parametrize("path", ["/", "/converse-init.js", "/http-bind", "/missing-page"])
def test_hsts_and_security_headers_on_every_answer(path):
    _, fields = headers(path)
    hsts = fields.get("strict-transport-security", "")
    assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 31536000
    assert fields.get("x-content-type-options") == "nosniff"
    assert fields.get("x-frame-options") == "DENY"
    assert fields.get("referrer-policy") == "no-referrer"
    assert "server" not in fields or "/" not in fields["server"]  # no version
    policy = {
        part.split()[0]: part.split()[1:]
        for part in fields.get("content-security-policy", "").split(";") if part.strip()
    }
    assert policy.get("script-src") == ["'self'"], policy
    assert policy.get("default-src") == ["'self'"]
    assert policy.get("frame-ancestors") == ["'none'"]
    assert policy.get("object-src") == ["'none'"]
    assert f"wss://{DOMAIN}" in policy.get("connect-src", [])


@pytest.mark.control("CONF-WEB-01")
def test_the_page_loads_converse_without_inline_script(host):
    page = client().check_output(f"curl -sS --max-time 20 --cacert {CA} {URL}")
    assert '<script type="module" src="/dist/converse.min.js"></script>' in page
    assert '<script type="module" src="/converse-init.js"></script>' in page
    assert "<script>" not in page
    init = client().check_output(f"curl -sS --max-time 20 --cacert {CA} {URL}converse-init.js")
    assert f"websocket_url: \"wss://{DOMAIN}/xmpp-websocket\"" in init
    assert f'locked_domain: "{DOMAIN}"' in init
    assert "allow_registration: false" in init
    assert 'i18n: "ca"' in init


@pytest.mark.control("CONF-WEB-01")
def test_tls_1_1_is_refused_and_1_2_is_verified():
    # SECLEVEL=0 lets the client offer TLS 1.1, so the refusal is the server's.
    old = client().run(
        f"openssl s_client -connect {DOMAIN}:443 -servername {DOMAIN} -tls1_1 "
        "-cipher 'DEFAULT:@SECLEVEL=0' </dev/null")
    assert "Cipher is (NONE)" in old.stdout + old.stderr
    assert "alert protocol version" in old.stdout + old.stderr
    good = client().run(
        f"openssl s_client -connect {DOMAIN}:443 -servername {DOMAIN} -tls1_2 "
        f"-verify_return_error -CAfile {CA} </dev/null")
    assert good.rc == 0, good.stderr
    assert "Verify return code: 0 (ok)" in good.stdout
    assert "Protocol  : TLSv1.2" in good.stdout


@pytest.mark.control("CONF-WEB-01")
def test_prosody_web_server_is_reached_only_through_nginx(host):
    # (That it listens on the loopback only is CONF-NET-01's live check.)
    direct = client().run(f"timeout 5 bash -c '</dev/tcp/{SERVER_ADDRESS}/5280'")
    assert direct.rc != 0
    # Through nginx Prosody answers its BOSH endpoint.
    bosh = client().check_output(f"curl -sS --max-time 20 --cacert {CA} {URL}http-bind")
    assert "BOSH" in bosh


@pytest.mark.control("CONF-SUP-01")
def test_converse_served_is_the_pinned_release(host, control_check):
    # The tarball has the pinned sha512, the site serves it, only dist/ is unpacked.
    control_check("CONF-SUP-01", audit_params())
    pins = yaml.safe_load((REPO / "roles" / "conference" / "defaults" / "main.yml").read_text())
    version = pins["conference_converse_version"]
    # No other release is kept.
    assert sorted(host.check_output("ls /var/lib/teletreball/converse").split()) == sorted(
        [version, f"converse.js-{version}.tgz"])


@pytest.mark.control("CONF-WEB-01")
def test_staff_member_sees_a_room_message_in_the_browser(host):
    """Chromium logs in through the form, opens the room by its route, and shows
    a message that another client posts meanwhile; no CSP violation."""
    browser = client()
    for script in ("cdp_converse.py", "xmpp_post.py"):
        subprocess.run(["podman", "cp", str(SUPPORT / script), f"client:/usr/local/bin/{script}"],
                       check=True)
    token = f"tt-web-{uuid.uuid4().hex[:12]}"
    for username in (BROWSER_USER, POSTER_USER):
        browser.check_output(
            f"umask 077; printf 'TT_CHAT_PASSWORD=%s\\n' {shlex.quote(chat_password(username))}"
            f" > /run/tt-{username}.env")
    browser.run("systemctl stop tt-converse; systemctl reset-failed tt-converse; "
                "rm -f /run/tt-converse.ready /run/tt-converse.json /tmp/conference-converse.png")
    started = browser.run(
        "systemd-run --unit tt-converse -E HOME=/root "
        f"-p EnvironmentFile=/run/tt-{BROWSER_USER}.env "
        "-p StandardOutput=file:/run/tt-converse.json -p StandardError=journal "
        f"python3 /usr/local/bin/cdp_converse.py --url {URL} --username {BROWSER_USER} "
        f"--room {ROOM} --token {token} --ready-file /run/tt-converse.ready "
        "--screenshot /tmp/conference-converse.png --timeout 90")
    assert started.rc == 0, started.stderr
    try:
        opened = wait_for(lambda: browser.file("/run/tt-converse.ready").exists
                          or not browser.service("tt-converse").is_running, 150)
        assert opened and browser.file("/run/tt-converse.ready").exists, (
            browser.run("cat /run/tt-converse.json; "
                        "journalctl -u tt-converse --no-pager -n 20").stdout)
        posted = browser.run(
            f"set -a; . /run/tt-{POSTER_USER}.env; set +a; "
            f"timeout 60 python3 /usr/local/bin/xmpp_post.py {POSTER_USER}@{DOMAIN} {ROOM} "
            f"{POSTER_USER} {token}")
        assert posted.rc == 0, posted.stdout + posted.stderr
        assert wait_for(lambda: not browser.service("tt-converse").is_running, 120)
        report = json.loads(browser.check_output("cat /run/tt-converse.json"))
    finally:
        browser.run("systemctl stop tt-converse; systemctl reset-failed tt-converse; "
                    "rm -f /run/tt-*.env")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "conference-converse.png"
    subprocess.run(["podman", "cp", "client:/tmp/conference-converse.png", str(shot)], check=True)
    print(f"screenshot: {shot}")
    if os.environ.get("TT_UPDATE_DOC_IMAGES") == "1":
        shutil.copyfile(shot, REPO / "docs" / "images" / "conference-converse.png")
    assert report["logged_in"], report
    assert report["room_open"], report
    assert report["found"], report
    assert report["csp_violations"] == [], report
    # nginx passed the client's address and scheme: Prosody sees the browser's
    # session as coming from the client, and encrypted.
    sessions = host.check_output(f"prosodyctl shell c2s show {DOMAIN} 'jid ip secure'")
    assert any(f"{BROWSER_USER}@{DOMAIN}/converse" in line and CLIENT_ADDRESS in line
               and "secure" in line for line in sessions.splitlines()), sessions


def web_login(machine, transport, username):
    """A login as a web client does it (tests/conference_support/xmpp_web_login.py)
    from ``machine``, through nginx at the chat server's address."""
    target = testinfra.get_host(f"podman://{machine}")
    script = "/usr/local/bin/xmpp_web_login.py"
    if not target.file(script).exists:
        subprocess.run(["podman", "cp", str(SUPPORT / "xmpp_web_login.py"), f"{machine}:{script}"],
                       check=True)
        ca_pem = client().check_output(f"cat {CA}")
        target.check_output(f"mkdir -p /etc/tt-test && printf '%s\\n' {shlex.quote(ca_pem)} "
                            "> /etc/tt-test/ca.crt")
    out = target.check_output(
        f"XMPP_PASSWORD={shlex.quote(chat_password(username))} python3 {script} {transport} "
        f"{username}@{DOMAIN} {URL} --connect {SERVER_ADDRESS} --cafile /etc/tt-test/ca.crt")
    return json.loads(out.splitlines()[-1])


@pytest.mark.control("CONF-LOGIN-01")
@pytest.mark.parametrize("transport", ["websocket", "bosh"])
def test_the_web_login_works_from_the_vpn_only(host, transport):
    """The client stands in for a VPN device granted chat; lanhost is on the
    council's network but not a VPN device: nginx answers it 403."""
    assert web_login("client", transport, "regidora") == {"result": "ok"}
    assert web_login("lanhost", transport, "regidora") == {"result": "http-403"}


@pytest.mark.control("CONF-LOGIN-01")
def test_logins_are_limited_to_the_vpn_and_throttled_on_the_server(host, control_check):
    # teletreball_login loaded with the inventory's limits and VPN sources, the
    # firewall's XMPP rule and nginx's web login locations for those sources only,
    # no anonymous host, TURN credentials on the staff's host only.
    control_check("CONF-LOGIN-01", audit_params())
