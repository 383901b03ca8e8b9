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
for package in core testing connector-benevity connector-goodera connector-workday connector-kintell; do
  (cd "$root/packages/$package" && pnpm pack --pack-destination "$work/tgz" >/dev/null)
done
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error ./tgz/*.tgz
cp "$root/scripts/smoke-published.mjs" "$root/scripts/smoke-published.cjs" .
node smoke-published.mjs
node smoke-published.cjs
# Kintell has no deliver: import one tiny CSV through the published ESM and CJS entry points.
node --input-type=module <<'ESM'
import { importKintellCsv, kintell } from '@impact-in/connector-kintell';
const csv = 'session_id,program,scheduled_at,completed_at,duration_minutes,status,participant_email,volunteer_email\nks-1,MFU,2025-03-04 10:00,2025-03-04 10:45,45,completed,ana@example.org,vol@acme.example\n';
const items = [];
async function* source() {
  yield new TextEncoder().encode(csv);
}
for await (const item of importKintellCsv(source(), { identityFallback: 'email' })) items.push(item);
if (kintell.id !== 'kintell' || items.length !== 1 || !items[0].ok || items[0].record.event?.value !== 0.75)
  throw new Error(`kintell ESM import failed: ${JSON.stringify(items)}`);
console.log('kintell: imported 1 session (ESM)');
ESM
node <<'CJS'
const { importKintellCsv, kintell } = require('@impact-in/connector-kintell');
const csv = 'session_id,program,scheduled_at,status,participant_email,volunteer_email\nks-2,LC,2025-03-04 10:00,scheduled,ana@example.org,vol@acme.example\n';
(async () => {
  const items = [];
  const { Readable } = require('node:stream');
  for await (const item of importKintellCsv(Readable.from([Buffer.from(csv)]))) items.push(item);
  if (kintell.id !== 'kintell' || items.length !== 1 || items[0].record?.sourceId !== 'ks-2')
    throw new Error(`kintell CJS import failed: ${JSON.stringify(items)}`);
  console.log('kintell: imported 1 session (CJS)');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
CJS
