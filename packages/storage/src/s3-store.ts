import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  NoSuchKey,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import type { ByteRange, ObjectInfo } from './object-store.ts';

export interface S3Options {
  forcePathStyle: boolean;
  /** `WHEN_REQUIRED` for S3-compatible servers that mishandle streamed aws-chunked checksums. */
  checksums: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** An object bigger than this is copied in parts of at most this size (UploadPartCopy); S3's single CopyObject stops at 5 GiB. */
  multipartCopyBytes?: number;
}

/** The kinds of S3 request a bill counts apart; multipart: create, part, part copy, complete, abort. */
export const S3_REQUEST_KINDS = ['LIST', 'HEAD', 'GET', 'PUT', 'COPY', 'DELETE', 'multipart'] as const;
export type S3RequestKind = (typeof S3_REQUEST_KINDS)[number];

const KIND_OF_COMMAND: Record<string, S3RequestKind> = {
  ListObjectsV2Command: 'LIST',
  HeadObjectCommand: 'HEAD',
  GetObjectCommand: 'GET',
  PutObjectCommand: 'PUT',
  CopyObjectCommand: 'COPY',
  DeleteObjectCommand: 'DELETE',
  DeleteObjectsCommand: 'DELETE',
  CreateMultipartUploadCommand: 'multipart',
  UploadPartCommand: 'multipart',
  UploadPartCopyCommand: 'multipart',
  CompleteMultipartUploadCommand: 'multipart',
  AbortMultipartUploadCommand: 'multipart',
};

const sentRequests = Object.fromEntries(S3_REQUEST_KINDS.map((kind) => [kind, 0])) as Record<S3RequestKind, number>;

/** The S3 requests this process has sent, by kind (each HTTP attempt, retries included): the bench sums its workers'. */
export const s3RequestCounts = (): Readonly<Record<S3RequestKind, number>> => ({ ...sentRequests });

/** S3's limit on one CopyObject, and on one part of a multipart copy. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;
/** Parts of one multipart copy copied at once. */
const PART_COPY_CONCURRENCY = 4;

function parse(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1]!, key: m[2]! };
}

const isMissing = (err: unknown) => err instanceof NotFound || err instanceof NoSuchKey || (err as { name?: string }).name === 'NotFound';

/** `s3://` backend over @aws-sdk/client-s3: ranged streaming reads, multipart streaming writes. */
export function createS3Backend(options: S3Options) {
  // Endpoint, region and credentials come from the SDK's own chain (AWS_ENDPOINT_URL_S3, AWS_REGION, ...).
  const client = new S3Client({
    forcePathStyle: options.forcePathStyle,
    requestChecksumCalculation: options.checksums,
    responseChecksumValidation: options.checksums,
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
  });
  // In the deserialize step, inside the SDK's retry loop: one count per request on the wire.
  client.middlewareStack.add(
    (next, context) => (args) => {
      const kind = KIND_OF_COMMAND[context.commandName ?? ''];
      if (kind) sentRequests[kind]++;
      return next(args);
    },
    { step: 'deserialize', name: 'musicflowRequestCount' },
  );
  const partBytes = Math.min(options.multipartCopyBytes ?? MAX_COPY_BYTES, MAX_COPY_BYTES);

  async function* list(folderUrl: string): AsyncIterable<ObjectInfo> {
    const { bucket, key } = parse(folderUrl);
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }));
      for (const obj of page.Contents ?? []) {
        if (!obj.Key || obj.Key.endsWith('/')) continue;
        yield { url: `s3://${bucket}/${obj.Key}`, size: obj.Size ?? 0, etag: obj.ETag, modifiedAt: obj.LastModified?.getTime() };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async function head(url: string): Promise<ObjectInfo | undefined> {
    const { bucket, key } = parse(url);
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { url, size: out.ContentLength ?? 0, etag: out.ETag, modifiedAt: out.LastModified?.getTime() };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async function read(url: string, range?: ByteRange): Promise<Readable> {
    if (range && range.end <= range.start) return Readable.from([]);
    const { bucket, key } = parse(url);
    const out = await client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: key,
        Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined,
      }),
    );
    return out.Body as Readable;
  }

  async function readBuffer(url: string, range?: ByteRange): Promise<Buffer> {
    return Buffer.concat(await (await read(url, range)).toArray());
  }

  async function write(url: string, body: Readable | Buffer | string): Promise<ObjectInfo> {
    const { bucket, key } = parse(url);
    // Upload switches to multipart above 5 MB, so a stream of any length goes up in bounded memory.
    await new Upload({ client, params: { Bucket: bucket, Key: key, Body: body }, queueSize: 2 }).done();
    const written = await head(url);
    if (!written) throw new Error(`upload of ${url} reported success but the object is missing`);
    return written;
  }

  /** Copies an object within S3; `size`, when the caller knows it, spares a HEAD. */
  async function copy(fromUrl: string, toUrl: string, size?: number): Promise<void> {
    const from = parse(fromUrl);
    const to = parse(toUrl);
    // encodeURI, not encodeURIComponent per segment: S3-compatible servers decode it with decodeURI.
    const CopySource = encodeURI(`${from.bucket}/${from.key}`);
    const bytes = size ?? (await head(fromUrl))?.size ?? 0;
    if (bytes <= partBytes) {
      await client.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource }));
      return;
    }
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: to.bucket, Key: to.key }));
    try {
      const ranges = Array.from({ length: Math.ceil(bytes / partBytes) }, (_, i) => ({ start: i * partBytes, end: Math.min(bytes, (i + 1) * partBytes) }));
      const parts: { PartNumber: number; ETag?: string }[] = [];
      for (let first = 0; first < ranges.length; first += PART_COPY_CONCURRENCY) {
        const batch = ranges.slice(first, first + PART_COPY_CONCURRENCY).map(async ({ start, end }, i) => {
          const PartNumber = first + i + 1;
          const out = await client.send(
            new UploadPartCopyCommand({ Bucket: to.bucket, Key: to.key, UploadId, PartNumber, CopySource, CopySourceRange: `bytes=${start}-${end - 1}` }),
          );
          return { PartNumber, ETag: out.CopyPartResult?.ETag };
        });
        parts.push(...(await Promise.all(batch)));
      }
      await client.send(new CompleteMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  async function remove(url: string): Promise<void> {
    const { bucket, key } = parse(url);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  async function deleteFolder(folderUrl: string): Promise<number> {
    const { bucket } = parse(folderUrl);
    let batch: string[] = [];
    let count = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      count += batch.length;
      batch = [];
    };
    for await (const obj of list(folderUrl)) {
      batch.push(parse(obj.url).key);
      if (batch.length === 1000) await flush();
    }
    await flush();
    return count;
  }

  return { list, head, read, readBuffer, write, copy, delete: remove, deleteFolder, close: async () => client.destroy() };
}
