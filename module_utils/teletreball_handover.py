# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What IT hands a person on the first day: the printable page (HTML and PDF, in
Catalan, Spanish and English, with the QR codes of the person's VPN profiles and
second factor), vpn.md (WireGuard on each system) and council-ca.md (how to trust
the council's CA). Directory data is text here: escaped for HTML, drawn as text in
the PDF, never templated. The same input always gives the same bytes."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
import traceback

try:
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    REPORTLAB_IMPORT_ERROR = None
except ImportError:  # reported by the module, only when a page is wanted
    REPORTLAB_IMPORT_ERROR = traceback.format_exc()

# Bump when the page's layout or texts change, so that pages are drawn again.
RENDER_VERSION = "1"
LANGUAGES = ("ca", "es", "en")
# Services reached over the council's own TLS (its CA): RDP, SIP-TLS, XMPP and the web chat.
TLS_SERVICES = ("desktop", "phone", "chat")
# DejaVu (Debian's fonts-dejavu-core) covers the Latin Extended letters of the
# staff's names (Catalan's l-dot, Romanian, Polish, Hungarian ...); the Vera
# fonts reportlab ships are its ancestor and cover Latin-1 only.
DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"
MM = 72 / 25.4
MARGIN = 15 * MM
PEM_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)

T = {
    "ca": {
        "more_codes": "Els codis QR dels altres dispositius no caben al full: són a {files}.",
        "title": "Benvinguda al teletreball",
        "user": "Usuari",
        "codes": "Codis QR",
        "vpn_code": "VPN «{device}» ({address}): escaneja'l amb l'app WireGuard",
        "totp_code": "Segon factor de l'escriptori: escaneja'l amb l'app d'autenticació",
        "steps": "Primer dia, pas a pas",
        "step_vpn": ("Instal·la WireGuard i importa el teu perfil (com es fa a cada sistema: "
                     "vpn.md). Al mòbil, escaneja el codi QR del dispositiu; a l'ordinador, "
                     "importa el fitxer. Cada dispositiu té el seu perfil:"),
        "device_file": "«{device}» ({address}): vpn/{device}.conf",
        "step_vpn_check": ("Activa la VPN: l'app ha de mostrar una «darrera encaixada» "
                           "(latest handshake) de fa pocs segons."),
        "step_ca": ("Fes confiança al certificat de l'Ajuntament, council-ca.crt "
                    "(passos per a cada sistema: council-ca.md). Comprova que la seva "
                    "empremta SHA-256 és:"),
        "step_desktop": ("Escriptori remot: connecta't a {target} amb l'usuari {username}. "
                         "La contrasenya te la dona informàtica a part."),
        "step_desktop_totp": (" Darrere la contrasenya, sense espai, escriu el codi de 6 "
                              "xifres de l'app d'autenticació (escaneja abans el codi QR "
                              "del segon factor)."),
        "step_phone": ("Telèfon: la teva extensió és la {extension}. Configura l'app com diu "
                       "phone.md (els fitxers amb la contrasenya te'ls dona informàtica a part)."),
        "step_chat": "Xat i videotrucades: compte {account}; instruccions a chat.md.",
        "help": "Si alguna cosa no funciona: {helpdesk}.",
        "helpdesk_default": "truca al servei d'informàtica de l'Ajuntament",
        "keep": ("Aquest full obre la xarxa de l'Ajuntament: guarda'l com una clau i "
                 "destrueix-lo quan tot funcioni. Cap contrasenya no hi és mai escrita."),
    },
    "es": {
        "more_codes": ("Los códigos QR de los demás dispositivos no caben en la hoja: "
                       "están en {files}."),
        "title": "Bienvenida al teletrabajo",
        "user": "Usuario",
        "codes": "Códigos QR",
        "vpn_code": "VPN «{device}» ({address}): escanéalo con la app WireGuard",
        "totp_code": "Segundo factor del escritorio: escanéalo con la app de autenticación",
        "steps": "Primer día, paso a paso",
        "step_vpn": ("Instala WireGuard e importa tu perfil (cómo se hace en cada sistema: "
                     "vpn.md). En el móvil, escanea el código QR del dispositivo; en el "
                     "ordenador, importa el fichero. Cada dispositivo tiene su perfil:"),
        "device_file": "«{device}» ({address}): vpn/{device}.conf",
        "step_vpn_check": ("Activa la VPN: la app debe mostrar un «último saludo» "
                           "(latest handshake) de hace pocos segundos."),
        "step_ca": ("Confía en el certificado del Ayuntamiento, council-ca.crt (pasos "
                    "para cada sistema: council-ca.md). Comprueba que su huella "
                    "SHA-256 es:"),
        "step_desktop": ("Escritorio remoto: conéctate a {target} con el usuario {username}. "
                         "La contraseña te la da informática aparte."),
        "step_desktop_totp": (" Detrás de la contraseña, sin espacio, escribe el código de 6 "
                              "cifras de la app de autenticación (escanea antes el código "
                              "QR del segundo factor)."),
        "step_phone": ("Teléfono: tu extensión es la {extension}. Configura la app como dice "
                       "phone.md (los ficheros con la contraseña te los da informática aparte)."),
        "step_chat": "Chat y videollamadas: cuenta {account}; instrucciones en chat.md.",
        "help": "Si algo no funciona: {helpdesk}.",
        "helpdesk_default": "llama al servicio de informática del Ayuntamiento",
        "keep": ("Esta hoja abre la red del Ayuntamiento: guárdala como una llave y "
                 "destrúyela cuando todo funcione. Nunca lleva ninguna contraseña."),
    },
    "en": {
        "more_codes": "The other devices' QR codes do not fit on the page: they are in {files}.",
        "title": "Welcome to telework",
        "user": "Username",
        "codes": "QR codes",
        "vpn_code": "VPN \u201c{device}\u201d ({address}): scan it with the WireGuard app",
        "totp_code": "Desktop second factor: scan it with your authenticator app",
        "steps": "First day, step by step",
        "step_vpn": ("Install WireGuard and import your profile (how, on each system: "
                     "vpn.md). On a phone, scan the device's QR code; on a computer, "
                     "import the file. Each device has its own profile:"),
        "device_file": "\u201c{device}\u201d ({address}): vpn/{device}.conf",
        "step_vpn_check": ("Switch the VPN on: the app must show a latest handshake a few "
                           "seconds ago."),
        "step_ca": ("Trust the council's certificate, council-ca.crt (steps for each "
                    "system: council-ca.md). Check that its SHA-256 fingerprint is:"),
        "step_desktop": ("Remote desktop: connect to {target} as {username}. IT gives you "
                         "the password separately."),
        "step_desktop_totp": (" After the password, without a space, type the 6-digit code "
                              "of your authenticator app (scan the second-factor QR code "
                              "first)."),
        "step_phone": ("Phone: your extension is {extension}. Set up the app as phone.md says "
                       "(IT gives you the files with your password separately)."),
        "step_chat": "Chat and video calls: account {account}; instructions in chat.md.",
        "help": "If something does not work: {helpdesk}.",
        "helpdesk_default": "call the council's IT service",
        "keep": ("This page opens the council's network: keep it like a key and shred it "
                 "once everything works. It never holds a password."),
    },
}


