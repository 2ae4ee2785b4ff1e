#!/usr/bin/env bash
# Builds the fleet's offline apt mirror under .rollbook/mirror/: a signed apt
# repository with docker.io and everything `apt-get install docker.io` pulls onto
# a host of the fleet images (Recommends included), plus the extra packages in
# fleet/mirror/mirror.conf, at the versions Debian serves at build time.
#
#   dists/SUITE/{InRelease,Release,Release.gpg}   signed with a key made per build
#   dists/SUITE/main/binary-ARCH/Packages{,.gz}
#   pool/main/...
#   key/mirror.gpg, key/mirror.asc                the public key (binary, armored)
#   key/private/mirror-secret.asc                 the private key, never served
#   manifest.json                                 packages, versions, fingerprint
#
# The closure is what apt plans on a throw-away container of each fleet image, so
# it is relative to what a fleet host already has. The build is skipped when the
# mirror was made from the same images, script and config; --force rebuilds. The
# tree a build replaces stays, without its private key, as .rollbook/mirror.previous.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
ROLLBOOK_TAG=mirror-build
# The same state directory as src/paths.ts, which honours ROLLBOOK_STATE_DIR.
ROLLBOOK_STATE=${ROLLBOOK_STATE_DIR:-$ROLLBOOK_STATE}

MIRROR_SRC="$ROLLBOOK_ROOT/fleet/mirror"
# shellcheck source=fleet/mirror/mirror.conf
source "$MIRROR_SRC/mirror.conf"

MIRROR_DIR="$ROLLBOOK_STATE/mirror"
MIRROR_PREVIOUS="$ROLLBOOK_STATE/mirror.previous"
DEB_CACHE="$ROLLBOOK_STATE/cache/mirror-debs"
WORK_DIR="$ROLLBOOK_STATE/build"
LOCK_FILE="$ROLLBOOK_STATE/mirror.lock"
MANIFEST_SCHEMA=1
# Host commands the build needs, and the Debian package that has each.
TOOLS=(apt-ftparchive:apt-utils jq:jq gpg:gnupg gpgv:gpgv dpkg-deb:dpkg)
# Package names, versions and architectures end up in JSON and file paths: only these characters.
SAFE_FIELD='^[A-Za-z0-9][A-Za-z0-9.+~:_-]*$'

usage() {
  echo "usage: fleet/mirror/build.sh [--force]"
  echo "  --force  rebuild the mirror (and its key) even when it is up to date"
}

install_tools() {
  local entry missing=()
  for entry in "${TOOLS[@]}"; do
    have "${entry%%:*}" || missing+=("${entry#*:}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; run: sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  # The package lists may be absent or stale; one refresh, then a second try.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "could not install ${missing[*]}; run: apt-get update && apt-get install ${missing[*]}"
}

image_id() { docker image inspect --format '{{.Id}}' "$1"; }

# The fleet images that hosts are made from; main checks that the sshd one exists.
fleet_images() {
  echo "$FLEET_SSHD_IMAGE"
  if image_exists "$FLEET_SYSTEMD_IMAGE"; then echo "$FLEET_SYSTEMD_IMAGE"; fi
}

# Digest of everything the mirror is made from; a change means a rebuild.
build_rev() {
  local image
  {
    echo "$ARCH $MANIFEST_SCHEMA"
    cat "$MIRROR_SRC/build.sh" "$MIRROR_SRC/resolve.sh" "$MIRROR_SRC/mirror.conf"
    for image in "${IMAGES[@]}"; do echo "$image $(image_id "$image")"; done
  } | sha256sum | cut -c 1-16
}

# True when the mirror on disk is complete, verifies and came from this rev.
up_to_date() {
  local manifest="$MIRROR_DIR/manifest.json" file
  [[ -s $manifest ]] || return 1
  [[ $(jq -r '.buildRev // empty' "$manifest") == "$REV" ]] || return 1
  gpgv --keyring "$MIRROR_DIR/key/mirror.gpg" "$MIRROR_DIR/dists/$MIRROR_SUITE/InRelease" >/dev/null 2>&1 ||
    return 1
  while IFS= read -r file; do
    [[ -f $MIRROR_DIR/$file ]] || return 1
  done < <(jq -r '.packages[].filename' "$manifest")
}

# Runs resolve.sh in a throw-away container of $1; apt's plans land in $2.
resolve_on() {
  local image=$1 plan_dir=$2 name="rollbook-mirror-resolve-$$"
  mkdir -p "$plan_dir" "$DEB_CACHE"
  say "resolving on $image (apt-get update + --download-only on Docker's default network)"
  docker run --rm --name "$name" --label rollbook.mirror=build --network bridge \
    --entrypoint /bin/bash \
    -v "$MIRROR_SRC/resolve.sh:/usr/local/bin/rollbook-resolve:ro" \
    -v "$DEB_CACHE:/archives" -v "$plan_dir:/plan" \
    "$image" /usr/local/bin/rollbook-resolve "${MIRROR_INSTALLS[@]}" >/dev/null ||
    die "resolving packages on $image failed (see above); retry: fleet/mirror/build.sh --force"
}

# `Inst NAME [OLD] (VERSION ORIGINS [ARCH])` lines of a simulated install, as
# NAME<TAB>VERSION<TAB>ARCH. An upgrade of an installed package counts too.
parse_plan() {
  sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*\[([^]]+)\]\).*$/\1\t\3\t\4/p' "$1"
}

