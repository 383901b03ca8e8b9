import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { kintell } from '@impact-in/connector-kintell';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadHostEnv, objectStoreOptions } from '../src/config.js';
import { S3BlobStore } from '../src/imports/s3-blob-store.js';
import { startTestHost } from './helpers.js';

// s3rver: an S3 server over real HTTP on loopback that keeps objects on disk; the stand-in for S3
// and R2, which are out of reach. It knows one account (access key S3RVER) and refuses others,
// but it does not verify SigV4 signatures, and it does not implement AbortMultipartUpload.
const BUCKET = 'impact-in-test';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const MiB = 1024 * 1024;

let server: S3rver;
let directory: string;
let endpoint: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'impact-in-s3rver-'));
  server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server?.close();
  await rm(directory, { recursive: true, force: true });
});

const storeWith = (options: Partial<ConstructorParameters<typeof S3BlobStore>[0]> = {}) =>
  new S3BlobStore({
    bucket: BUCKET,
    endpoint,
    credentials: CREDENTIALS,
    forcePathStyle: true,
    partSize: 5 * MiB,
    ...options,
  });

/** A client of its own, to look at the bucket without going through the store. */
const inspector = () =>
  new S3Client({
    endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });

/** A client that records the name of each command it sends (the store's own, in some tests). */
function recordingClient() {
  const sent: string[] = [];
  const client = inspector();
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize' },
  );
  return { client, sent };
}

/** `bytes` in pieces of 64 KiB, as an upload arrives from a socket. */
async function* piecesOf(bytes: Buffer, failAfter?: number) {
  for (let offset = 0; offset < bytes.length; offset += 64 * 1024) {
    if (failAfter !== undefined && offset >= failAfter) throw new Error('the client went away');
    yield bytes.subarray(offset, offset + 64 * 1024);
  }
}

