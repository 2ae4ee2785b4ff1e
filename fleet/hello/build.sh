#!/usr/bin/env bash
# Builds rollbook/hello:1, the image chapter 2 runs to prove that a host's Docker
# works, without any registry: Debian's static busybox in an otherwise empty
# root, `docker import`ed, then `docker save`d to .rollbook/images/hello-1.tar
# for copying onto hosts. hello-1.json beside it records the image id and the
# tar's sha256. Skipped when image, tar and record agree; --force rebuilds.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
ROLLBOOK_TAG=hello-build
# The same state directory as src/paths.ts, which honours ROLLBOOK_STATE_DIR.
ROLLBOOK_STATE=${ROLLBOOK_STATE_DIR:-$ROLLBOOK_STATE}

HELLO_IMAGE=rollbook/hello:1
HELLO_OUTPUT='hello from rollbook'
IMAGES_DIR="$ROLLBOOK_STATE/images"
TAR_FILE="$IMAGES_DIR/hello-1.tar"
META_FILE="$IMAGES_DIR/hello-1.json"
DEB_CACHE="$ROLLBOOK_STATE/cache/hello"
WORK_DIR="$ROLLBOOK_STATE/build"
REV_LABEL=rollbook.hello-rev
# Applets linked into /bin: a shell and what tests on hosts tend to need.
APPLETS=(sh echo cat ls sleep true false)

usage() {
  echo "usage: fleet/hello/build.sh [--force]"
  echo "  --force  rebuild the image and its tar even when they are up to date"
}

hello_rev() {
  { cat "${BASH_SOURCE[0]}"; echo "$(dpkg --print-architecture) ${APPLETS[*]}"; } | sha256sum | cut -c 1-16
}

image_field() { docker image inspect --format "$2" "$1" 2>/dev/null; }

up_to_date() {
  local id
  [[ -s $TAR_FILE && -s $META_FILE ]] || return 1
  [[ $(image_field "$HELLO_IMAGE" "{{ index .Config.Labels \"$REV_LABEL\" }}") == "$REV" ]] || return 1
  id=$(image_field "$HELLO_IMAGE" '{{.Id}}') || return 1
  [[ $(jq -r .imageId "$META_FILE") == "$id" ]] || return 1
  [[ $(jq -r .sha256 "$META_FILE") == "$(sha256sum "$TAR_FILE" | cut -d ' ' -f 1)" ]]
}

# The busybox-static .deb the host's apt would install, cached between builds.
fetch_busybox() {
  local deb
  mkdir -p "$DEB_CACHE"
  deb=$(find "$DEB_CACHE" -name 'busybox-static_*.deb' | sort | tail -n 1)
  if [[ -z $deb ]]; then
    (cd "$DEB_CACHE" && apt-get download -q -o APT::Sandbox::User=root busybox-static >/dev/null) ||
      die "apt-get download busybox-static failed; run: apt-get update"
    deb=$(find "$DEB_CACHE" -name 'busybox-static_*.deb' | sort | tail -n 1)
  fi
  [[ -n $deb ]] || die "no busybox-static .deb in $DEB_CACHE"
  echo "$deb"
}

make_rootfs() {
  local deb=$1 rootfs=$2 unpacked="$2.deb" applet
  dpkg-deb -x "$deb" "$unpacked"
  mkdir -p "$rootfs/bin" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  install -m 755 "$unpacked/bin/busybox" "$rootfs/bin/busybox"
  for applet in "${APPLETS[@]}"; do ln -s busybox "$rootfs/bin/$applet"; done
  rm -rf "$unpacked"
}

build() {
  local start deb rootfs id sha version
  start=$(now_ms)
  deb=$(fetch_busybox)
  version=$(dpkg-deb -f "$deb" Version)
  mkdir -p "$WORK_DIR" "$IMAGES_DIR"
  rootfs=$(mktemp -d "$WORK_DIR/hello.XXXXXX")
  trap 'rm -rf "'"$rootfs"'" "'"$rootfs"'.deb" "'"$TAR_FILE"'.tmp"' EXIT

  make_rootfs "$deb" "$rootfs"
  # Fixed owners and times make the layer the same bytes on every build.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -c . |
    docker import --change "CMD [\"/bin/echo\",\"$HELLO_OUTPUT\"]" --change 'ENV PATH=/bin' \
      --change "LABEL $REV_LABEL=$REV" - "$HELLO_IMAGE" >/dev/null
  docker save -o "$TAR_FILE.tmp" "$HELLO_IMAGE"
  mv "$TAR_FILE.tmp" "$TAR_FILE"

  id=$(image_field "$HELLO_IMAGE" '{{.Id}}')
  sha=$(sha256sum "$TAR_FILE" | cut -d ' ' -f 1)
  jq -n --arg ref "$HELLO_IMAGE" --arg imageId "$id" --arg sha256 "$sha" --arg busybox "$version" \
    --arg output "$HELLO_OUTPUT" '{ ref: $ref, imageId: $imageId, sha256: $sha256, busybox: $busybox, output: $output }' \
    >"$META_FILE"
  say "$HELLO_IMAGE built from busybox-static $version, $(stat -c %s "$TAR_FILE") bytes, $(took "$start")"
}

main() {
  local force=0
  case ${1:-} in
    '') ;;
    --force) force=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  docker_ready || die "docker daemon not reachable; run: scripts/setup"
  have jq || die "jq is not installed; run: apt-get install jq"
  REV=$(hello_rev)

  mkdir -p "$ROLLBOOK_STATE"
  exec {lock_fd}>"$ROLLBOOK_STATE/hello.lock"
  flock -w 300 "$lock_fd" || die "another hello build holds $ROLLBOOK_STATE/hello.lock"
  if [[ $force == 0 ]] && up_to_date; then
    say "$HELLO_IMAGE up to date ($TAR_FILE)"
    return 0
  fi
  build
}

main "$@"
