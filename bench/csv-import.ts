// `csv_import`: a Kintell sessions export of 1 000 000 rows (and 100 000, to show memory does not
// grow with the file) streamed as the body of POST /v1/import/sessions to `impact-in serve` on real
// PostgreSQL: parsed, validated, people resolved against the identity directory, upserted in
// batches, the upload kept on disk. Baselines from the same run and the same file: csv-parse
// alone (rows/s), and `psql \copy` of the file into an equivalent table. A third line gives the
// storage floor: `psql \copy` of the rows the import stored into an empty table like theirs.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { cli, printResult, scratchDatabase, startServe } from './util.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SIZES = (process.env.BENCH_CSV_ROWS ?? '1000000,100000').split(',').map(Number);
/** Volunteers in the identity directory (rows name 1 200, so some stay unmatched), and learners. */
const DIRECTORY_VOLUNTEERS = 1_000;
const DIRECTORY_LEARNERS = 50_000;

const HEADER =
  'session_id,program,scheduled_at,completed_at,duration_minutes,status,participant_email,participant_name,volunteer_email,volunteer_name,volunteer_id,language,rating,company_ref';

/** Writes a sessions export of `rows` rows, with backpressure (the file is never in memory). */
async function writeExport(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write(`${HEADER}\n`);
  let chunk = '';
  for (let index = 0; index < rows; index++) {
    const day = String(1 + (index % 28)).padStart(2, '0');
    const hour = String(8 + (index % 10)).padStart(2, '0');
    const completed = index % 5 !== 0;
    const volunteer = index % 1_200;
    chunk += `KS-${String(index).padStart(8, '0')},${index % 3 === 0 ? 'mentorship' : 'language_connect'},2025-03-${day}T${hour}:00:00Z,${
      completed ? `2025-03-${day}T${hour}:45:00Z` : ''
    },${completed ? 45 : ''},${completed ? 'completed' : 'scheduled'},learner${index % 50_000}@example.org,Learner ${index % 50_000},volunteer${volunteer}@acme.example,Volunteer ${volunteer},K-${volunteer},${
      index % 2 ? 'Norwegian' : 'English'
    },${completed ? 1 + (index % 5) : ''},Acme Nordic\n`;
    if (chunk.length > 65_536) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  out.end();
  await once(out, 'finish');
}

/** csv-parse on its own, from the same file: the parsing floor of any importer built on it. */
async function csvParseRowsPerSecond(path: string): Promise<number> {
  // csv-parse is the connector's dependency, not the benchmark's: resolve it from there.
  const require = createRequire(new URL('../packages/connector-kintell/package.json', import.meta.url));
  const { parse } = require('csv-parse') as {
    parse: (options: { from_line: number }) => NodeJS.ReadWriteStream & AsyncIterable<string[]>;
  };
  const started = performance.now();
  let rows = 0;
  for await (const _record of createReadStream(path).pipe(parse({ from_line: 2 }))) rows++;
  return rows / ((performance.now() - started) / 1000);
}

/**
 * Flushes the server's dirty pages before a timed load, so that no load pays for the checkpoint of
 * the one before it (a 1 000 000-row import writes about 1 GB of WAL). Best effort: it needs a
 * superuser or `pg_checkpoint`.
 */
function checkpoint(databaseUrl: string): void {
  spawnSync('psql', [databaseUrl, '-qc', 'checkpoint'], { encoding: 'utf8' });
}

/** Runs one `psql` command (stopping at the first error) and returns its unaligned output. */
function psqlIn(databaseUrl: string, command: string): string {
  const result = spawnSync('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-Atqc', command], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql: ${result.stderr}`);
  return result.stdout.trim();
}

/** `psql \copy` of the file into a table with the export's columns and key. */
function copyRowsPerSecond(databaseUrl: string, path: string, rows: number): number {
  psqlIn(
    databaseUrl,
    `create table copy_sessions (
    session_id text primary key, program text, scheduled_at timestamptz, completed_at timestamptz,
    duration_minutes int, status text, participant_email text, participant_name text,
    volunteer_email text, volunteer_name text, volunteer_id text, language text, rating int, company_ref text)`,
  );
  checkpoint(databaseUrl);
  const started = performance.now();
  psqlIn(databaseUrl, `\\copy copy_sessions from '${path}' with (format csv, header true)`);
  return rows / ((performance.now() - started) / 1000);
}

/**
 * The storage floor: `psql \copy` of the rows the import stored (exported as `COPY` text) into an
 * empty table like `imported_records`, key included. No importer that stores these rows can beat
 * it on this server; the gap between it and the typed `\copy` is the cost of the stored row itself.
 */
function storageFloor(databaseUrl: string, path: string, rows: number) {
  const psql = (command: string) => psqlIn(databaseUrl, command);
  psql(`\\copy imported_records to '${path}'`);
  const rowBytes = Number(psql('select round(avg(pg_column_size(r.*))) from imported_records r'));
  psql('create table floor_records (like imported_records including all)');
  checkpoint(databaseUrl);
  const started = performance.now();
  psql(`\\copy floor_records from '${path}'`);
  const rowsPerSecond = rows / ((performance.now() - started) / 1000);
  rmSync(path, { force: true });
  return { rowsPerSecond, rowBytes };
}

/** Peak resident memory of a process (VmHWM), in MiB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return Math.round(kb / 1024);
}

async function importThroughHost(path: string, rows: number, dataDir: string) {
  const database = await scratchDatabase(ADMIN_URL);
  const env = {
    DATABASE_URL: database.url,
    IMPACT_IN_DATA_DIR: dataDir,
    IMPACT_IN_IMPORT_LIMIT_BYTES: String(4 * 1024 ** 3),
    // Any KINTELL_ variable configures the connector from the environment (it needs no credentials).
    KINTELL_TIMEZONE: 'UTC',
  };
  cli(['migrate'], env);
  const tenant = cli(['tenants', 'create', '--name', 'bench'], env);
  const key = cli(['keys', 'create', '--tenant', tenant, '--role', 'operator'], env);
  const host = await startServe(env);
  try {
    const users = [
      ...Array.from({ length: DIRECTORY_VOLUNTEERS }, (_, index) => ({
        userId: `emp-${index}`,
        email: `volunteer${index}@acme.example`,
        externalIds: { kintell: `K-${index}` },
      })),
      ...Array.from({ length: DIRECTORY_LEARNERS }, (_, index) => ({
        userId: `learner-${index}`,
        email: `learner${index}@example.org`,
      })),
    ];
    for (let start = 0; start < users.length; start += 1_000) {
      const loaded = await request(`${host.url}/v1/identity/users`, {
        method: 'PUT',
        body: JSON.stringify({ users: users.slice(start, start + 1_000) }),
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      });
      await loaded.body.text();
      if (loaded.statusCode !== 200) throw new Error(`identity load answered ${loaded.statusCode}`);
    }
    const idle = await peakRssMb(host.child.pid!);

    const { size } = await stat(path);
    checkpoint(database.url);
    const started = performance.now();
    const response = await request(`${host.url}/v1/import/sessions`, {
      method: 'POST',
      body: createReadStream(path, { highWaterMark: 256 * 1024 }),
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'text/csv',
        'content-length': String(size),
      },
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const report = (await response.body.json()) as {
      imported: number;
      errorCount: number;
      unmatched: number;
    };
    const seconds = (performance.now() - started) / 1000;
    if (response.statusCode !== 200 || report.imported !== rows) {
      throw new Error(`import answered ${response.statusCode}: ${JSON.stringify(report).slice(0, 500)}`);
    }
    const peak = await peakRssMb(host.child.pid!);
    const floor = storageFloor(database.url, join(dataDir, 'stored-rows.tsv'), rows);
    return {
      rowsPerSecond: rows / seconds,
      seconds,
      peak,
      idle,
      bytes: size,
      unmatched: report.unmatched,
      floor,
    };
  } finally {
    host.child.kill('SIGTERM');
    await new Promise((resolve) => host.child.once('exit', resolve));
    await database.drop();
  }
}

export async function benchCsvImport(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'impact-in-bench-csv-'));
  try {
    for (const rows of SIZES) {
      const path = join(dir, `sessions-${rows}.csv`);
      await writeExport(path, rows);
      const parseRate = await csvParseRowsPerSecond(path);
      const copyDatabase = await scratchDatabase(ADMIN_URL);
      let copyRate: number;
      try {
        copyRate = copyRowsPerSecond(copyDatabase.url, path, rows);
      } finally {
        await copyDatabase.drop();
      }
      const ours = await importThroughHost(path, rows, join(dir, `data-${rows}`));
      printResult({
        bench: 'csv_parse_baseline',
        rows,
        csv_parse_rows_per_s: Math.round(parseRate),
      });
      printResult({
        bench: 'csv_import',
        rows,
        file_mb: Math.round(ours.bytes / 1024 / 1024),
        ours_rows_per_s: Math.round(ours.rowsPerSecond),
        copy_rows_per_s: Math.round(copyRate),
        ratio: Math.round((ours.rowsPerSecond / copyRate) * 100) / 100,
        seconds: Math.round(ours.seconds * 10) / 10,
        peak_rss_mb: ours.peak,
        rss_before_import_mb: ours.idle,
        unmatched: ours.unmatched,
      });
      printResult({
        bench: 'csv_import_storage_floor',
        rows,
        stored_row_bytes: ours.floor.rowBytes,
        copy_stored_rows_per_s: Math.round(ours.floor.rowsPerSecond),
        floor_vs_copy: Math.round((ours.floor.rowsPerSecond / copyRate) * 100) / 100,
        ours_vs_floor: Math.round((ours.rowsPerSecond / ours.floor.rowsPerSecond) * 100) / 100,
      });
      await rm(path, { force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
