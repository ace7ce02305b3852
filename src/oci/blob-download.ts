import { close, open } from "node:fs";
import { connect as connectTcp, type OnReadOpts, type Socket } from "node:net";
import { rootCertificates, connect as connectTls, type ConnectionOptions } from "node:tls";
import { promisify } from "node:util";
import type { DigestVerifier } from "./digest.js";
import { RegistryError } from "./errors.js";
import { BlobWriteError, inlineWriter, workerWriter, type BlobWriterFactory } from "./blob-writer.js";
import {
  checkHeaders,
  classifyNetworkError,
  isValidHeaderValue,
  DEFAULT_MAX_REDIRECTS,
  headersForRedirect,
  REDIRECT_STATUSES,
} from "./http.js";

const openFile = promisify(open);
const closeFile = promisify(close);

/** What the fast path needs to GET one blob. */
export interface BlobDownload {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly caPem?: string | readonly string[];
  readonly insecureSkipTlsVerify?: boolean;
  /** Longest silence allowed (connect, headers, or between body bytes). Default 60 s. */
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Hashes and writes the buffers; default `workerWriter` (a worker thread when possible). */
  readonly writer?: BlobWriterFactory;
}

/**
 * `done`: written and verified. `fallback`: the answer (after any redirects) is not a plain 200
 * with a length; use the general path.
 */
export type BlobDownloadResult =
  { readonly kind: "done"; readonly bytes: number } | { readonly kind: "fallback"; readonly status: number };

// Memory per download is fixed whatever the blob's size: a few buffers that the socket reads
// straight into (Node's `onread` with a buffer generator: no allocation and no copy per read).
// Each full buffer goes to the blob writer, which hashes and writes it in order (blob-writer.ts)
// and gives it back; reading pauses while every buffer is out, which is the back-pressure. A
// small spare buffer takes the response headers and any read that comes while every buffer is out
// (a paused TLS socket still hands over the records it has decrypted); those bytes are copied and
// wait, in order, for the next buffer.
const READ_BUFFER_BYTES = 1024 * 1024;
const READ_BUFFERS = 4;
/** The smallest room a read is given; also the spare buffer's size. */
const MIN_READ_BYTES = 64 * 1024;
/**
 * Blobs up to this size (configs, tokenizers, READMEs) are hashed and written on the calling
 * thread: handing them to the worker costs more than the work.
 */
const INLINE_MAX_BYTES = 8 * 1024 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Downloads a blob straight into a file on the hot path of a pull: one HTTP/1.1 GET on its own
 * connection, socket reads straight into a small pool of buffers, each full buffer hashed and
 * written in order by the blob writer, reading paused while the pool is out. Against an HTTP client +
 * streams this removes a buffer allocation and several stream hops per 64 KiB, which is most of
 * a pull's CPU after hashing, and bounds memory at about 4 MiB per download. It only handles the
 * common answer — 200 with a Content-Length and no transfer coding, after following redirects
 * (without the Authorization header across origins); anything else (401 challenges, chunked
 * bodies, errors) is reported as `fallback` for the general client.
 * Throws RegistryError (retryable for resets, truncation and timeouts), BlobWriteError (the
 * file could not be written) or DigestMismatchError; the caller removes the file on failure.
 */
export async function downloadBlobToFile(
  request: BlobDownload,
  path: string,
  verifier: DigestVerifier,
  onBytes: (bytes: number) => void,
): Promise<BlobDownloadResult> {
  const fd = await openFile(path, "w", 0o600);
  try {
    // Registries that keep blobs in object storage answer with a redirect to it (usually a signed
    // URL on another host): followed here, so those pulls stay on the fast path too.
    let hop = request;
    for (let hops = 0; ; hops++) {
      const result = await transfer(hop, fd, path, verifier, onBytes);
      if (result.kind !== "redirect") return result;
      if (hops >= DEFAULT_MAX_REDIRECTS) {
        throw new RegistryError(
          "InvalidResponse",
          `${request.url.href}: more than ${DEFAULT_MAX_REDIRECTS} redirects; the registry or its storage is misconfigured`,
        );
      }
      hop = redirected(hop, result.location);
    }
  } finally {
    await closeFile(fd);
  }
}

/** The request for a redirect's target (see `headersForRedirect` for the credentials). */
function redirected(request: BlobDownload, location: string): BlobDownload {
  const url = new URL(location, request.url);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new RegistryError(
      "InvalidResponse",
      `${request.url.href}: redirect to an unsupported URL ${url.protocol}//…`,
    );
  }
  return { ...request, url, headers: headersForRedirect(request.headers, request.url, url) };
}

