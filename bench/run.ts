// `pnpm bench`: runs every benchmark; each prints one JSON line per result.
// `pnpm bench dispatch` runs only the named ones.
import { benchCsvImport } from './csv-import.js';
import { benchDispatch } from './dispatch.js';
import { benchHostE2e } from './host-e2e.js';
import { benchWebhookIntake } from './webhook-intake.js';

const benches: Record<string, () => Promise<void>> = {
  dispatch: benchDispatch,
  host_e2e: benchHostE2e,
  webhook_intake: benchWebhookIntake,
  csv_import: benchCsvImport,
};

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
for (const name of wanted) {
  if (!benches[name]) {
    console.error(`unknown benchmark "${name}" (known: ${Object.keys(benches).join(', ')})`);
    process.exit(2);
  }
}
for (const [name, run] of Object.entries(benches)) {
  if (wanted.length === 0 || wanted.includes(name)) await run();
}
