# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the password memo: which stored credentials of a host are known to
match the current passwords, so that a run does not check them again.

Checking a password against what a host stores (a yescrypt hash in /etc/shadow, SCRAM
keys in Prosody) is slow by design. The controller keeps, per host and service, a memo
in the credentials folder (written by the module teletreball_credential_memo):

    {"version": 1, "scope": "desktop",
     "accounts": {"<id>": {"password": <tag>, "credential": <digest>}}}

- ``<id>`` is the username, or ``username@host`` for accounts that have a host;
- ``credential`` is what the host's module returned in ``verified``: the SHA-256 of
  the stored credential that was found (or made) to match the password, a digest of
  a slow hash, never the hash itself;
- ``password`` is HMAC-SHA256 of the password under the key ``credential-memo-key``
  of the credentials folder (or of the vault), so that a changed password no longer
  matches its entry, and the memo alone is no fast hash of any password.

teletreball_memo_known gives the module, for each account whose memo entry belongs to
the current password, ``verified_credential``; teletreball_memo_text makes the memo
of the next run from the module's ``verified``. Without a key both leave the memo out.
These filters run on the controller: no module run on the host.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

MEMO_VERSION = 1
DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _identity(account):
    host = account.get("host")
    return f"{account['username']}@{host}" if host else account["username"]


def _password_tag(key, scope, identity, password):
    message = "\0".join((scope, identity, password)).encode("utf-8")
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _entries(memo, scope):
    """The memo's accounts, or {} for anything that is not a memo of ``scope``."""
    if isinstance(memo, str):
        try:
            memo = json.loads(memo) if memo.strip() else {}
        except ValueError:
            return {}
    if not isinstance(memo, dict) or memo.get("version") != MEMO_VERSION or (
            memo.get("scope") != scope):
        return {}
    accounts = memo.get("accounts")
    if not isinstance(accounts, dict):
        return {}
    return {
        name: entry for name, entry in accounts.items()
        if isinstance(entry, dict) and isinstance(entry.get("password"), str)
        and isinstance(entry.get("credential"), str) and DIGEST.match(entry["credential"])
    }


def memo_known(accounts, memo, key, scope):
    """``accounts`` (dicts with username, password, maybe host), each with
    ``verified_credential`` added when ``memo`` remembers the current password.

    ``memo``: the memo file's text ('' or None when there is none yet) or its content;
    ``key``: the HMAC key ('' turns the memo off); ``scope``: the service, such as
    ``desktop`` or ``chat``. Entries of another password, version or scope are left out.
    """
    out = []
    entries = _entries(memo, scope) if key else {}
    for account in accounts or []:
        item = {k: v for k, v in account.items() if k != "verified_credential"}
        identity = _identity(account)
        entry = entries.get(identity)
        if entry and hmac.compare_digest(
                entry["password"], _password_tag(key, scope, identity, account["password"])):
            item["verified_credential"] = entry["credential"]
        out.append(item)
    return out


def memo_text(accounts, verified, key, scope):
    """The memo (text, sorted, stable) of the listed ``accounts`` found in ``verified``
    (identity to digest, the module's return value); '' without a key."""
    if not key:
        return ""
    entries = {}
    for account in accounts or []:
        identity = _identity(account)
        credential = (verified or {}).get(identity)
        if isinstance(credential, str) and DIGEST.match(credential):
            entries[identity] = {
                "password": _password_tag(key, scope, identity, account["password"]),
                "credential": credential,
            }
    return json.dumps({"version": MEMO_VERSION, "scope": scope, "accounts": entries},
                      indent=1, sort_keys=True)


class FilterModule:
    def filters(self):
        return {
            "teletreball_memo_known": memo_known,
            "teletreball_memo_text": memo_text,
        }
