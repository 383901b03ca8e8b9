import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  NoSuchKey,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BlobStore } from '@impact-in/core';
import { assertBlobKey } from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Prepended to every key (`<prefix>/<key>`), e.g. one host's folder in a shared bucket. */
  prefix?: string | undefined;
  /** An S3-compatible endpoint (Cloudflare R2, MinIO); unset: AWS S3 in `region`. */
  endpoint?: string | undefined;
  /**
   * Unset: `us-east-1` with an endpoint (what MinIO and Ceph expect; R2 wants `auto`), otherwise
   * the AWS SDK's own resolution (`AWS_REGION`, the profile). Requests to a bucket in another
   * region follow S3's redirect.
   */
  region?: string | undefined;
  /** Unset: the AWS SDK's default chain (environment, shared config, instance or task role). */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Path-style URLs (`<endpoint>/<bucket>/<key>`), which most S3-compatible servers need. */
  forcePathStyle?: boolean | undefined;
  /** Bytes per part of a multipart upload. Default 8 MiB (S3's minimum is 5 MiB). */
  partSize?: number | undefined;
  /** Parts uploaded at once. Default 2: an upload buffers at most `partSize × queueSize` bytes. */
  queueSize?: number | undefined;
}

/**
 * Blobs as objects in an S3 bucket (AWS S3, Cloudflare R2 or any S3-compatible store). Uploads
 * stream as multipart uploads of `partSize` bytes, so memory stays bounded whatever the file
 * size; the object appears only when the upload completes, so a reader never sees half a file,
 * and a failed upload is aborted (a host that dies mid-upload leaves its parts behind: give the
 * bucket a lifecycle rule that aborts incomplete multipart uploads after a day). Keys follow the
 * same rules as {@link LocalBlobStore}'s.
 *
 * @example
 * const blobs = new S3BlobStore({ bucket: 'impact-in', endpoint: process.env.R2_ENDPOINT });
 * await blobs.put(`${tenantId}/imports/${importId}.csv`, request.body);
 */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly client: S3Client;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #queueSize: number;

  constructor(options: S3BlobStoreOptions, client?: S3Client) {
    this.bucket = options.bucket;
    this.#prefix = options.prefix ? `${assertBlobKey(options.prefix).join('/')}/` : '';
    this.#partSize = options.partSize ?? 8 * 1024 * 1024;
    this.#queueSize = options.queueSize ?? 2;
    const config: S3ClientConfig = {
      followRegionRedirects: true,
      // Checksums only where S3 requires them: S3-compatible stores (R2, MinIO, s3rver) do not
      // all understand the SDK's default trailing checksums on streamed uploads.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    const region = options.region ?? (options.endpoint ? 'us-east-1' : undefined);
    if (region) config.region = region;
    if (options.endpoint) config.endpoint = options.endpoint;
    if (options.credentials) config.credentials = options.credentials;
    if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
    this.client = client ?? new S3Client(config);
  }

  #keyOf(key: string): string {
    assertBlobKey(key);
    return this.#prefix + key;
  }

  async put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options?: { contentType?: string },
  ): Promise<{ key: string; size: number }> {
    const objectKey = this.#keyOf(key);
    let size = 0;
    let sourceFailure: { error: unknown } | undefined;
    const chunks = data instanceof Uint8Array ? [data] : data;
    const counted = async function* () {
      try {
        for await (const chunk of chunks) {
          size += chunk.length;
          yield chunk;
        }
      } catch (error) {
        sourceFailure = { error };
        throw error;
      }
    };
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: objectKey,
        Body: Readable.from(counted(), { objectMode: false }),
        ContentType: options?.contentType ?? 'application/octet-stream',
      },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
    try {
      // A failed multipart upload is aborted by the SDK (`leavePartsOnError: false`): the object
      // never appears, and its parts are discarded.
      await upload.done();
    } catch (error) {
      // When the upload's source failed (the client went away), that is the error to report,
      // not whatever the SDK's clean-up met on the way out.
      throw sourceFailure ? sourceFailure.error : error;
    }
    return { key, size };
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.#keyOf(key) }),
      );
      return response.Body as AsyncIterable<Uint8Array> | undefined;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that does not exist: deleting twice is not an error.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#keyOf(key) }));
  }

  /**
   * Whether the bucket exists and these credentials may use it (the readiness check): a
   * `HeadBucket`, which needs the `s3:ListBucket` permission on the bucket. Gives up after
   * `timeoutMs` (a store that accepts connections and never answers must not hang the probe);
   * `onError` hears why it failed (the error's name and message, never the credentials).
   */
  async check(options: { timeoutMs?: number; onError?: (reason: string) => void } = {}): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
        abortSignal: AbortSignal.timeout(options.timeoutMs ?? 2_000),
      });
      return true;
    } catch (error) {
      // A HEAD answer has no body: the status says more than the SDK's name for it.
      const { name, message, $metadata } = error as {
        name?: string;
        message?: string;
        $metadata?: { httpStatusCode?: number };
      };
      const status = $metadata?.httpStatusCode ? ` (HTTP ${$metadata.httpStatusCode})` : '';
      options.onError?.(`${name ?? 'Error'}: ${message ?? String(error)}${status}`);
      return false;
    }
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}