/** One GET; a redirect is reported for the caller to follow (nothing has been written then). */
function transfer(
  request: BlobDownload,
  fd: number,
  path: string,
  verifier: DigestVerifier,
  onBytes: (bytes: number) => void,
): Promise<BlobDownloadResult | { readonly kind: "redirect"; readonly location: string }> {
  return new Promise((resolve, reject) => {
    const { url } = request;
    // This path writes the request itself: nothing below may smuggle a CR or LF onto the socket.
    checkHeaders({ ...request.headers, host: url.host }, url);
    const target = `${url.pathname}${url.search}`;
    if (!isValidHeaderValue(target) || /[\s\x7f]/.test(target)) {
      throw new RegistryError(
        "InvalidResponse",
        `${url.origin}: refusing a request target with whitespace or control characters`,
      );
    }
    const spare = Buffer.allocUnsafeSlow(MIN_READ_BYTES);
    const size = verifier.expectedSize ?? Infinity;
    const writer = (request.writer ?? (size <= INLINE_MAX_BYTES ? inlineWriter : workerWriter))(
      verifier.algorithm,
      fd,
    );
    // A small blob gets buffers of its size (at least one read's room), and one more than it
    // fills, so it never waits for a buffer.
    const bufferBytes = Math.min(READ_BUFFER_BYTES, Math.max(MIN_READ_BYTES, size));
    const free: Buffer[] = Array.from(
      { length: Math.min(READ_BUFFERS, Math.ceil(size / bufferBytes) + 1) },
      () => writer.allocate(bufferBytes),
    );
    /** Buffers handed to the writer and not yet given back. */
    let out = 0;
    /**
     * Body bytes read while every buffer was out, waiting for one (copies). Reading pauses then,
     * but a TLS socket still hands over the records it has already decrypted.
     */
    const overflow: Buffer[] = [];
    let filling: Buffer | undefined;
    let filled = 0;
    let header: Buffer | undefined = Buffer.alloc(0);
    let expected = -1;
    let received = 0;
    let paused = false;
    let settled = false;
    let finishing = false;
    /** How the download ends, held back while the writer has buffers: the caller closes the file after. */
    let outcome: (() => void) | undefined;
    const settle = (then: () => void): void => {
      settled = true;
      request.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      outcome = then;
      if (out === 0) outcome();
    };
    const onAbort = (): void => fail(request.signal?.reason);

    const fail = (err: unknown): void => {
      if (settled) return;
      writer.dispose();
      settle(() =>
        reject(
          err instanceof RegistryError ||
            err instanceof BlobWriteError ||
            (err instanceof Error && err.name === "AbortError")
            ? err
            : classifyNetworkError(err, url),
        ),
      );
    };
    const maybeDone = (): void => {
      if (finishing || settled || expected < 0 || received < expected) return;
      if (filled > 0 || out > 0 || overflow.length > 0) return;
      finishing = true;
      writer.digest().then(
        (actual) => {
          if (settled) return;
          try {
            verifier.verifyDigest(actual);
            settle(() => resolve({ kind: "done", bytes: received }));
          } catch (err) {
            settle(() => reject(err));
          }
        },
        (err: unknown) => fail(err),
      );
    };
    /** A buffer the writer gave back: into the pool, and reading resumes if it waited for one. */
    const giveBack = (buffer: Buffer, err: Error | undefined): void => {
      out--;
      if (settled) {
        if (out === 0) outcome?.();
        return;
      }
      if (err !== undefined) {
        const { code, retryable } =
          err instanceof BlobWriteError ? err : { code: undefined, retryable: false };
        return fail(new BlobWriteError(`cannot write ${path}: ${err.message}`, { code, retryable }));
      }
      free.push(buffer);
      drainOverflow();
      if (received === expected && overflow.length === 0) queueFilled();
      if (paused && overflow.length === 0 && hasRoom()) {
        paused = false;
        socket.resume();
      }
      maybeDone();
    };
    /** Hands the buffer being filled on to the writer. */
    const queueFilled = (): void => {
      if (filling === undefined || filled === 0) return;
      const buffer = filling;
      out++;
      writer.append(buffer, filled, (err) => giveBack(buffer, err));
      filling = undefined;
      filled = 0;
    };
    /** Counts body bytes; false (after failing) when they are more than announced. */
    const accept = (chunk: Buffer): boolean => {
      if (received + chunk.length > expected) {
        fail(new RegistryError("InvalidResponse", `${url.href}: more bytes than Content-Length`));
        return false;
      }
      received += chunk.length;
      try {
        verifier.count(chunk.length);
      } catch (err) {
        fail(err);
        return false;
      }
      onBytes(chunk.length);
      return true;
    };
    /** Body bytes read into the spare buffer (or with the headers): copied into write buffers. */
    const copyIn = (chunk: Buffer): void => {
      if (!accept(chunk)) return;
      // Bytes never overtake those already waiting.
      const copied = overflow.length === 0 ? copyToBuffers(chunk) : 0;
      // What has no buffer yet waits, copied: the spare is reused by the next read.
      if (copied < chunk.length) overflow.push(Buffer.from(chunk.subarray(copied)));
    };
    /** Moves waiting bytes, in order, into buffers while there are free ones. */
    const drainOverflow = (): void => {
      for (let head = overflow[0]; head !== undefined; head = overflow[0]) {
        const copied = copyToBuffers(head);
        if (copied < head.length) {
          overflow[0] = head.subarray(copied);
          return;
        }
        overflow.shift();
      }
    };
    /** Copies as much of `bytes` as free buffers hold, handing on each one it fills; returns how much. */
    const copyToBuffers = (bytes: Buffer): number => {
      let offset = 0;
      while (offset < bytes.length) {
        filling ??= free.pop();
        if (filling === undefined) break;
        const n = bytes.copy(filling, filled, offset);
        filled += n;
        offset += n;
        if (filled === filling.length) queueFilled();
      }
      return offset;
    };
    /** Where the next read lands: the rest of the buffer being filled, the next free one, or the spare. */
    const nextReadTarget = (): Buffer => {
      if (header !== undefined || settled || overflow.length > 0) return spare;
      if (filling !== undefined && filling.length - filled < MIN_READ_BYTES) queueFilled();
      filling ??= free.pop();
      return filling === undefined ? spare : filling.subarray(filled);
    };
    /** Whether the next read has somewhere to land without the spare. */
    const hasRoom = (): boolean =>
      free.length > 0 || (filling !== undefined && filling.length - filled >= MIN_READ_BYTES);
    /** Parses the status line and headers; returns the body bytes read with them, or undefined to wait. */
    const headers = (chunk: Buffer): Buffer | undefined => {
      header = Buffer.concat([header ?? Buffer.alloc(0), chunk]);
      const end = header.indexOf("\r\n\r\n");
      if (end < 0) {
        if (header.length > MAX_HEADER_BYTES)
          fail(
            new RegistryError(
              "InvalidResponse",
              `${url.href}: response headers over ${MAX_HEADER_BYTES} bytes`,
            ),
          );
        return undefined;
      }
      const lines = header.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
      const fields = new Map(
        lines
          .slice(1)
          .map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]),
      );
      const length = Number(fields.get("content-length") ?? NaN);
      const coded =
        fields.has("transfer-encoding") || (fields.get("content-encoding") ?? "identity") !== "identity";
      const location = fields.get("location");
      if (REDIRECT_STATUSES.has(status) && location !== undefined && location !== "") {
        writer.dispose();
        settle(() => resolve({ kind: "redirect", location }));
        return undefined;
      }
      if (status !== 200 || !Number.isSafeInteger(length) || coded) {
        writer.dispose();
        settle(() => resolve({ kind: "fallback", status }));
        return undefined;
      }
      expected = length;
      const rest = header.subarray(end + 4);
      header = undefined;
      return rest;
    };

    const onread = {
      buffer: nextReadTarget,
      callback: (n: number, target: Uint8Array): boolean => {
        if (settled) return false;
        const chunk = Buffer.from(target.buffer, target.byteOffset, n);
        if (header !== undefined) {
          const first = headers(chunk);
          if (first !== undefined && first.length > 0) copyIn(first);
        } else if (target.buffer === spare.buffer) {
          copyIn(chunk);
        } else if (accept(chunk)) {
          filled += n; // read in place, into `filling` at `filled`
          if (filling !== undefined && filled === filling.length) queueFilled();
        }
        if (received === expected) queueFilled();
        maybeDone();
        if (settled) return false;
        if (!hasRoom()) {
          paused = true;
          return false;
        }
        return true;
      },
    };
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const ca = request.caPem === undefined ? undefined : [...[request.caPem].flat(), ...rootCertificates];
    // TLS sockets honour `onread` too (they are net.Sockets); @types/node declares it only for net.
    const tlsOptions: ConnectionOptions & { onread: OnReadOpts } = {
      host,
      port,
      servername: /^[\d.:]+$/.test(host) ? "" : host,
      ...(ca !== undefined && { ca }),
      rejectUnauthorized: request.insecureSkipTlsVerify !== true,
      onread,
    };
    const socket: Socket =
      url.protocol === "https:" ? connectTls(tlsOptions) : connectTcp({ host, port, onread });
    socket.setTimeout(request.idleTimeoutMs ?? 60_000, () =>
      fail(
        new RegistryError(
          "Timeout",
          `registry ${url.host} went silent for ${request.idleTimeoutMs ?? 60_000} ms while sending a blob`,
          { retryable: true },
        ),
      ),
    );
    socket.on("error", fail);
    socket.on("close", () => {
      if (!settled && (expected < 0 || received < expected)) {
        fail(
          new RegistryError(
            "InvalidResponse",
            `${url.href}: connection closed after ${received} of ${expected < 0 ? "?" : expected} bytes`,
            { retryable: true },
          ),
        );
      }
    });
    if (request.signal?.aborted === true) return fail(request.signal.reason);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Accept-Encoding: identity",
      "Connection: close",
    ];
    for (const [key, value] of Object.entries(request.headers)) lines.push(`${key}: ${value}`);
    socket.write(lines.join("\r\n") + "\r\n\r\n");
  });
}