async function read(stream: AsyncIterable<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (!stream) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('S3BlobStore against an S3 server (s3rver)', () => {
  it('streams a 12 MiB upload as a multipart upload and reads the same bytes back', async () => {
    const { client: recording, sent } = recordingClient();
    const store = new S3BlobStore({ bucket: BUCKET, partSize: 5 * MiB }, recording);
    const client = inspector();
    try {
      const bytes = randomBytes(12 * MiB + 12_345);
      const put = await store.put('tenant-a/imports/big.csv', piecesOf(bytes), { contentType: 'text/csv' });
      expect(put).toEqual({ key: 'tenant-a/imports/big.csv', size: bytes.length });

      const head = await client.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: 'tenant-a/imports/big.csv' }),
      );
      expect(head.ContentLength).toBe(bytes.length);
      expect(head.ContentType).toBe('text/csv');
      // Three parts of 5 MiB at most: memory holds a part or two, never the file.
      expect(sent).toEqual([
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
      ]);

      const back = await read(await store.get('tenant-a/imports/big.csv'));
      expect(back?.length).toBe(bytes.length);
      expect(sha256(back!)).toBe(sha256(bytes));
    } finally {
      store.close();
      client.destroy();
    }
  });

  it('keeps a small upload whole, answers undefined for a missing key and deletes idempotently', async () => {
    const store = storeWith();
    try {
      const bytes = Buffer.from('session_id,program\ns-1,mentorship\n', 'utf8');
      expect(await store.put('tenant-a/imports/small.csv', new Uint8Array(bytes))).toEqual({
        key: 'tenant-a/imports/small.csv',
        size: bytes.length,
      });
      expect((await read(await store.get('tenant-a/imports/small.csv')))?.toString('utf8')).toBe(
        bytes.toString('utf8'),
      );
      expect(await store.get('tenant-a/imports/missing.csv')).toBeUndefined();
      await store.delete('tenant-a/imports/small.csv');
      expect(await store.get('tenant-a/imports/small.csv')).toBeUndefined();
      await expect(store.delete('tenant-a/imports/small.csv')).resolves.toBeUndefined();
    } finally {
      store.close();
    }
  });

  it('puts every key under the prefix', async () => {
    const store = storeWith({ prefix: 'host-a/blobs' });
    const client = inspector();
    try {
      await store.put('tenant-b/imports/x.csv', new Uint8Array(Buffer.from('a,b\n')));
      const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'host-a/' }));
      expect(listed.Contents?.map((object) => object.Key)).toEqual(['host-a/blobs/tenant-b/imports/x.csv']);
      expect((await read(await store.get('tenant-b/imports/x.csv')))?.toString()).toBe('a,b\n');
    } finally {
      store.close();
      client.destroy();
    }
  });

  it('refuses keys that could escape their folder, before any request', async () => {
    const store = storeWith({ endpoint: 'http://127.0.0.1:9' });
    try {
      for (const key of ['../etc/passwd', 'a//b', '/abs', 'a\\b', 'tenant/../../x', '']) {
        await expect(store.put(key, new Uint8Array(1))).rejects.toThrow(/invalid blob key/);
        await expect(store.get(key)).rejects.toThrow(/invalid blob key/);
        await expect(store.delete(key)).rejects.toThrow(/invalid blob key/);
      }
    } finally {
      store.close();
    }
  });

  it('leaves no object behind when the upload source fails midway, and aborts the upload', async () => {
    const { client: recording, sent } = recordingClient();
    const store = new S3BlobStore({ bucket: BUCKET, partSize: 5 * MiB }, recording);
    const client = inspector();
    try {
      const bytes = randomBytes(11 * MiB);
      await expect(store.put('tenant-a/imports/broken.csv', piecesOf(bytes, 7 * MiB))).rejects.toThrow(
        /the client went away/,
      );
      expect(await store.get('tenant-a/imports/broken.csv')).toBeUndefined();
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'tenant-a/imports/broken' }),
      );
      expect(listed.Contents ?? []).toEqual([]);
      // The parts already sent are discarded (s3rver answers the abort with an error, since it
      // does not implement it; S3 and R2 do).
      expect(sent[0]).toBe('CreateMultipartUploadCommand');
      expect(sent).toContain('UploadPartCommand');
      expect(sent).toContain('AbortMultipartUploadCommand');
      expect(sent).not.toContain('CompleteMultipartUploadCommand');
    } finally {
      store.close();
      client.destroy();
    }
  });

  it('fails with the server’s answer for an unknown access key, and its check says not ready', async () => {
    const store = storeWith({ credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'S3RVER' } });
    const missingBucket = storeWith({ bucket: 'no-such-bucket' });
    try {
      await expect(store.put('tenant-a/x.csv', new Uint8Array(Buffer.from('x')))).rejects.toMatchObject({
        name: 'InvalidAccessKeyId',
      });
      const reasons: string[] = [];
      expect(await store.check({ onError: (reason) => reasons.push(reason) })).toBe(false);
      expect(await missingBucket.check({ onError: (reason) => reasons.push(reason) })).toBe(false);
      expect(reasons).toHaveLength(2);
      expect(reasons[0]).toMatch(/\(HTTP 403\)$/);
      expect(reasons[1]).toMatch(/\(HTTP 404\)$/);
      expect(reasons.join(' ')).not.toContain('S3RVER');
      expect(await storeWith().check()).toBe(true);
    } finally {
      store.close();
      missingBucket.close();
    }
  });
});

