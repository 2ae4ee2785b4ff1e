#!/usr/bin/env bash
# Runs inside a throw-away fleet host container on Docker's default network:
# refreshes apt from Debian, then for each argument (one `apt-get install`
# argument list) records apt's plan in /plan/install-N.txt and downloads the
# packages it would install into /archives, the build's .deb cache.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
# The cache is a bind mount that the _apt user may not be able to write.
APT_OPTS=(-o APT::Sandbox::User=root -o Dir::Cache::Archives=/archives -o Acquire::http::Timeout=30)

if ! apt-get update "${APT_OPTS[@]}" >/plan/update.log 2>&1; then
  tail -n 5 /plan/update.log >&2
  exit 1
fi

# Which Debian index generation the plans were made from, for the manifest.
for release in /var/lib/apt/lists/*_InRelease; do
  suite=$(sed -n 's/^Suite: //p' "$release" | head -n 1)
  date=$(sed -n 's/^Date: //p' "$release" | head -n 1)
  printf '%s\t%s\n' "$suite" "$date"
done >/plan/upstream.tsv

n=0
for install in "$@"; do
  # shellcheck disable=SC2086 # one entry holds several apt-get arguments
  apt-get install --simulate "${APT_OPTS[@]}" $install >"/plan/install-$n.txt"
  # shellcheck disable=SC2086
  if ! apt-get install --download-only -y "${APT_OPTS[@]}" $install >"/plan/download-$n.log" 2>&1; then
    echo "apt-get install --download-only $install failed:" >&2
    tail -n 5 "/plan/download-$n.log" >&2
    exit 1
  fi
  n=$((n + 1))
done
