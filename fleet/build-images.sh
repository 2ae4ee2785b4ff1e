#!/usr/bin/env bash
# Builds the images of rollbook's test fleet locally, without a registry:
#   rollbook/fleet-sshd:bookworm     debootstrap'd Debian with sshd as PID 1
#   rollbook/fleet-systemd:bookworm  the same with systemd as PID 1
# An image is built only when it is missing or was built from other fleet files
# (each image carries a label with a digest of them); --force rebuilds both.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ROLLBOOK_TAG=build-images

FLEET_DIR="$ROLLBOOK_ROOT/fleet"
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
CACHE_DIR="$ROLLBOOK_STATE/cache/debootstrap"
WORK_DIR="$ROLLBOOK_STATE/build"
SSHD_PACKAGES=openssh-server,iproute2,iputils-ping,ca-certificates,curl,gnupg,python3,sudo,procps,less,lsb-release,netbase,kmod,iptables
IMAGE_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
REV_LABEL=rollbook.fleet-rev

usage() {
  echo "usage: fleet/build-images.sh [--force]"
  echo "  --force  rebuild both images even when they are up to date"
}

# Digest of everything that goes into the images; a change means a rebuild.
fleet_rev() {
  {
    echo "$SUITE $MIRROR $SSHD_PACKAGES"
    cat "$FLEET_DIR"/{entrypoint,fleet-audit,fleet-rekey,sshd_config,apt-clean.conf,systemd.Dockerfile}
  } | sha256sum | cut -c 1-16
}

image_rev() {
  docker image inspect --format "{{ index .Config.Labels \"$REV_LABEL\" }}" "$1" 2>/dev/null
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# Drops the image a rebuild untagged, unless containers still use it.
remove_replaced() {
  local old=$1 image=$2
  [[ -n $old && $old != "$(image_id "$image")" ]] || return 0
  docker image rm "$old" >/dev/null 2>&1 || say "previous $image ($old) is still in use; kept"
}

# True when the image must be built; says why.
needs_build() {
  local image=$1 rev
  if [[ $FORCE == 1 ]]; then
    say "$image: rebuilding (--force)"
  elif ! rev=$(image_rev "$image"); then
    say "$image: missing, building"
  elif [[ $rev != "$REV" ]]; then
    say "$image: built from other fleet files ($rev), rebuilding"
  else
    return 1
  fi
}

# Unmounts whatever a failed debootstrap left mounted, then removes the tree.
remove_rootfs() {
  local rootfs=$1
  [[ -d $rootfs ]] || return 0
  awk -v root="$rootfs" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while IFS= read -r mnt; do umount -l "$mnt" || true; done
  rm -rf --one-file-system "$rootfs"
}

bootstrap() {
  local rootfs=$1 log="$WORK_DIR/debootstrap.log"
  say "debootstrap $SUITE (minbase + ${SSHD_PACKAGES//,/ }); log: .rollbook/build/debootstrap.log"
  if ! debootstrap --variant=minbase --cache-dir="$CACHE_DIR" --include="$SSHD_PACKAGES" \
    "$SUITE" "$rootfs" "$MIRROR" >"$log" 2>&1; then
    die "debootstrap failed: $(tail -n 3 "$log" | tr '\n' ' ')"
  fi
}

write_apt_sources() {
  cat >"$1/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR}-security $SUITE-security main
EOF
}

# Turns the debootstrap tree into a fleet host: rollbook's files in, and out
# everything that must differ per container or only wastes space.
customize_rootfs() {
  local rootfs=$1
  install -m 755 "$FLEET_DIR/entrypoint" "$rootfs/usr/local/sbin/fleet-entrypoint"
  install -m 755 "$FLEET_DIR/fleet-audit" "$FLEET_DIR/fleet-rekey" "$rootfs/usr/local/sbin/"
  install -m 644 "$FLEET_DIR/sshd_config" "$rootfs/etc/ssh/sshd_config.d/rollbook.conf"
  install -m 644 "$FLEET_DIR/apt-clean.conf" "$rootfs/etc/apt/apt.conf.d/docker-clean"
  install -m 600 /dev/null "$rootfs/var/log/rollbook-audit.log"
  write_apt_sources "$rootfs"

  rm -f "$rootfs"/etc/ssh/ssh_host_*
  rm -f "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/* "$rootfs"/root/.cache
  : >"$rootfs/etc/machine-id"
  find "$rootfs/var/log" -type f ! -name rollbook-audit.log -exec truncate -s 0 {} +
}

build_sshd_image() {
  local rootfs start
  start=$(now_ms)
  mkdir -p "$CACHE_DIR" "$WORK_DIR"
  rootfs=$(mktemp -d "$WORK_DIR/rootfs.XXXXXX")
  trap 'remove_rootfs "'"$rootfs"'"' EXIT

  bootstrap "$rootfs"
  customize_rootfs "$rootfs"
  say "docker import $FLEET_SSHD_IMAGE"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/sbin/fleet-entrypoint"]' --change "$IMAGE_ENV" \
    --change "LABEL $REV_LABEL=$REV" - "$FLEET_SSHD_IMAGE" >/dev/null

  remove_rootfs "$rootfs"
  trap - EXIT
  say "$FLEET_SSHD_IMAGE built, $(took "$start")"
}

build_systemd_image() {
  local start log="$WORK_DIR/systemd-build.log"
  start=$(now_ms)
  mkdir -p "$WORK_DIR"
  say "docker build $FLEET_SYSTEMD_IMAGE; log: .rollbook/build/systemd-build.log"
  # No build context: the Dockerfile needs none. The legacy builder works with
  # both the 20.10 daemon and newer clients that lack buildx.
  if ! DOCKER_BUILDKIT=0 docker build --label "$REV_LABEL=$REV" -t "$FLEET_SYSTEMD_IMAGE" \
    - <"$FLEET_DIR/systemd.Dockerfile" >"$log" 2>&1; then
    die "docker build of $FLEET_SYSTEMD_IMAGE failed: $(tail -n 3 "$log" | tr '\n' ' ')"
  fi
  say "$FLEET_SYSTEMD_IMAGE built, $(took "$start")"
}

main() {
  FORCE=0
  case ${1:-} in
    '') ;;
    --force) FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  docker_ready || die "docker daemon not reachable; run: scripts/setup"
  REV=$(fleet_rev)

  local rebuilt=0 old_sshd old_systemd
  old_sshd=$(image_id "$FLEET_SSHD_IMAGE")
  old_systemd=$(image_id "$FLEET_SYSTEMD_IMAGE")
  if needs_build "$FLEET_SSHD_IMAGE"; then
    [[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run: sudo fleet/build-images.sh"
    have debootstrap || die "debootstrap is not installed; run: scripts/setup"
    build_sshd_image
    rebuilt=1
  fi
  # The systemd image is layered on the sshd one, so it follows any sshd rebuild.
  if [[ $rebuilt == 1 ]] || needs_build "$FLEET_SYSTEMD_IMAGE"; then
    build_systemd_image
  fi
  remove_replaced "$old_systemd" "$FLEET_SYSTEMD_IMAGE"
  remove_replaced "$old_sshd" "$FLEET_SSHD_IMAGE"
  say "images up to date ($FLEET_SSHD_IMAGE, $FLEET_SYSTEMD_IMAGE; rev $REV)"
}

main "$@"