def uses_tls(person):
    return any(service in TLS_SERVICES for service in person.get("services") or [])


def ca_fingerprints(pem):
    """(SHA-256, SHA-1) of the first certificate in ``pem``, as colon-separated hex."""
    match = PEM_RE.search(pem)
    if not match:
        return None
    der = base64.b64decode("".join(match.group(1).split()))

    def colons(digest):
        return ":".join(f"{byte:02X}" for byte in digest)

    # SHA-1 only because Windows shows it when a root certificate is installed.
    sha1 = hashlib.sha1(der, usedforsecurity=False).digest()  # noqa: S324
    return colons(hashlib.sha256(der).digest()), colons(sha1)


def page_model(person, settings, lang, codes, fingerprint):
    """What one page says, as plain text (never markup): header, QR codes, steps.
    ``codes`` is a list of (kind, device, text): kind ``vpn`` or ``totp``."""
    t = T[lang]
    username = person["username"]
    devices = person.get("devices") or []
    captions = []
    for kind, device, text in codes:
        if kind == "vpn":
            address = next((d["address"] for d in devices if d["name"] == device), "")
            captions.append((t["vpn_code"].format(device=device, address=address), text,
                             device))
        else:
            captions.append((t["totp_code"], text, None))
    steps = []
    if devices:
        steps.append({"text": t["step_vpn"], "items": [
            t["device_file"].format(device=d["name"], address=d["address"]) for d in devices
        ]})
        steps.append({"text": t["step_vpn_check"], "items": []})
    if uses_tls(person) and fingerprint:
        # Two halves of 16 bytes: a line each, wherever the page wraps.
        steps.append({"text": t["step_ca"], "items": [fingerprint[:47], fingerprint[48:]],
                      "mono": True})
    if person.get("desktop"):
        text = t["step_desktop"].format(target=person["desktop"], username=username)
        if any(kind == "totp" for kind, _, _ in codes):
            text += t["step_desktop_totp"]
        steps.append({"text": text, "items": []})
    if person.get("extension"):
        steps.append({"text": t["step_phone"].format(extension=person["extension"]),
                      "items": []})
    if person.get("chat_account"):
        steps.append({"text": t["step_chat"].format(account=person["chat_account"]),
                      "items": []})
    helpdesk = settings.get("helpdesk") or t["helpdesk_default"]
    steps.append({"text": t["help"].format(helpdesk=helpdesk), "items": []})
    return {
        "lang": lang,
        "council": settings["council_name"],
        "title": t["title"],
        "name": person["name"],
        "subtitle": " · ".join(
            part for part in (f"{t['user']}: {username}", person.get("department") or "") if part
        ),
        "codes_title": t["codes"],
        "codes": captions,
        "codes_note": "",
        "steps_title": t["steps"],
        "steps": steps,
        "keep": t["keep"],
    }


