"""Unit tests of the welcome pack's handover (teletreball_welcome_packs, option handover):
the printable pages (HTML and PDF in ca/es/en), vpn.md, council-ca.crt and the folder
handover/. The PDF is rendered to PNG (pdftoppm, poppler-utils) and its QR codes read
back (zbarimg, zbar-tools); the words' boxes (pdftotext -bbox) must stay on the page."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from module_runner import (
    REPO,
    collect_warnings,
    load_library_module,
    register_module_utils,
    run_main,
)

register_module_utils()
from teletreball_handover import page_model  # noqa: E402

MM = 72 / 25.4
# A self-signed certificate made for these tests only (no key kept anywhere).
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIURR6ZNgtfBHC0rybx9G0Acfx4HJgwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNQWp1bnRhbWVudCBDQTAeFw0yNjEyMDcxMzExMjhaFw0zNjEy
MDQxMzExMjhaMBgxFjAUBgNVBAMMDUFqdW50YW1lbnQgQ0EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAASPo/gZDCaZe3xdQnSmE4wkC9qqbcbr5mlAzt1yXIalQ30e
an46IOpBDibJCpjIAAduFFKEy+c99qmLZ4Qxb9Pio1MwUTAdBgNVHQ4EFgQU6w0S
i6NGVkdvczGTsRMAYZXtsrkwHwYDVR0jBBgwFoAU6w0Si6NGVkdvczGTsRMAYZXt
srkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBpb2huJtvHUaGk
bK5u6VwQKmHMxxWSGiSICFCsEbDtsgIhAOOWaA9XgsmuyAWOZ5Lk3J6pRxmbKEom
HF5JLpxWZR11
-----END CERTIFICATE-----
"""
KEY = base64.b64encode(bytes(range(32))).decode()


def profile(username, device, index):
    return (
        f"# teletreball VPN profile of {username}, device {device}.\n"
        "# Keep this file secret: it opens the council's network.\n[Interface]\n"
        f"PrivateKey = {base64.b64encode(hashlib.sha256(device.encode()).digest()).decode()}\n"
        f"Address = 10.99.0.{index + 2}/32\nDNS = 10.20.30.53\n\n[Peer]\n"
        f"PublicKey = {KEY}\nPresharedKey = {KEY}\nEndpoint = vpn.ajuntament.example:51820\n"
        "AllowedIPs = 10.20.30.0/24\nPersistentKeepalive = 25\n"
    )


TOTP = ("otpauth://totp/Ajuntament%20d%27Exemple:anna%40ajuntament.example?"
        "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Ajuntament%20d%27Exemple"
        "&algorithm=SHA1&digits=6&period=30")


def make_pack(base, username="anna", devices=("laptop", "phone"), totp=True, extras=True):
    """The files the service roles leave in a person's folder before the handover."""
    folder = base / "people" / username
    (folder / "vpn").mkdir(parents=True, exist_ok=True)
    for index, device in enumerate(devices):
        (folder / "vpn" / f"{device}.conf").write_text(profile(username, device, index))
        (folder / "vpn" / f"{device}.png").write_bytes(b"\x89PNG fake " + device.encode())
        (folder / "vpn" / f"{device}.key").write_text(KEY + "\n")
    if totp:
        (folder / "desktop-totp.txt").write_text(TOTP + "\n")
        (folder / "desktop-totp.png").write_bytes(b"\x89PNG totp")
    if extras:
        for name in ("desktop-password", "sip-password", "chat-password", "voicemail-pin",
                     "softphone-baresip.txt", "softphone-linphone.xml", "account.json"):
            (folder / name).write_text("secret\n")
        for name in ("desktop.md", "phone.md", "chat.md"):
            (folder / name).write_text(f"# {name}\n")
    return folder


def person(name="Anna Puig i Ferrer", devices=("laptop", "phone"), **changes):
    data = {
        "name": name, "department": "Secretaria", "services": ["desktop", "phone", "chat"],
        "extension": "201", "chat_account": "anna@ajuntament.example",
        "desktop": "escriptori1.ajuntament.example",
        "devices": [{"name": d, "address": f"10.99.0.{i + 2}"} for i, d in enumerate(devices)],
    }
    data.update(changes)
    return data


def args(base, people, ca_file=None):
    return {
        "directory": str(base), "handover": people,
        "handover_settings": {
            "council_name": "Ajuntament d'Exemple", "helpdesk": "Informàtica, ext. 200",
            "ca_certificate_file": str(ca_file) if ca_file else None,
            "vpn_gateway_address": "10.99.0.1",
        },
    }


def run(arguments, capsys, check_mode=False):
    return run_main(load_library_module("teletreball_welcome_packs"), arguments, capsys,
                    check_mode)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "ca.crt"
    path.write_text(CA_PEM)
    return path