describe('S3BlobStore against a server that never answers', () => {
  it('gives up its readiness check after the timeout instead of hanging the probe', async () => {
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    // Accepts connections and reads requests, and never answers.
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const store = storeWith({ endpoint: `http://127.0.0.1:${port}` });
    try {
      const reasons: string[] = [];
      const started = Date.now();
      expect(await store.check({ timeoutMs: 300, onError: (reason) => reasons.push(reason) })).toBe(false);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(reasons[0]).toMatch(/abort|timeout/i);
    } finally {
      store.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('object-store settings', () => {
  const configError = (env: Record<string, string>) => {
    try {
      loadHostEnv(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return { variable: (error as ConfigError).variable, message: (error as Error).message };
    }
    throw new Error('expected a ConfigError');
  };

  it('reads S3_* and R2_* into the store options, path-style by default with an endpoint', () => {
    expect(objectStoreOptions(loadHostEnv({}))).toBeUndefined();
    expect(
      objectStoreOptions(
        loadHostEnv({
          S3_BUCKET: 'uploads',
          S3_ENDPOINT: 'http://127.0.0.1:9000',
          S3_ACCESS_KEY_ID: 'id',
          S3_SECRET_ACCESS_KEY: 'secret',
        }),
      ),
    ).toEqual({
      bucket: 'uploads',
      prefix: undefined,
      endpoint: 'http://127.0.0.1:9000',
      region: undefined,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
      forcePathStyle: true,
    });
    expect(
      objectStoreOptions(loadHostEnv({ S3_BUCKET: 'uploads', S3_FORCE_PATH_STYLE: 'false' })),
    ).toMatchObject({
      credentials: undefined,
      forcePathStyle: false,
    });
    expect(
      objectStoreOptions(
        loadHostEnv({
          R2_BUCKET_NAME: 'impact-files',
          R2_ENDPOINT: 'https://0123.r2.cloudflarestorage.com',
          R2_ACCESS_KEY_ID: 'r2-id',
          R2_SECRET_ACCESS_KEY: 'r2-secret',
          S3_PREFIX: 'impact-in',
        }),
      ),
    ).toEqual({
      bucket: 'impact-files',
      prefix: 'impact-in',
      endpoint: 'https://0123.r2.cloudflarestorage.com',
      region: 'auto',
      credentials: { accessKeyId: 'r2-id', secretAccessKey: 'r2-secret' },
      forcePathStyle: undefined,
    });
  });

  it('stops start-up naming the variable that is wrong or missing', () => {
    expect(configError({ S3_BUCKET: 'Not_A_Bucket' }).variable).toBe('S3_BUCKET');
    expect(configError({ S3_BUCKET: 'uploads', S3_ENDPOINT: 'not a url' }).variable).toBe('S3_ENDPOINT');
    expect(configError({ S3_BUCKET: 'uploads', S3_FORCE_PATH_STYLE: 'yes' }).variable).toBe(
      'S3_FORCE_PATH_STYLE',
    );
    expect(configError({ S3_ENDPOINT: 'http://127.0.0.1:9000' })).toMatchObject({
      variable: 'S3_BUCKET',
      message: expect.stringContaining('required when S3_ENDPOINT is set'),
    });
    expect(configError({ S3_BUCKET: 'uploads', S3_ACCESS_KEY_ID: 'id' }).variable).toBe(
      'S3_SECRET_ACCESS_KEY',
    );
    expect(configError({ S3_BUCKET: 'uploads', S3_PREFIX: '../up' }).variable).toBe('S3_PREFIX');
    expect(
      configError({ R2_BUCKET_NAME: 'files', R2_ENDPOINT: 'https://x.r2.cloudflarestorage.com' }),
    ).toMatchObject({
      variable: 'R2_ACCESS_KEY_ID',
      message: expect.stringContaining('all four R2_* variables'),
    });
    expect(
      configError({
        R2_BUCKET_NAME: 'files',
        R2_ENDPOINT: 'https://x.r2.cloudflarestorage.com',
        R2_ACCESS_KEY_ID: 'id',
        R2_SECRET_ACCESS_KEY: 'secret',
        S3_BUCKET: 'uploads',
      }).variable,
    ).toBe('S3_BUCKET');
    // R2 takes its endpoint and keys from R2_*: an S3_* setting beside them is refused, by name.
    const r2 = {
      R2_BUCKET_NAME: 'files',
      R2_ENDPOINT: 'https://x.r2.cloudflarestorage.com',
      R2_ACCESS_KEY_ID: 'id',
      R2_SECRET_ACCESS_KEY: 'secret',
    };
    expect(configError({ ...r2, S3_SECRET_ACCESS_KEY: 'other' })).toMatchObject({
      variable: 'S3_SECRET_ACCESS_KEY',
      message: expect.stringContaining('R2_BUCKET_NAME are both set'),
    });
    expect(configError({ R2_ENDPOINT: r2.R2_ENDPOINT, S3_BUCKET: 'uploads' })).toMatchObject({
      variable: 'S3_BUCKET',
      message: expect.stringContaining('R2_ENDPOINT are both set'),
    });
  });
});

/** A test host keeping uploads in the s3rver bucket under `prefix`, with Kintell imports. */
const startS3Host = (prefix: string) =>
  startTestHost(
    {
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      S3_PREFIX: prefix,
    },
    [{ connector: kintell, config: kintell.config.parse({ webhookSecret: 'whsec-kintell-s3-test-0123' }) }],
  );

describe('the host with S3_* set', () => {
  it('keeps uploads in the bucket, delivers imported events from it, and checks it for readiness', async () => {
    const t = await startS3Host('host-test');
    const client = inspector();
    try {
      await t.request('/v1/identity/users', {
        method: 'PUT',
        body: JSON.stringify({
          users: [
            { userId: 'emp-1', email: 'v1@acme.example' },
            { userId: 'emp-2', email: 'v2@acme.example' },
          ],
        }),
      });
      const csv = [
        'session_id,program,scheduled_at,completed_at,duration_minutes,status,participant_email,volunteer_email',
        's3-1,mentorship,2025-03-01T10:00:00Z,2025-03-01T11:00:00Z,60,completed,p1@example.com,v1@acme.example',
        's3-2,language_connect,2025-03-02T10:00:00Z,2025-03-02T10:30:00Z,30,completed,p2@example.com,v2@acme.example',
        '',
      ].join('\n');
      const response = await t.host.app.request('http://localhost/v1/import/sessions?deliver=true', {
        method: 'POST',
        body: csv,
        headers: { authorization: `Bearer ${t.keys.operator}`, 'content-type': 'text/csv' },
      });
      expect(response.status).toBe(200);
      const report = (await response.json()) as {
        importId: string;
        imported: number;
        deliveries: { targets: string[]; submitted: number; created: number };
      };
      expect(report.imported).toBe(2);
      // The events are rebuilt from the upload as the bucket holds it.
      expect(report.deliveries).toMatchObject({ targets: ['acme'], submitted: 2, created: 2 });

      const key = `host-test/${t.tenantA}/imports/${report.importId}.csv`;
      const object = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(object.ContentType).toBe('text/csv');
      expect(object.ContentLength).toBe(Buffer.byteLength(csv));

      const ready = await t.host.app.request('http://localhost/health/readiness');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ checks: { database: true, bus: true, blobs: true } });
    } finally {
      client.destroy();
      await t.close();
    }
  });

  it('keeps an upload larger than a part whole while the import reads it (the tee and the multipart upload together)', async () => {
    const t = await startS3Host('host-large');
    const client = inspector();
    try {
      // 1 100 sessions with 9 000-character feedback: about 10 MiB, two parts of 8 MiB.
      const feedback = 'Très bien, merci! '.repeat(500);
      const lines = [
        'session_id,program,scheduled_at,status,participant_email,volunteer_email,feedback',
        ...Array.from(
          { length: 1_100 },
          (_, index) =>
            `big-${index},mentorship,2025-03-01T10:00:00Z,scheduled,p${index}@example.com,v${index % 7}@acme.example,"${feedback}"`,
        ),
        '',
      ];
      const csv = Buffer.from(lines.join('\r\n'), 'utf8');
      expect(csv.length).toBeGreaterThan(9 * MiB);
      const response = await t.host.app.request('http://localhost/v1/import/sessions', {
        method: 'POST',
        body: csv,
        headers: { authorization: `Bearer ${t.keys.operator}`, 'content-type': 'text/csv' },
      });
      expect(response.status).toBe(200);
      const report = (await response.json()) as { importId: string; imported: number; errors: unknown[] };
      expect(report.errors).toEqual([]);
      expect(report.imported).toBe(1_100);
      const key = `host-large/${t.tenantA}/imports/${report.importId}.csv`;
      const { Body } = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      const kept = await read(Body as AsyncIterable<Uint8Array>);
      expect(kept?.length).toBe(csv.length);
      expect(sha256(kept!)).toBe(sha256(csv));
    } finally {
      client.destroy();
      await t.close();
    }
  }, 60_000);

  it('is not ready while the bucket is missing', async () => {
    const t = await startTestHost({
      S3_BUCKET: 'bucket-that-does-not-exist',
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    });
    try {
      const ready = await t.host.app.request('http://localhost/health/readiness');
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ checks: { blobs: false } });
    } finally {
      await t.close();
    }
  });
});