# --- HTML ---------------------------------------------------------------------------

CSS = """
@page { size: A4; margin: 15mm; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", "Bitstream Vera Sans", Verdana, sans-serif;
  font-size: 10.5pt; line-height: 1.35; color: #000; background: #fff; }
main { max-width: 180mm; margin: 0 auto; padding: 8mm 0; }
.council { color: #444; font-weight: bold; margin: 0; }
h1 { font-size: 17pt; margin: 1mm 0 0; }
.name { font-size: 14pt; font-weight: bold; margin: 1mm 0 0; overflow-wrap: anywhere; }
.subtitle { margin: 0 0 3mm; overflow-wrap: anywhere; }
h2 { font-size: 12pt; margin: 4mm 0 2mm; border-bottom: 0.3mm solid #000; }
.codes { display: flex; flex-wrap: wrap; gap: 4mm; }
figure { margin: 0; width: 42mm; break-inside: avoid; }
figure svg { display: block; width: 42mm; height: 42mm; }
figcaption { font-size: 8pt; overflow-wrap: anywhere; }
ol { padding-left: 6mm; margin: 0; }
li { margin-bottom: 1.5mm; overflow-wrap: anywhere; }
li ul { padding-left: 5mm; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; }
.keep { margin-top: 4mm; border: 0.3mm solid #000; padding: 2mm; font-size: 9pt; }
@media print { main { padding: 0; max-width: none; } }
""".strip()


def qr_svg(qr):
    """A QR code as inline SVG that CSS sizes (viewBox, no width or height)."""
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", border=4, xmldecl=False, svgns=True, omitsize=True,
            svgclass="qr", lineclass=None, nl=False)
    return buffer.getvalue().decode("ascii")