def test_handover_holds_exactly_what_it_hands_over(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    folder = make_pack(base)
    result = run(args(base, {"anna": person()}, ca_file), capsys)
    assert result["rc"] == 0 and result["changed"] is True, result
    handover = folder / "handover"
    files = sorted(str(p.relative_to(handover)) for p in handover.rglob("*") if p.is_file())
    assert files == sorted([
        "chat.md", "council-ca.crt", "council-ca.md", "desktop-totp.png", "desktop.md",
        "phone.md", "vpn.md", "vpn/laptop.conf", "vpn/laptop.png", "vpn/phone.conf",
        "vpn/phone.png",
    ] + [f"welcome-{lang}.{ext}" for lang in ("ca", "es", "en") for ext in ("html", "pdf")])
    for path in handover.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    # The pack itself gets the guides too (everyone with a TLS service gets the CA).
    assert (folder / "council-ca.crt").read_text() == CA_PEM
    assert (handover / "vpn" / "laptop.conf").read_bytes() == (
        folder / "vpn" / "laptop.conf").read_bytes()
    vpn_md = (folder / "vpn.md").read_text()
    assert "`vpn/laptop.conf`" in vpn_md and "`vpn/phone.conf`" in vpn_md
    assert "wireguard-tools" in vpn_md and "nmcli connection import type wireguard" in vpn_md
    assert "Informàtica, ext. 200" in vpn_md
    # The check: the gateway answers ping (the firewall drops ping to the services).
    assert "`ping 10.99.0.1`" in vpn_md and "`escriptori1.ajuntament.example`" in vpn_md
    der = base64.b64decode("".join(CA_PEM.strip().splitlines()[1:-1]))
    sha256 = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert sha256 in (folder / "council-ca.md").read_text()
    page = (handover / "welcome-en.html").read_text()
    assert sha256[:47] in page and sha256[48:] in page  # in two halves, a line each
    # A no-change run changes nothing and draws nothing again.
    again = run(args(base, {"anna": person()}, ca_file), capsys)
    assert again["changed"] is False, again["written"]


def test_handover_never_takes_a_password_or_a_key(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    folder = make_pack(base)
    run(args(base, {"anna": person()}, ca_file), capsys)
    names = {p.name for p in (folder / "handover").rglob("*")}
    for secret in ("desktop-password", "sip-password", "chat-password", "voicemail-pin",
                   "softphone-baresip.txt", "softphone-linphone.xml", "account.json",
                   "laptop.key", "desktop-totp.txt"):
        assert secret not in names
    for page in (folder / "handover").glob("welcome-*.html"):
        assert "secret\n" not in page.read_text()


def test_handover_check_mode_writes_nothing(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    folder = make_pack(base)
    result = run(args(base, {"anna": person()}, ca_file), capsys, check_mode=True)
    assert result["changed"] is True and "anna/handover/welcome-ca.pdf" in result["written"]
    assert not (folder / "handover").exists() and not (folder / "vpn.md").exists()
    assert not (base / ".qr-codes.json").exists()


def test_handover_is_byte_stable_without_its_memo(tmp_path, capsys, ca_file):
    # The memo only spares the drawing: drawn again, every file has the same bytes
    # (a restored pack compares byte for byte; fixed PDF dates and ids).
    base = tmp_path / "c"
    folder = make_pack(base)
    run(args(base, {"anna": person()}, ca_file), capsys)
    first = {p: p.read_bytes() for p in (folder / "handover").rglob("*") if p.is_file()}
    (base / ".qr-codes.json").unlink()
    again = run(args(base, {"anna": person()}, ca_file), capsys)
    assert again["changed"] is False, again["written"]
    assert {p: p.read_bytes() for p in first} == first
    # Another process (fonts registered anew) draws the same bytes too.
    model = page_model(
        dict(person(), username="anna"),
        {"council_name": "Ajuntament d'Exemple", "helpdesk": "Informàtica, ext. 200"}, "ca",
        [("vpn", "laptop", profile("anna", "laptop", 0))], "AB:CD")
    script = (
        "import json, sys; sys.path.insert(0, 'tests/unit');"
        "from module_runner import register_module_utils; register_module_utils();"
        "import segno, teletreball_handover as h;"
        "qr = lambda text: segno.make(text, error='m', micro=False);"
        "sys.stdout.buffer.write(h.page_pdf(json.loads(sys.stdin.read()), qr, set()))"
    )
    outs = [subprocess.run([sys.executable, "-c", script], input=json.dumps(model).encode(),
                           capture_output=True, check=True, cwd=REPO).stdout
            for _ in range(2)]
    assert outs[0] == outs[1] and outs[0].startswith(b"%PDF")


def test_handover_escapes_hostile_names_and_never_templates_them(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    make_pack(base)
    hostile = "</title><script>alert('x')</script> & \"{{ 7 * 7 }}\" {% raw %}"
    result = run(args(base, {"anna": person(name=hostile, department="<b>OAC</b>")},
                      ca_file), capsys)
    assert result["rc"] == 0, result
    page = (base / "people" / "anna" / "handover" / "welcome-ca.html").read_text()
    assert "<script>" not in page and "<b>OAC" not in page
    assert html.escape(hostile) in page and "{{ 7 * 7 }}" in page.replace("&quot;", "")
    assert "49" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    words = pdf_text(base / "people" / "anna" / "handover" / "welcome-ca.pdf")
    assert "<script>alert('x')</script>" in words and "{{" in words


def test_handover_refuses_bad_input(tmp_path, capsys):
    base = tmp_path / "c"
    bad = run(args(base, {"anna": person(devices=[])} | {"x y": person()}), capsys)
    assert bad["failed"] is True and "'x y' is not a valid username" in bad["msg"]
    bad = run(args(base, {"anna": dict(person(), devices=[{"name": "../x", "address": "a"}])}),
              capsys)
    assert bad["failed"] is True and "devices" in bad["msg"]
    bad = run(args(base, {"anna": dict(person(), login="/bin/sh")}), capsys)
    assert bad["failed"] is True and "unknown keys login" in bad["msg"]
    not_a_cert = tmp_path / "ca.crt"
    not_a_cert.write_text("hello\n")
    make_pack(base)
    bad = run(args(base, {"anna": person()}, not_a_cert), capsys)
    assert bad["failed"] is True and "not a PEM certificate" in bad["msg"]


def test_handover_without_segno_or_reportlab_fails_clearly(tmp_path, capsys, monkeypatch,
                                                           ca_file):
    base = tmp_path / "c"
    make_pack(base)
    files = __import__("ansible.module_utils.teletreball_files", fromlist=["segno"])
    monkeypatch.setattr(files, "segno", None)
    result = run(args(base, {"anna": person()}, ca_file), capsys)
    assert result["failed"] is True and "segno" in result["msg"]
    assert "requirements-controller.txt" in result["msg"]
    # The VPN profiles' QR codes need it too.
    result = run({"directory": str(base), "qr_codes": {"anna": {"t.png": "otpauth://x"}}},
                 capsys)
    assert result["failed"] is True and "segno" in result["msg"]
    monkeypatch.undo()
    module = load_library_module("teletreball_welcome_packs")
    monkeypatch.setattr(module, "REPORTLAB_IMPORT_ERROR", "ImportError: reportlab")
    result = run_main(module, args(base, {"anna": person()}, ca_file), capsys)
    assert result["failed"] is True and "reportlab" in result["msg"]


def test_handover_follows_revoked_devices_and_lost_services(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    folder = make_pack(base)
    run(args(base, {"anna": person()}, ca_file), capsys)
    # The phone is revoked (the role vpn moved its files away): its profile leaves
    # the handover, and vpn.md names the laptop only.
    for suffix in (".conf", ".png", ".key"):
        (folder / "vpn" / f"phone{suffix}").unlink()
    result = run(args(base, {"anna": person(devices=["laptop"])}, ca_file), capsys)
    assert "anna/handover/vpn/phone.conf (removed)" in result["written"]
    assert not (folder / "handover" / "vpn" / "phone.png").exists()
    assert "phone.conf" not in (folder / "handover" / "vpn.md").read_text()
    # No device, no TLS service: no vpn.md, no CA.
    result = run(args(base, {"anna": person(devices=[], services=["admin_ssh"], desktop=None,
                                            extension=None, chat_account=None)}, ca_file),
                 capsys)
    assert "anna/vpn.md (removed)" in result["written"]
    assert not (folder / "council-ca.crt").exists()
    assert not (folder / "handover" / "council-ca.crt").exists()


def test_handover_supplied_keys_have_no_qr_code(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    folder = make_pack(base, devices=("laptop",), totp=False)
    conf = folder / "vpn" / "laptop.conf"
    conf.write_text(conf.read_text().replace(
        re.search(r"PrivateKey = (\S+)", conf.read_text()).group(1),
        "<the private key made on this device>"))
    (folder / "vpn" / "laptop.png").unlink()
    run(args(base, {"anna": person(devices=["laptop"])}, ca_file), capsys)
    page = (folder / "handover" / "welcome-en.html").read_text()
    assert "<svg" not in page and "vpn/laptop.conf" in page


def test_handover_warns_of_letters_the_pdf_font_lacks(tmp_path, capsys, ca_file,
                                                      monkeypatch):
    base = tmp_path / "c"
    make_pack(base)
    warnings = collect_warnings(monkeypatch)
    result = run(args(base, {"anna": person(name="Anna \u674e Ŀlorenç Ștefănescu")}, ca_file),
                 capsys)
    assert result["rc"] == 0
    assert any("\u674e" in warning for warning in warnings), warnings
    words = pdf_text(base / "people" / "anna" / "handover" / "welcome-ca.pdf")
    assert "Ŀlorenç" in words and "Ștefănescu" in words


# --- the PDF read back: QR codes and text boxes ---------------------------------------


def pdf_text(path):
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def decode_qr_codes(pdf, tmp_path):
    """Every QR code of the one-page PDF, as zbarimg reads it from a 200 dpi picture."""
    prefix = tmp_path / pdf.stem
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", str(pdf), str(prefix)],
                   check=True)
    pictures = sorted(tmp_path.glob(f"{pdf.stem}*.png"))
    assert len(pictures) == 1, pictures
    out = subprocess.run(["zbarimg", "-q", "--xml", str(pictures[0])], capture_output=True,
                         text=True, check=False)
    assert out.returncode in (0, 4), out.stderr  # 4: nothing found
    root = ET.fromstring(out.stdout)  # noqa: S314 our own test's output
    return sorted(data.text for data in root.iter() if data.tag.endswith("data"))


def word_boxes(pdf):
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True,
                         capture_output=True, text=True).stdout
    root = ET.fromstring(out)  # noqa: S314 our own test's output
    ns = {"x": "http://www.w3.org/1999/xhtml"}
    pages = root.findall(".//x:page", ns)
    return pages, [(w.text, *(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")))
                   for w in root.findall(".//x:word", ns)]


LONG_NAME = ("Maria dels Àngels Ŀlorença Puig-Oriol d'Alòs i Fernández de Castro-"
             "Sant Martí de l'Escala Montserrat Viñas Gómez-Pallarès i Costa")


def test_handover_pdf_reads_back_and_fits_its_page(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    devices = ["portatil-de-la-feina", "mobil", "tauleta", "ordinador-de-casa", "portatil-2",
               "mobil-2", "tauleta-sala-de-plens", "escriptori"]
    folder = make_pack(base, username="mangels", devices=devices)
    someone = person(name=LONG_NAME, devices=devices,
                     department="Serveis Socials, Igualtat i Participació Ciutadana "
                                "de l'Àrea de Benestar")
    result = run(args(base, {"mangels": someone}, ca_file), capsys)
    assert result["rc"] == 0, result
    expected = sorted([profile("mangels", d, i) for i, d in enumerate(devices)] + [TOTP])
    margin = 15 * MM - 1
    for lang in ("ca", "es", "en"):
        pdf = folder / "handover" / f"welcome-{lang}.pdf"
        assert decode_qr_codes(pdf, tmp_path) == expected, lang
        pages, words = word_boxes(pdf)
        assert len(pages) == 1, lang
        width, height = float(pages[0].get("width")), float(pages[0].get("height"))
        assert (round(width), round(height)) == (595, 842)
        outside = [w for w in words if w[1] < margin or w[2] < margin
                   or w[3] > width - margin or w[4] > height - margin]
        assert outside == [], (lang, outside[:5])
        text = pdf_text(pdf)
        assert "Ŀlorença" in text and "Fernández" in text
        assert {"ca": "Benvinguda", "es": "Bienvenida", "en": "Welcome"}[lang] in text


def test_handover_names_the_qr_codes_a_page_cannot_hold(tmp_path, capsys, ca_file):
    base = tmp_path / "c"
    devices = [f"dispositiu-{index:02d}" for index in range(20)]
    folder = make_pack(base, devices=devices)
    result = run(args(base, {"anna": person(name=LONG_NAME, devices=devices)}, ca_file), capsys)
    assert result["rc"] == 0, result
    pdf = folder / "handover" / "welcome-en.pdf"
    decoded = decode_qr_codes(pdf, tmp_path)
    profiles = [profile("anna", d, i) for i, d in enumerate(devices)]
    shown = [text for text in decoded if text != TOTP]
    assert TOTP in decoded and 0 < len(shown) < 20 and shown == sorted(profiles[:len(shown)])
    text = " ".join(pdf_text(pdf).split())
    assert f"vpn/{devices[-1]}.png" in text and f"vpn/{devices[len(shown)]}.png" in text
    assert len(word_boxes(pdf)[0]) == 1
    # The HTML page shows the same codes.
    page = (folder / "handover" / "welcome-en.html").read_text()
    assert page.count("<svg") == len(decoded)
