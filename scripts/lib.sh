# Helpers shared by rollbook's bash scripts. Source it; it does nothing on its own.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this

ROLLBOOK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROLLBOOK_STATE="${ROLLBOOK_STATE_DIR:-$ROLLBOOK_ROOT/.rollbook}"
ROLLBOOK_TAG=${ROLLBOOK_TAG:-$(basename "$0")}

# Images that every test fleet starts from; src/fleet/ uses the same names.
FLEET_SSHD_IMAGE=rollbook/fleet-sshd:bookworm
FLEET_SYSTEMD_IMAGE=rollbook/fleet-systemd:bookworm

say() { printf '%s: %s\n' "$ROLLBOOK_TAG" "$*"; }
warn() { printf '%s: warning: %s\n' "$ROLLBOOK_TAG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$ROLLBOOK_TAG" "$*" >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# Milliseconds since the epoch, for step timings.
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

# Prints "took 12.3 s" for a start time taken with now_ms.
took() {
  local ms=$(( $(now_ms) - $1 ))
  printf 'took %d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

docker_ready() { docker info >/dev/null 2>&1; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