def page_html(model, make_qr, cache=None):
    """The page as one self-contained HTML document (inline CSS and SVG). ``cache``
    keeps each QR code's SVG for the other languages' pages."""
    cache = {} if cache is None else cache
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{model["lang"]}">',
        '<head><meta charset="utf-8">',
        f"<title>{esc(model['council'])} \u00b7 {esc(model['name'])}</title>",
        f"<style>\n{CSS}\n</style></head>",
        "<body><main>",
        f'<p class="council">{esc(model["council"])}</p>',
        f"<h1>{esc(model['title'])}</h1>",
        f'<p class="name">{esc(model["name"])}</p>',
        f'<p class="subtitle">{esc(model["subtitle"])}</p>',
    ]
    if model["codes"]:
        parts.append(f"<h2>{esc(model['codes_title'])}</h2>")
        parts.append('<div class="codes">')
        for caption, text, _device in model["codes"]:
            if text not in cache:
                cache[text] = qr_svg(make_qr(text))
            parts.append(f"<figure>{cache[text]}"
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
        parts.append("</div>")
    if model["codes_note"]:
        parts.append(f"<p>{esc(model['codes_note'])}</p>")
    parts.append(f"<h2>{esc(model['steps_title'])}</h2>")
    parts.append("<ol>")
    for step in model["steps"]:
        items = ""
        if step["items"]:
            cls = ' class="mono"' if step.get("mono") else ""
            items = "<ul>" + "".join(
                f"<li{cls}>{esc(item)}</li>" for item in step["items"]
            ) + "</ul>"
        parts.append(f"<li>{esc(step['text'])}{items}</li>")
    parts.append("</ol>")
    parts.append(f'<p class="keep">{esc(model["keep"])}</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


# --- PDF ----------------------------------------------------------------------------


class Fonts:
    """The page's TrueType fonts, registered once per process, and what they cover."""

    def __init__(self):
        regular = os.path.join(DEJAVU_DIR, "DejaVuSans.ttf")
        bold = os.path.join(DEJAVU_DIR, "DejaVuSans-Bold.ttf")
        if not all(os.path.isfile(path) for path in (regular, bold)):
            import reportlab  # the Vera fonts reportlab ships: Latin-1 only

            folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
            regular, bold = (os.path.join(folder, name) for name in ("Vera.ttf", "VeraBd.ttf"))
        # Two fonts only: each embedded subset of DejaVu weighs about 19 KB.
        self.paths = {"TT-Sans": regular, "TT-Sans-Bold": bold}
        digest = hashlib.sha256()
        for name, path in sorted(self.paths.items()):
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, path))
            with open(path, "rb") as handle:
                digest.update(handle.read())
        self.digest = digest.hexdigest()[:16]
        self.cover = {
            name: set(pdfmetrics.getFont(name).face.charToGlyph)
            for name in self.paths
        }

    def drawable(self, text, font, missing):
        """``text`` with each character the font lacks replaced by '?' (noted in ``missing``)."""
        cover = self.cover[font]
        out = []
        for char in text:
            if ord(char) in cover or char == " ":
                out.append(char)
            else:
                missing.add(char)
                out.append("?")
        return "".join(out)


_FONTS = []


def fonts():
    if not _FONTS:
        _FONTS.append(Fonts())
    return _FONTS[0]


