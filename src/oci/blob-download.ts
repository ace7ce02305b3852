import { close, open, write } from "node:fs";
import { connect as connectTcp, type OnReadOpts, type Socket } from "node:net";
import { rootCertificates, connect as connectTls, type ConnectionOptions } from "node:tls";
import { promisify } from "node:util";
import type { DigestVerifier } from "./digest.js";
import { RegistryError } from "./errors.js";
import { classifyNetworkError } from "./http.js";

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
}

/** `done`: written and verified. `fallback`: not a plain 200 with a length; use the general path. */
export type BlobDownloadResult = { readonly kind: "done"; readonly bytes: number } | { readonly kind: "fallback"; readonly status: number };

// Loopback and LAN reads rarely exceed a few hundred KiB; three buffers keep one being filled
// while two are written.
const BUFFER_BYTES = 512 * 1024;
const BUFFERS_PER_DOWNLOAD = 3;
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Downloads a blob straight into a file on the hot path of a pull: one HTTP/1.1 GET on its own
 * connection, socket reads into a small pool of reused 512 KiB buffers (Node's `onread`), each
 * chunk hashed and then written with no copy, reading paused while every buffer is being written.
 * Against undici + streams this removes a buffer allocation and several stream hops per 64 KiB,
 * which is most of a pull's CPU after hashing. It only handles the common answer — 200 with a
 * Content-Length and no transfer coding; anything else (redirects, 401 challenges, chunked
 * bodies, errors) is reported as `fallback` for the general client to handle.
 * Throws RegistryError (retryable for resets, truncation and timeouts) or DigestMismatchError;
 * the caller removes the file on failure.
 */
export async function downloadBlobToFile(request: BlobDownload, path: string, verifier: DigestVerifier, onBytes: (bytes: number) => void): Promise<BlobDownloadResult> {
  const fd = await openFile(path, "w", 0o600);
  try {
    return await transfer(request, fd, verifier, onBytes);
  } finally {
    await closeFile(fd);
  }
}

function transfer(request: BlobDownload, fd: number, verifier: DigestVerifier, onBytes: (bytes: number) => void): Promise<BlobDownloadResult> {
  return new Promise((resolve, reject) => {
    const { url } = request;
    const pool: Buffer[] = Array.from({ length: BUFFERS_PER_DOWNLOAD }, () => Buffer.allocUnsafe(BUFFER_BYTES));
    let header: Buffer | undefined = Buffer.alloc(0);
    let expected = -1;
    let received = 0;
    let writing = 0;
    let paused = false;
    let settled = false;

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err instanceof RegistryError || (err instanceof Error && err.name === "AbortError") ? err : classifyNetworkError(err, url));
    };
    const maybeDone = (): void => {
      if (settled || expected < 0 || received < expected || writing > 0) return;
      settled = true;
      socket.destroy();
      try {
        verifier.verify();
        resolve({ kind: "done", bytes: received });
      } catch (err) {
        reject(err);
      }
    };
    const body = (buffer: Buffer, chunk: Buffer): void => {
      if (received + chunk.length > expected) return fail(new RegistryError("InvalidResponse", `${url.href}: more bytes than Content-Length`));
      received += chunk.length;
      try {
        verifier.update(chunk);
      } catch (err) {
        return fail(err);
      }
      onBytes(chunk.length);
      writing++;
      const writeAll = (offset: number): void =>
        write(fd, chunk, offset, chunk.length - offset, null, (err, written) => {
          if (err) return fail(err);
          if (offset + written < chunk.length) return writeAll(offset + written);
          writing--;
          pool.push(buffer);
          if (paused && !settled) {
            paused = false;
            socket.resume();
          }
          maybeDone();
        });
      writeAll(0);
    };
    /** Parses the status line and headers; returns the body bytes already read, or undefined to wait. */
    const headers = (buffer: Buffer, chunk: Buffer): Buffer | undefined => {
      header = Buffer.concat([header ?? Buffer.alloc(0), chunk]);
      const end = header.indexOf("\r\n\r\n");
      if (end < 0) {
        if (header.length > MAX_HEADER_BYTES) fail(new RegistryError("InvalidResponse", `${url.href}: response headers over ${MAX_HEADER_BYTES} bytes`));
        pool.push(buffer);
        return undefined;
      }
      const lines = header.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
      const fields = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      const length = Number(fields.get("content-length") ?? NaN);
      const coded = fields.has("transfer-encoding") || (fields.get("content-encoding") ?? "identity") !== "identity";
      if (status !== 200 || !Number.isSafeInteger(length) || coded) {
        settled = true;
        socket.destroy();
        resolve({ kind: "fallback", status });
        return undefined;
      }
      expected = length;
      const rest = header.subarray(end + 4);
      header = undefined;
      // The body bytes read with the headers are in a temporary buffer: copy them into the pool's.
      const first = Buffer.from(rest);
      pool.push(buffer);
      return first;
    };

    const onread = {
      buffer: (): Buffer => pool.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES),
      callback: (n: number, raw: Uint8Array): boolean => {
        if (settled) return false;
        const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        const chunk = buffer.subarray(0, n);
        if (header !== undefined) {
          const first = headers(buffer, chunk);
          if (first === undefined) return !settled;
          if (first.length > 0) body(first, first);
        } else {
          body(buffer, chunk);
        }
        maybeDone();
        if (pool.length === 0) {
          paused = true;
          return false;
        }
        return !settled;
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
    const socket: Socket = url.protocol === "https:" ? connectTls(tlsOptions) : connectTcp({ host, port, onread });
    socket.setTimeout(request.idleTimeoutMs ?? 60_000, () => fail(new RegistryError("Timeout", `registry ${url.host} went silent for ${request.idleTimeoutMs ?? 60_000} ms while sending a blob`, { retryable: true })));
    socket.on("error", fail);
    socket.on("close", () => {
      if (!settled && (expected < 0 || received < expected)) {
        fail(new RegistryError("InvalidResponse", `${url.href}: connection closed after ${received} of ${expected < 0 ? "?" : expected} bytes`, { retryable: true }));
      }
    });
    const onAbort = (): void => fail(request.signal?.reason);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, "Accept-Encoding: identity", "Connection: close"];
    for (const [key, value] of Object.entries(request.headers)) lines.push(`${key}: ${value}`);
    socket.write(lines.join("\r\n") + "\r\n\r\n");
  });
}
