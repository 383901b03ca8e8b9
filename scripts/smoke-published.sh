#!/usr/bin/env bash
# Packs every library package as npm would publish it, installs the tarballs in an empty folder
# outside the workspace, and delivers an event through each connector to its simulator using only
# the published entry points (ESM and CJS). Catches what a workspace hides: a missing file, a
# wrong export, a dependency declared in the wrong place.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tgz"
for package in core testing connector-benevity connector-goodera connector-workday; do
  (cd "$root/packages/$package" && pnpm pack --pack-destination "$work/tgz" >/dev/null)
done
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error ./tgz/*.tgz
cp "$root/scripts/smoke-published.mjs" "$root/scripts/smoke-published.cjs" .
node smoke-published.mjs
node smoke-published.cjs