def wrap(text, font, size, width):
    """Lines of ``text`` no wider than ``width`` points; a word too long for a line is
    cut between characters."""
    measure = pdfmetrics.stringWidth
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if measure(candidate, font, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if measure(line + char, font, size) > width and line:
                lines.append(line)
                line = ""
            line += char
    lines.append(line)
    return lines


def layout(model, size, qr_mm, missing):
    """Drawing operations of the page at font ``size`` and QR codes of ``qr_mm``, and
    the height they take: [("text", font, size, x, y_from_top, text) | ("qr", x, y, side, text)]."""
    f = fonts()
    width = A4[0] - 2 * MARGIN
    ops, y = [], 0.0

    def text_block(text, font, fsize, indent=0.0, lead=1.3):
        nonlocal y
        for line in wrap(f.drawable(text, font, missing), font, fsize, width - indent):
            y += fsize * lead
            ops.append(("text", font, fsize, indent, y, line))

    text_block(model["council"], "TT-Sans-Bold", size)
    text_block(model["title"], "TT-Sans-Bold", size * 1.6)
    text_block(model["name"], "TT-Sans-Bold", size * 1.35)
    text_block(model["subtitle"], "TT-Sans", size)
    if model["codes"]:
        y += size * 0.6
        text_block(model["codes_title"], "TT-Sans-Bold", size * 1.15)
        y += size * 0.3
        side = qr_mm * MM
        gap = 5 * MM
        columns = max(1, int((width + gap) // (side + gap)))
        for row in range(0, len(model["codes"]), columns):
            row_bottom = y
            for column, (caption, text, _device) in enumerate(model["codes"][row:row + columns]):
                x = column * (side + gap)
                ops.append(("qr", x, y + side, side, text))
                cy = y + side
                csize = size * 0.8
                for line in wrap(f.drawable(caption, "TT-Sans", missing), "TT-Sans", csize, side):
                    cy += csize * 1.25
                    ops.append(("text", "TT-Sans", csize, x, cy, line))
                row_bottom = max(row_bottom, cy)
            y = row_bottom + size * 0.8
    if model["codes_note"]:
        text_block(model["codes_note"], "TT-Sans", size)
    y += size * 0.4
    text_block(model["steps_title"], "TT-Sans-Bold", size * 1.15)
    for number, step in enumerate(model["steps"], start=1):
        y += size * 0.3
        indent = size * 1.6
        first = len(ops)
        text_block(step["text"], "TT-Sans", size, indent)
        ops.insert(first, ("text", "TT-Sans", size, 0.0, ops[first][4], f"{number}."))
        for item in step["items"]:
            if step.get("mono"):
                text_block(item, "TT-Sans-Bold", size * 0.85, indent + size)
            else:
                text_block(f"\u2013 {item}", "TT-Sans", size, indent + size)
    y += size * 0.8
    text_block(model["keep"], "TT-Sans-Bold", size * 0.9)
    return ops, y


def fit(model, missing):
    """The largest font and QR codes whose layout fits one A4 page."""
    height = A4[1] - 2 * MARGIN
    attempts = [(size, qr) for size in (10.5, 9.5, 8.5, 7.5, 6.5) for qr in (42, 36, 30)]
    for size, qr in attempts:
        found = set()
        ops, used = layout(model, size, qr, found)
        if used <= height:
            missing |= found
            return ops
    raise ValueError("the page does not fit on one A4 sheet, even at the smallest size")


def qr_operators(qr):
    """The QR code's dark modules as PDF rectangles, one per run of a row, in module
    units with the origin at the bottom left of the quiet zone (4 modules)."""
    rows = [list(row) for row in qr.matrix]
    count = len(rows) + 8
    ops = []
    for row_index, row in enumerate(rows):
        y = count - 5 - row_index
        column = 0
        while column < len(row):
            if row[column]:
                start = column
                while column < len(row) and row[column]:
                    column += 1
                ops.append(f"{start + 4} {y} {column - start} 1 re")
            else:
                column += 1
    return count, "\n".join(ops) + "\nf"


def fit_codes(model, lang):
    """The model with as many VPN QR codes as one page holds (the second factor's
    always); the others are named, as files of the handover."""
    vpn = [code for code in model["codes"] if code[2] is not None]
    other = [code for code in model["codes"] if code[2] is None]
    for keep in range(len(vpn), -1, -1):
        trimmed = dict(model, codes=vpn[:keep] + other)
        if keep < len(vpn):
            files = ", ".join(f"vpn/{code[2]}.png" for code in vpn[keep:])
            trimmed["codes_note"] = T[lang]["more_codes"].format(files=files)
        try:
            fit(trimmed, set())
        except ValueError:
            continue
        return trimmed
    raise ValueError("the page does not fit on one A4 sheet, even without its QR codes")


def draw_qr(pdf, qr, x, bottom, side, cache):
    """The QR code as vector squares (sharp in print), scaled to ``side`` points."""
    key = id(qr)
    if key not in cache:
        cache[key] = (qr, *qr_operators(qr))
    _, count, operators = cache[key]
    pdf.saveState()
    pdf.translate(x, bottom)
    pdf.scale(side / count, side / count)
    pdf.addLiteral(operators)
    pdf.restoreState()


def page_pdf(model, make_qr, missing, cache=None):
    """The page as a one-page PDF. ``invariant`` fixes the creation date and the
    document id: the same model gives the same bytes. ``cache`` keeps each QR
    code's drawing for the other languages' pages."""
    cache = {} if cache is None else cache
    ops = fit(model, missing)
    buffer = io.BytesIO()
    rl_config.useA85 = 0  # binary streams: a quarter smaller than ASCII85
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    pdf.setTitle(f"{model['council']} \u00b7 {model['name']}")
    pdf.setAuthor(model["council"])
    pdf.setCreator("teletreball")
    pdf.setSubject(model["title"])
    top = A4[1] - MARGIN
    for op in ops:
        if op[0] == "text":
            _, font, size, x, y, text = op
            pdf.setFont(font, size)
            pdf.drawString(MARGIN + x, top - y, text)
        else:
            _, x, y_bottom, side, text = op
            draw_qr(pdf, make_qr(text), MARGIN + x, top - y_bottom, side, cache)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- vpn.md and council-ca.md ----------------------------------------------------------


def vpn_markdown(person, helpdesk, gateway=""):
    devices = person.get("devices") or []
    own = "\n".join(
        f"- `{d['name']}` ({d['address']}): `vpn/{d['name']}.conf`"
        + (f", QR `vpn/{d['name']}.png`" if d.get("qr") else "")
        for d in devices
    )
    # The gateway answers ping from the tunnel; the services answer on their own
    # ports only (the firewall drops the rest, ping included).
    ping_ca = f"`ping {gateway}` (la passarel·la de la VPN) respon." if gateway else ""
    ping_en = f"`ping {gateway}` (the VPN gateway) answers." if gateway else ""
    desktop = (person.get("desktop") or "")
    reach_ca = (f"El client d'escriptori remot connecta a `{desktop}`." if desktop
                else "El xat o els serveis de l'Ajuntament obren.")
    reach_en = (f"Your remote-desktop client connects to `{desktop}`." if desktop
                else "The council's chat or services open.")
    check_ca = "\n".join(f"- {line}" for line in (ping_ca, reach_ca) if line)
    check_en = "\n".join(f"- {line}" for line in (ping_en, reach_en) if line)
    call_ca = helpdesk or "el servei d'informàtica de l'Ajuntament"
    call_en = helpdesk or "the council's IT service"
    return f"""# VPN (WireGuard)

## Català

La VPN connecta el teu dispositiu a la xarxa de l'Ajuntament. Cada dispositiu té
el seu perfil: no facis servir el mateix perfil en dos dispositius alhora.

Els teus perfils:

{own}

### Instal·lar i importar

- **Windows**: baixa «WireGuard for Windows» de https://www.wireguard.com/install/
  i instal·la'l. Obre WireGuard, «Import tunnel(s) from file», tria el fitxer
  `.conf` del dispositiu i prem «Activate».
- **macOS**: instal·la l'app «WireGuard» de la Mac App Store. «Import Tunnel(s)
  from File…», tria el `.conf`, permet afegir la configuració VPN i activa-la.
- **Android**: instal·la «WireGuard» (WireGuard Development Team) de Google Play
  o F-Droid. Botó «+», «Scan from QR code» (escaneja el codi del full) o
  «Import from file or archive» (el `.conf`). Activa l'interruptor.
- **iPhone i iPad**: instal·la «WireGuard» de l'App Store. «Add a tunnel»,
  «Create from QR code» (o «Create from file or archive»), permet la
  configuració VPN i activa-la.
- **Debian**: `sudo apt install wireguard-tools`, després
  `sudo install -m 600 DISPOSITIU.conf /etc/wireguard/teletreball.conf` i
  `sudo wg-quick up teletreball` (si el perfil té `DNS`, cal també
  `sudo apt install openresolv`). Amb NetworkManager:
  `nmcli connection import type wireguard file teletreball.conf` (copia abans el
  `.conf` amb aquest nom: el nom del fitxer és el de la connexió).

### Comprovar que funciona

- L'app mostra «Latest handshake» de fa pocs segons i les dades rebudes pugen
  (Debian: `sudo wg show`).
{check_ca}

### Si no funciona

Sense «handshake»: comprova que tens internet, que no hi ha cap altra VPN activa
i que fas servir el perfil d'aquest dispositiu. Si continua sense anar, contacta
amb {call_ca} i digues-los el nom del dispositiu. Si perds el dispositiu, avisa'ls
de seguida: en revocaran el perfil.

## English

The VPN connects your device to the council's network. Each device has its own
profile: never use one profile on two devices at once.

Your profiles:

{own}

### Install and import

- **Windows**: download "WireGuard for Windows" from https://www.wireguard.com/install/
  and install it. Open WireGuard, "Import tunnel(s) from file", choose the
  device's `.conf` file and press "Activate".
- **macOS**: install the "WireGuard" app from the Mac App Store. "Import
  Tunnel(s) from File…", choose the `.conf`, allow the VPN configuration and
  activate it.
- **Android**: install "WireGuard" (WireGuard Development Team) from Google Play
  or F-Droid. The "+" button, "Scan from QR code" (the code on your page) or
  "Import from file or archive" (the `.conf`). Switch it on.
- **iPhone and iPad**: install "WireGuard" from the App Store. "Add a tunnel",
  "Create from QR code" (or "Create from file or archive"), allow the VPN
  configuration and switch it on.
- **Debian**: `sudo apt install wireguard-tools`, then
  `sudo install -m 600 DEVICE.conf /etc/wireguard/teletreball.conf` and
  `sudo wg-quick up teletreball` (with a `DNS` line in the profile, also
  `sudo apt install openresolv`). With NetworkManager:
  `nmcli connection import type wireguard file teletreball.conf` (copy the
  `.conf` to that name first: the file's name becomes the connection's).

### Check that it works

- The app shows a "Latest handshake" a few seconds ago and the received data
  grows (Debian: `sudo wg show`).
{check_en}

### When it does not work

No handshake: check that you are online, that no other VPN is on and that you
use this device's profile. If it still fails, contact {call_en} and give them the
device's name. If you lose a device, tell them at once: they revoke its profile.
"""


def ca_markdown(sha256, sha1):
    return f"""# Certificat de l'Ajuntament · The council's certificate

`council-ca.crt` és l'autoritat de certificació de l'Ajuntament: l'escriptori
remot, el xat, el telèfon i les seves pàgines web la fan servir. Instal·la-la com
a autoritat de confiança. / `council-ca.crt` is the council's certificate
authority: the remote desktop, the chat, the phone and their web pages use it.
Install it as a trusted authority.

Empremta · Fingerprint:

- SHA-256: `{sha256}`
- SHA-1 (Windows): `{sha1}`

Compara-la abans de confiar-hi. / Compare it before you trust it.

## Català

- **Windows**: doble clic a `council-ca.crt`, «Instal·la el certificat», «Usuari
  actual», «Col·loca tots els certificats al magatzem següent», «Entitats
  emissores de certificats arrel de confiança», Finalitza. (O `certmgr.msc`,
  aquesta carpeta, Accions, Totes les tasques, Importa.)
- **macOS**: doble clic: Accés a Claus l'afegeix. Obre el certificat, «Confia»,
  «En utilitzar aquest certificat: Confia sempre».
- **Android**: Configuració, Seguretat, Més opcions, Encriptació i credencials,
  «Instal·la un certificat», «Certificat de CA», tria `council-ca.crt`.
- **iPhone i iPad**: obre el fitxer i instal·la el perfil (Configuració,
  General, VPN i gestió de dispositius). Després, Configuració, General,
  Informació, «Configuració de confiança de certificats»: activa'l.
- **Debian**: `sudo cp council-ca.crt /usr/local/share/ca-certificates/` i
  `sudo update-ca-certificates`.
- **Firefox** té el seu magatzem: Paràmetres, Privadesa i seguretat,
  Certificats, «Mostra els certificats», Autoritats, Importa, marca «Confia en
  aquesta CA per identificar llocs web».

## English

- **Windows**: double-click `council-ca.crt`, "Install Certificate", "Current
  User", "Place all certificates in the following store", "Trusted Root
  Certification Authorities", Finish. (Or `certmgr.msc`, that folder, Action,
  All Tasks, Import.)
- **macOS**: double-click: Keychain Access adds it. Open the certificate,
  "Trust", "When using this certificate: Always Trust".
- **Android**: Settings, Security, More security settings, Encryption and
  credentials, "Install a certificate", "CA certificate", choose
  `council-ca.crt`.
- **iPhone and iPad**: open the file and install the profile (Settings, General,
  VPN & Device Management). Then Settings, General, About, "Certificate Trust
  Settings": switch it on.
- **Debian**: `sudo cp council-ca.crt /usr/local/share/ca-certificates/` and
  `sudo update-ca-certificates`.
- **Firefox** has its own store: Settings, Privacy & Security, Certificates,
  "View Certificates", Authorities, Import, tick "Trust this CA to identify
  websites".
"""
