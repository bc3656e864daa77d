# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the hardened baseline (BL-*): see module_utils/teletreball_audit.py.

Parameters read from ``ctx.params`` (roles/baseline/tasks/audit.yml passes them):
  ssh_allow_groups  the groups allowed to log in over SSH (the admins' group first)
  ssh_admin_user    a user name for sshd's effective settings (default: audit)
"""

from __future__ import annotations

from ansible.module_utils.teletreball_audit import control

MODERN_CIPHERS = frozenset({
    "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
    "aes256-ctr", "aes192-ctr", "aes128-ctr",
})
MODERN_KEX = frozenset({
    "mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256", "curve25519-sha256@libssh.org",
})


def _sshd_running(ctx):
    ctx.expect(ctx.is_active("ssh.service"), "sshd runs", "ssh.service active")
    checked = ctx.run("/usr/sbin/sshd", "-t")
    ctx.expect(checked.rc == 0, "sshd's configuration is valid (sshd -t)",
               checked.stderr.strip() or "sshd -t: no error")


@control("BL-SSH-01")
def ssh_public_keys_only(ctx):
    _sshd_running(ctx)
    settings = ctx.sshd_effective(user=ctx.params.get("ssh_admin_user", "audit"))
    for key, wanted in (("authenticationmethods", "publickey"), ("pubkeyauthentication", "yes"),
                        ("passwordauthentication", "no"), ("kbdinteractiveauthentication", "no"),
                        ("permitemptypasswords", "no"), ("hostbasedauthentication", "no"),
                        ("gssapiauthentication", "no")):
        value = settings.get(key)
        ctx.expect(value == wanted, f"sshd {key} {wanted}", f"{key} {value}")


@control("BL-SSH-02")
def ssh_no_root_login(ctx):
    value = ctx.sshd_effective(user="root").get("permitrootlogin")
    ctx.expect(value == "no", "sshd PermitRootLogin no (for a root login)",
               f"permitrootlogin {value}")


@control("BL-SSH-03")
def ssh_few_attempts(ctx):
    settings = ctx.sshd_effective()
    tries = int(settings.get("maxauthtries", "0"))
    grace = int(settings.get("logingracetime", "0"))
    ctx.expect(1 <= tries <= 4, "MaxAuthTries between 1 and 4", f"maxauthtries {tries}")
    ctx.expect(1 <= grace <= 60, "LoginGraceTime between 1 and 60 s", f"logingracetime {grace}")
    startups = settings.get("maxstartups")
    ctx.expect(startups == "10:30:60", "MaxStartups 10:30:60", f"maxstartups {startups}")


@control("BL-SSH-04")
def ssh_idle_sessions_end(ctx):
    settings = ctx.sshd_effective()
    interval = int(settings.get("clientaliveinterval", "0"))
    count = int(settings.get("clientalivecountmax", "0"))
    ctx.expect(interval > 0 and count > 0 and interval * count <= 900,
               "idle sessions end within 15 minutes (ClientAliveInterval x CountMax <= 900 s)",
               f"clientaliveinterval {interval}, clientalivecountmax {count}")


@control("BL-SSH-05")
def ssh_modern_algorithms(ctx):
    settings = ctx.sshd_effective()
    ciphers = set(settings.get("ciphers", "").split(","))
    kex = set(settings.get("kexalgorithms", "").split(","))
    macs = [mac for mac in settings.get("macs", "").split(",") if mac]
    ctx.expect(ciphers <= MODERN_CIPHERS, "only modern ciphers",
               f"ciphers {settings.get('ciphers')}")
    ctx.expect(kex <= MODERN_KEX, "only modern key exchanges",
               f"kexalgorithms {settings.get('kexalgorithms')}")
    ctx.expect(bool(macs) and all(mac.endswith("-etm@openssh.com") for mac in macs),
               "only encrypt-then-MAC MACs", f"macs {settings.get('macs')}")


@control("BL-SSH-06")
def ssh_admin_group_only(ctx):
    groups = list(ctx.params.get("ssh_allow_groups") or ["teletreball-admins"])
    value = ctx.sshd_effective().get("allowgroups", "")
    ctx.expect(sorted(value.split()) == sorted(groups),
               f"only the groups {' '.join(groups)} may log in", f"allowgroups {value}")
