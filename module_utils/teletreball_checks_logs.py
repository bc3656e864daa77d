# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the central logs (LOG-*): see module_utils/teletreball_audit.py.

Parameters read from ``ctx.params`` (roles/logs/tasks/audit.yml passes them):
  collector        the log host's name or address (logs_collector_address)
  port             the collector's TCP port (logs_port)
  forward_file     the rsyslog drop-in that forwards (role vars)
  collector_file   the rsyslog drop-in of the collector (role vars)
  certificate      the host's upload certificate; ca_file the council's CA
  remote_dir       where the log host writes <host>/<YYYY-MM-DD>.log
  hosts            the inventory's hosts whose logs the log host must hold
  retention_days   logs_retention_days; vacuum_script the retention's script
  fresh_hours      how recent each host's newest file must be (default 24)
"""

from __future__ import annotations

import re

from ansible.module_utils.teletreball_audit import CheckError, control


def _rsyslog_valid(ctx):
    state = ctx.run("systemctl", "is-active", "rsyslog.service").stdout.strip()
    ctx.expect(state == "active", "rsyslog runs", f"rsyslog.service {state}")
    checked = ctx.run("rsyslogd", "-N1")
    ctx.expect(checked.rc == 0, "rsyslog's configuration is valid (rsyslogd -N1)",
               (checked.stderr or checked.stdout).strip().splitlines()[-1:] or "no output")


def _setting(text, name):
    """The value of name="value" in an rsyslog action or input (None when absent)."""
    match = re.search(rf'\b{re.escape(name)}="([^"]*)"', text or "", re.IGNORECASE)
    return match.group(1) if match else None


def _certificate_valid(ctx, certificate, ca_file, purpose):
    verified = ctx.run("openssl", "verify", "-CAfile", ca_file, "-purpose", purpose, certificate)
    ctx.expect(verified.rc == 0 and verified.stdout.strip().endswith(": OK"),
               f"{certificate} is signed by the council's CA for {purpose}",
               (verified.stdout + verified.stderr).strip().splitlines()[-1:] or "")
    ends = ctx.run("openssl", "x509", "-noout", "-enddate", "-checkend", "0", "-in", certificate)
    ctx.expect(ends.rc == 0, f"{certificate} has not expired", ends.stdout.strip())


@control("LOG-FWD-01")
def logs_forwarded(ctx):
    params = ctx.params
    collector, port = params["collector"], str(params["port"])
    _rsyslog_valid(ctx)
    text = ctx.read(params["forward_file"])
    if text is None:
        raise CheckError(f"{params['forward_file']} is missing: nothing is forwarded")
    ctx.expect(_setting(text, "target") == collector and _setting(text, "port") == port,
               f"every line goes to {collector}:{port}",
               f'target="{_setting(text, "target")}" port="{_setting(text, "port")}"')
    ctx.expect(_setting(text, "StreamDriver") == "gtls"
               and _setting(text, "StreamDriverMode") == "1",
               "over TLS only (gtls, mode 1)",
               f'StreamDriver="{_setting(text, "StreamDriver")}" '
               f'StreamDriverMode="{_setting(text, "StreamDriverMode")}"')
    ctx.expect(_setting(text, "StreamDriverAuthMode") == "x509/name"
               and _setting(text, "StreamDriverPermittedPeers") == collector,
               f"only the log host's own certificate ({collector}) is accepted",
               f'StreamDriverAuthMode="{_setting(text, "StreamDriverAuthMode")}" '
               f'StreamDriverPermittedPeers="{_setting(text, "StreamDriverPermittedPeers")}"')
    _certificate_valid(ctx, params["certificate"], params["ca_file"], "sslclient")
    key = ctx.stat(params["certificate"][: -len(".crt")] + ".key")
    ctx.expect(key is not None and key["mode"] == "0600" and key["user"] == "root",
               "the upload key is root's, 0600",
               f"{key['mode']} {key['user']}:{key['group']}" if key else "missing")
    sessions = ctx.run("ss", "--no-header", "--tcp", "--numeric", "state", "established",
                       f"( dport = :{port} )")
    ctx.expect(sessions.ok and bool(sessions.stdout.strip()),
               f"a TLS session to the log host's port {port} is up",
               sessions.stdout.strip().splitlines()[0] if sessions.stdout.strip()
               else f"no established connection to port {port}")


@control("LOG-COL-01")
def logs_collected(ctx):
    params = ctx.params
    port = int(params["port"])
    _rsyslog_valid(ctx)
    text = ctx.read(params["collector_file"])
    if text is None:
        raise CheckError(f"{params['collector_file']} is missing: this host collects nothing")
    ctx.expect(_setting(text, "StreamDriver.Mode") == "1"
               and _setting(text, "StreamDriver.AuthMode") == "x509/certvalid"
               and _setting(text, "StreamDriver.CAFile") == params["ca_file"],
               "only TLS clients with a certificate of the council's CA",
               f'StreamDriver.Mode="{_setting(text, "StreamDriver.Mode")}" '
               f'StreamDriver.AuthMode="{_setting(text, "StreamDriver.AuthMode")}" '
               f'StreamDriver.CAFile="{_setting(text, "StreamDriver.CAFile")}"')
    tcp = [s for s in ctx.listening() if s["proto"] == "tcp"]
    syslog = sorted({s["port"] for s in ctx.listening() if s["port"] == 514})
    ctx.expect(any(s["port"] == port for s in tcp), f"the collector listens on tcp {port}",
               ", ".join(f"{s['address']}:{s['port']}" for s in tcp if s["port"] == port)
               or f"nothing on {port}")
    ctx.expect(not syslog, "no plain syslog port (514)", f"514 open: {bool(syslog)}")
    ruleset = ctx.output("nft", "list", "ruleset")
    rule = next((line.strip() for line in ruleset.splitlines()
                 if f"tcp dport {port} accept" in line), "")
    ctx.expect(bool(rule) and "saddr" in rule, f"tcp {port} is open to listed sources only",
               rule or f"no rule for tcp {port}")
    # Per host, with a recent file: forwarding works from every host.
    fresh = int(params.get("fresh_hours", 24)) * 60
    for name in params["hosts"]:
        folder = f"{params['remote_dir']}/{name}"
        recent = ctx.run("find", folder, "-maxdepth", "1", "-name", "*.log", "-mmin", f"-{fresh}",
                         "-printf", "%TY-%Tm-%Td %TH:%TM %p\\n")
        ctx.expect(recent.ok and bool(recent.stdout.strip()),
                   f"{name}'s logs arrive, in its own folder",
                   recent.stdout.strip().splitlines()[-1] if recent.stdout.strip()
                   else f"nothing newer than {fresh // 60} h in {folder}")
    # The retention.
    days = int(params["retention_days"])
    ctx.expect(days >= 90, "the retention is at least 90 days", f"logs_retention_days {days}")
    script = ctx.read(params["vacuum_script"]) or ""
    match = re.search(r"-mtime \+(\d+)", script)
    ctx.expect(bool(match) and int(match.group(1)) == days,
               f"the retention removes only files older than {days} days",
               match.group(0) if match else "no -mtime in the retention script")
    timer = ctx.run("systemctl", "is-active", "teletreball-logs-vacuum.timer").stdout.strip()
    ctx.expect(timer == "active", "the retention runs on a timer",
               f"teletreball-logs-vacuum.timer {timer}")