# closures.tsv: IMAGE, IMAGE_ID, INSTALL, NAME, VERSION, ARCH per planned package.
collect_plans() {
  local plans=$1 out=$2 i n image id line
  : >"$out"
  for i in "${!IMAGES[@]}"; do
    image=${IMAGES[$i]}
    id=$(image_id "$image")
    for n in "${!MIRROR_INSTALLS[@]}"; do
      while IFS= read -r line; do
        printf '%s\t%s\t%s\t%s\n' "$image" "$id" "${MIRROR_INSTALLS[$n]}" "$line"
      done < <(parse_plan "$plans/$i/install-$n.txt")
    done
  done >>"$out"
  [[ -s $out ]] || die "apt planned no packages at all; see $plans/*/install-*.txt"
}

# Warns when `--no-install-recommends X` would install something `X` would not,
# which would mean the two plans disagree about more than Recommends.
check_subsets() {
  local closures=$1 install full extra
  for install in "${MIRROR_INSTALLS[@]}"; do
    [[ $install == --no-install-recommends\ * ]] || continue
    full=${install#--no-install-recommends }
    extra=$(comm -23 \
      <(awk -F'\t' -v s="$install" '$3 == s { print $1, $4 }' "$closures" | sort -u) \
      <(awk -F'\t' -v s="$full" '$3 == s { print $1, $4 }' "$closures" | sort -u))
    if [[ -n $extra ]]; then
      warn "'$install' installs what '$full' does not: $(echo "$extra" | tr '\n' ' ')"
    fi
  done
}

# Debian's pool layout: pool/main/<prefix>/<source package>/, lib* prefixed by 4 letters.
pool_dir() {
  local source=$1 prefix=${1:0:1}
  [[ $source == lib?* ]] && prefix=${source:0:4}
  echo "pool/$MIRROR_COMPONENT/$prefix/$source"
}

# Links each planned .deb from the cache into the pool; packages.tsv lists them.
make_pool() {
  local stage=$1 closures=$2 out=$3 name version arch field cached source dir file
  : >"$out"
  while IFS=$'\t' read -r name version arch; do
    for field in "$name" "$version" "$arch"; do
      [[ $field =~ $SAFE_FIELD ]] || die "unexpected package field '$field' in apt's plan"
    done
    # apt names cached files NAME_VERSION_ARCH.deb with the epoch's ':' escaped.
    cached="$DEB_CACHE/${name}_${version//:/%3a}_${arch}.deb"
    [[ -f $cached ]] || die "apt planned $name $version but did not download $cached"
    source=$(dpkg-deb -f "$cached" Source)
    source=${source%% *}
    dir=$(pool_dir "${source:-$name}")
    file="$dir/${name}_${version#*:}_${arch}.deb"
    mkdir -p "$stage/$dir"
    ln -f "$cached" "$stage/$file" 2>/dev/null || cp "$cached" "$stage/$file"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$version" "$arch" "$file" \
      "$(stat -c %s "$cached")" "$(sha256sum "$cached" | cut -d ' ' -f 1)" >>"$out"
  done < <(cut -f 4- "$closures" | sort -u)
}

write_indexes() {
  local stage=$1 suite_dir="dists/$MIRROR_SUITE"
  local binary_dir="$suite_dir/$MIRROR_COMPONENT/binary-$ARCH"
  mkdir -p "$stage/$binary_dir"
  (cd "$stage" && apt-ftparchive packages "pool/$MIRROR_COMPONENT") >"$stage/$binary_dir/Packages"
  gzip -9 -n -k "$stage/$binary_dir/Packages"
  # Written beside, then moved in, so Release does not hash itself.
  (cd "$stage/$suite_dir" && apt-ftparchive \
    -o "APT::FTPArchive::Release::Origin=$MIRROR_ORIGIN" \
    -o "APT::FTPArchive::Release::Label=$MIRROR_LABEL" \
    -o "APT::FTPArchive::Release::Suite=$MIRROR_SUITE" \
    -o "APT::FTPArchive::Release::Codename=$MIRROR_SUITE" \
    -o "APT::FTPArchive::Release::Architectures=$ARCH" \
    -o "APT::FTPArchive::Release::Components=$MIRROR_COMPONENT" \
    -o "APT::FTPArchive::Release::Description=$MIRROR_LABEL, built by fleet/mirror/build.sh" \
    release .) >"$stage/Release.tmp"
  mv "$stage/Release.tmp" "$stage/$suite_dir/Release"
}

# A fresh signing key in a temporary GNUPGHOME; sets FINGERPRINT.
make_key() {
  local stage=$1
  mkdir -p "$stage/key/private"
  chmod 700 "$stage/key/private"
  GNUPGHOME=$(mktemp -d -t rollbook-gnupg.XXXXXX)
  export GNUPGHOME
  gpg --batch --quiet --gen-key 2>/dev/null <<EOF
%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Key-Usage: sign
Name-Real: $MIRROR_LABEL
Name-Comment: made by fleet/mirror/build.sh for one build
Name-Email: mirror@rollbook.invalid
Expire-Date: 0
%commit
EOF
  FINGERPRINT=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
  [[ $FINGERPRINT =~ ^[0-9A-F]{40}$ ]] || die "gpg made no usable key (fingerprint '$FINGERPRINT')"
  gpg --batch --export "$FINGERPRINT" >"$stage/key/mirror.gpg"
  gpg --batch --armor --export "$FINGERPRINT" >"$stage/key/mirror.asc"
  (umask 077 && gpg --batch --armor --export-secret-keys "$FINGERPRINT" >"$stage/key/private/mirror-secret.asc")
}

sign_release() {
  local suite_dir="$1/dists/$MIRROR_SUITE"
  local sign=(gpg --batch --yes --quiet --local-user "$FINGERPRINT" --digest-algo SHA512)
  "${sign[@]}" --clearsign --output "$suite_dir/InRelease" "$suite_dir/Release"
  "${sign[@]}" --armor --detach-sign --output "$suite_dir/Release.gpg" "$suite_dir/Release"
  gpgv --keyring "$1/key/mirror.gpg" "$suite_dir/InRelease" >/dev/null 2>&1 ||
    die "InRelease does not verify with the key just made"
  gpgv --keyring "$1/key/mirror.gpg" "$suite_dir/Release.gpg" "$suite_dir/Release" >/dev/null 2>&1 ||
    die "Release.gpg does not verify with the key just made"
}

drop_gnupg_home() {
  [[ -n ${GNUPGHOME:-} && -d $GNUPGHOME ]] || return 0
  gpgconf --kill gpg-agent 2>/dev/null || true
  rm -rf "$GNUPGHOME"
  unset GNUPGHOME
}

write_manifest() {
  local stage=$1 plans=$2 closures=$3 packages=$4
  jq -n \
    --argjson schema "$MANIFEST_SCHEMA" --arg rev "$REV" --arg builtAt "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg suite "$MIRROR_SUITE" --arg component "$MIRROR_COMPONENT" --arg arch "$ARCH" \
    --arg origin "$MIRROR_ORIGIN" --arg mirrorLabel "$MIRROR_LABEL" --arg fingerprint "$FINGERPRINT" \
    --rawfile closures "$closures" --rawfile packages "$packages" \
    --rawfile upstream <(sort -u "$plans"/*/upstream.tsv) '
    def rows($text): $text | split("\n") | map(select(length > 0) | split("\t"));
    {
      schema: $schema, buildRev: $rev, builtAt: $builtAt,
      suite: $suite, components: [$component], architecture: $arch,
      origin: $origin, label: $mirrorLabel, fingerprint: $fingerprint,
      keyFiles: { binary: "key/mirror.gpg", armored: "key/mirror.asc" },
      upstream: [rows($upstream)[] | { suite: .[0], date: .[1] }],
      closures: [rows($closures) | group_by([.[0], .[2]])[]
        | { image: .[0][0], imageId: .[0][1], install: .[0][2],
            packages: map({ name: .[3], version: .[4] }) }],
      packages: [rows($packages)[]
        | { name: .[0], version: .[1], architecture: .[2], filename: .[3],
            size: (.[4] | tonumber), sha256: .[5] }]
    }' >"$stage/manifest.json"
}

# Replaces the tree in two renames, so a reader sees the old or the new one. The
# old tree stays as mirror.previous: a mirror container bind-mounts its
# directories, so one started before this build keeps serving the build (and key)
# its hosts trust until startMirror replaces it. The build before that goes.
install_stage() {
  local stage=$1
  rm -rf "$MIRROR_PREVIOUS"
  if [[ -e $MIRROR_DIR ]]; then
    mv "$MIRROR_DIR" "$MIRROR_PREVIOUS"
    rm -rf "$MIRROR_PREVIOUS/key/private"
  fi
  mv "$stage" "$MIRROR_DIR"
}

# Drops cached .debs that the new mirror does not hold, so the cache stays one mirror's size.
prune_cache() {
  local keep=$1 deb
  for deb in "$DEB_CACHE"/*.deb; do
    [[ -e $deb ]] || continue
    grep -qxF "$(basename "$deb")" "$keep" || rm -f "$deb"
  done
}

cleanup() {
  drop_gnupg_home
  [[ -n ${STAGE:-} ]] && rm -rf "$STAGE"
  [[ -n ${PLANS:-} ]] && rm -rf "$PLANS"
  docker rm -f "rollbook-mirror-resolve-$$" >/dev/null 2>&1 || true
}

build() {
  local start closures packages n
  start=$(now_ms)
  mkdir -p "$WORK_DIR"
  STAGE=$(mktemp -d "$WORK_DIR/mirror.XXXXXX")
  PLANS=$(mktemp -d "$WORK_DIR/mirror-plans.XXXXXX")
  trap cleanup EXIT
  chmod 755 "$STAGE"

  for n in "${!IMAGES[@]}"; do resolve_on "${IMAGES[$n]}" "$PLANS/$n"; done
  closures="$PLANS/closures.tsv"
  packages="$PLANS/packages.tsv"
  collect_plans "$PLANS" "$closures"
  check_subsets "$closures"
  make_pool "$STAGE" "$closures" "$packages"
  write_indexes "$STAGE"

  make_key "$STAGE"
  sign_release "$STAGE"
  drop_gnupg_home
  write_manifest "$STAGE" "$PLANS" "$closures" "$packages"

  install_stage "$STAGE"
  STAGE=
  awk -F'\t' '{ v = $2; gsub(":", "%3a", v); print $1 "_" v "_" $3 ".deb" }' "$packages" >"$PLANS/keep"
  prune_cache "$PLANS/keep"
  say "mirror built: $(wc -l <"$packages") packages, $(du -sh "$MIRROR_DIR/pool" | cut -f 1)," \
    "key $FINGERPRINT, $(took "$start")"
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
  image_exists "$FLEET_SSHD_IMAGE" || die "$FLEET_SSHD_IMAGE is missing; run: fleet/build-images.sh"
  install_tools
  ARCH=$(dpkg --print-architecture)
  mapfile -t IMAGES < <(fleet_images)

  mkdir -p "$ROLLBOOK_STATE"
  # One build at a time; a second caller waits, then usually finds it up to date.
  exec {lock_fd}>"$LOCK_FILE"
  flock -w 900 "$lock_fd" || die "another mirror build holds $LOCK_FILE"

  REV=$(build_rev)
  if [[ $force == 0 ]] && up_to_date; then
    say "mirror up to date (rev $REV, $(jq -r '.packages | length' "$MIRROR_DIR/manifest.json") packages)"
    return 0
  fi
  say "building the mirror for $ARCH from ${IMAGES[*]} (rev $REV)"
  build
}

# Sourcing the script (as the unit tests do) defines the functions and runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
