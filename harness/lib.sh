# Shared shell helpers for the harness scripts. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

TT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CONTAINERS_CONF="${TT_ROOT}/harness/containers.conf"
TT_IMAGE="${TT_IMAGE:-localhost/teletreball/debian13:latest}"
TT_CACHE_DIR="${TT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/teletreball}"
TT_APT_CACHE_PORT="${TT_APT_CACHE_PORT:-3142}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# The Debian mirror this build host itself uses (never written into the repo).
host_debian_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(REPO_URI)' 2>/dev/null \
        | grep -E '/debian/?$' | sort -u | head -n 1 || true)
  [ -n "${uri}" ] || die "cannot find a Debian mirror in this host's apt sources; set TT_DEBIAN_MIRROR"
  printf '%s\n' "${uri%/}"
}

host_debian_security_mirror() {
  apt-get indextargets --format '$(REPO_URI)' 2>/dev/null \
    | grep -E '/debian-security/?$' | sort -u | head -n 1 | sed 's:/$::' || true
}
