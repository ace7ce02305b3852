import { connect as connectTcp, type OnReadOpts, type Socket } from "node:net";
import { rootCertificates, connect as connectTls, type ConnectionOptions } from "node:tls";
import type { ByteRange } from "./byte-ranges.js";
import { RegistryError } from "./errors.js";
import {
  checkHeaders,
  classifyNetworkError,
  DEFAULT_MAX_REDIRECTS,
  headersForRedirect,
  isValidHeaderValue,
  REDIRECT_STATUSES,
} from "./http.js";

/** What one GET of a blob (or of a range of it) needs. */
export interface BlobRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly caPem?: string | readonly string[];
  readonly insecureSkipTlsVerify?: boolean;
  /** Longest silence allowed (connect, headers, or between body bytes). Default 60 s. */
  readonly idleTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What `consume`'s callback returns to stop reading: the rest of the body is not wanted. */
export const STOP = Symbol("stop");

/**
 * An answer to a blob GET, its body not read yet. `consume` hands every body byte to `onChunk`
 * in order; the chunk is valid only during the call (the next read reuses its memory), so the
 * callback copies what it keeps. It may return a promise to pause reading until it settles, or
 * STOP. `consume` resolves once the body is complete (or stopped) and rejects with a retryable
 * RegistryError when the connection fails or closes early. Either `consume` or `discard` must be
 * called.
 *
 * With `into`, the socket may read the next body bytes straight into the memory it returns (the
 * consumer's own buffer: no copy): the chunk handed to `onChunk` is then a view of the start of
 * that memory. `into` is asked after each chunk; the memory must stay untouched by anyone else
 * until the next `onChunk` or the end of `consume`. Returning undefined, or bytes that arrive
 * while reading is paused, bring chunks in the response's own buffers, to copy as without `into`.
 */
export interface BlobResponse {
  readonly status: number;
  readonly url: URL;
  header(name: string): string | undefined;
  consume(
    onChunk: (chunk: Buffer) => Promise<void> | typeof STOP | undefined,
    into?: () => Uint8Array | undefined,
  ): Promise<void>;
  discard(): Promise<void>;
}

/** The room each socket read gets (reused: reads allocate nothing). */
const READ_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Sends one GET for a blob on its own HTTP/1.1 connection (`Range` when `range` is given) and
 * follows redirects (object storage, signed URLs) up to DEFAULT_MAX_REDIRECTS, without the
 * credentials across origins. The body is read straight from the socket into the consumer's
 * memory (`consume`'s `into`) or two reused buffers: no HTTP client, no stream and no allocation
 * per read, which is most of a download's CPU after hashing, and with `into` no copy either
 * (figures: the README's benchmark section). Only bodies with a Content-Length and no
 * transfer coding can be read (`consume` rejects others with InvalidResponse; registries send
 * blobs that way). Throws RegistryError on network failures and too many redirects.
 */
export async function openBlob(request: BlobRequest, range: ByteRange | undefined): Promise<BlobResponse> {
  let hop: BlobRequest = {
    ...request,
    headers: {
      ...request.headers,
      ...(range !== undefined && { range: `bytes=${range[0]}-${range[1] - 1}` }),
    },
  };
  for (let hops = 0; ; hops++) {
    const res = await exchange(hop);
    const location = res.header("location");
    if (!REDIRECT_STATUSES.has(res.status) || location === undefined || location === "") return res;
    await res.discard();
    if (hops >= DEFAULT_MAX_REDIRECTS) {
      throw new RegistryError(
        "InvalidResponse",
        `${request.url.href}: more than ${DEFAULT_MAX_REDIRECTS} redirects; the registry or its storage is misconfigured`,
      );
    }
    const url = new URL(location, hop.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new RegistryError(
        "InvalidResponse",
        `${hop.url.href}: redirect to an unsupported URL ${url.protocol}//…`,
      );
    }
    hop = { ...hop, url, headers: headersForRedirect(hop.headers, hop.url, url) };
  }
}

/** One request on a new connection; resolves with the answer once its headers are in. */
function exchange(request: BlobRequest): Promise<BlobResponse> {
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
    const idleMs = request.idleTimeoutMs ?? 60_000;
    // Two read buffers: while the consumer holds a chunk of one (it waits), reads go to the other.
    const readBuffers = [Buffer.allocUnsafeSlow(READ_BYTES), Buffer.allocUnsafeSlow(READ_BYTES)];
    let readBuffer = readBuffers[0] as Buffer;
    let header: Buffer | undefined = Buffer.alloc(0);
    /** Body bytes read before `consume` or while it waited (copies), delivered first, in order. */
    const backlog: Buffer[] = [];
    let onChunk: ((chunk: Buffer) => Promise<void> | typeof STOP | undefined) | undefined;
    let into: (() => Uint8Array | undefined) | undefined;
    let finish: { resolve: () => void; reject: (err: unknown) => void } | undefined;
    let length = -1;
    let received = 0;
    let waiting = false;
    let ended: { error?: unknown } | undefined;

    const end = (error?: unknown): void => {
      if (ended !== undefined) return;
      ended = error === undefined ? {} : { error };
      request.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      if (header !== undefined) return reject(error ?? new Error("closed"));
      if (finish === undefined) return;
      if (error === undefined) finish.resolve();
      else finish.reject(error);
    };
    const onAbort = (): void => end(request.signal?.reason);
    const failure = (err: unknown): unknown =>
      err instanceof RegistryError || (err instanceof Error && err.name === "AbortError")
        ? err
        : classifyNetworkError(err, url);

    /** Hands body bytes on; false when reading must pause. */
    const deliver = (chunk: Buffer): boolean => {
      const take = Math.min(chunk.length, length - received);
      received += take;
      const result = onChunk?.(take < chunk.length ? chunk.subarray(0, take) : chunk);
      if (result === STOP) {
        end();
        return false;
      }
      if (result === undefined) {
        if (received >= length) end();
        return ended === undefined;
      }
      // The callback still holds the chunk: later reads go to the other buffer (it holds one
      // chunk at a time). The body is complete only once the callback is done with its last chunk.
      readBuffer = (readBuffer === readBuffers[0] ? readBuffers[1] : readBuffers[0]) as Buffer;
      waiting = true;
      result.then(
        () => {
          waiting = false;
          if (ended !== undefined) return;
          if (received >= length && backlog.length === 0) return end();
          if (flush()) socket.resume();
        },
        (err: unknown) => end(err),
      );
      return false;
    };
    /** Delivers the backlog; false when the consumer asked to wait. */
    const flush = (): boolean => {
      while (backlog.length > 0 && !waiting && ended === undefined) {
        if (!deliver(backlog.shift() as Buffer)) return false;
      }
      return !waiting && ended === undefined;
    };
    const parseHeaders = (chunk: Buffer): void => {
      header = Buffer.concat([header ?? Buffer.alloc(0), chunk]);
      const at = header.indexOf("\r\n\r\n");
      if (at < 0) {
        if (header.length > MAX_HEADER_BYTES)
          end(
            new RegistryError(
              "InvalidResponse",
              `${url.href}: response headers over ${MAX_HEADER_BYTES} bytes`,
            ),
          );
        return;
      }
      const lines = header.subarray(0, at).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
      const fields = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const rest = header.subarray(at + 4);
      header = undefined;
      length = Number(fields.get("content-length") ?? NaN);
      const coded =
        fields.has("transfer-encoding") || (fields.get("content-encoding") ?? "identity") !== "identity";
      if (rest.length > 0) backlog.push(Buffer.from(rest));
      socket.pause(); // until `consume`
      resolve({
        status,
        url,
        header: (name) => fields.get(name.toLowerCase()),
        discard: () => {
          end();
          return Promise.resolve();
        },
        consume: (callback, target) =>
          new Promise<void>((resolveBody, rejectBody) => {
            finish = { resolve: resolveBody, reject: rejectBody };
            if (ended !== undefined)
              return ended.error === undefined ? resolveBody() : rejectBody(ended.error);
            if (!Number.isSafeInteger(length) || coded) {
              return end(
                new RegistryError(
                  "InvalidResponse",
                  `${url.href}: a blob must come with a Content-Length and no transfer coding`,
                ),
              );
            }
            onChunk = callback;
            into = target;
            if (length === 0) return end();
            if (flush()) socket.resume();
          }),
      });
    };

    const onread = {
      // Asked after every read for the memory of the next one: the consumer's, while it takes
      // body bytes as they come (nothing waits, nothing is held back), else a read buffer.
      buffer: (): Uint8Array => {
        if (into === undefined || waiting || backlog.length > 0 || ended !== undefined) return readBuffer;
        const direct = into();
        return direct !== undefined && direct.length > 0 ? direct : readBuffer;
      },
      callback: (n: number, target: Uint8Array): boolean => {
        if (ended !== undefined) return false;
        const chunk = Buffer.from(target.buffer, target.byteOffset, n);
        if (header !== undefined) {
          parseHeaders(chunk);
          return header === undefined ? false : ended === undefined;
        }
        // Records a paused TLS socket had already decrypted, or bytes before `consume`: they wait.
        if (onChunk === undefined || waiting || backlog.length > 0) {
          backlog.push(Buffer.from(chunk));
          return false;
        }
        return deliver(chunk);
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
    socket.setTimeout(idleMs, () =>
      end(
        new RegistryError(
          "Timeout",
          `registry ${url.host} went silent for ${idleMs} ms while sending a blob`,
          {
            retryable: true,
          },
        ),
      ),
    );
    socket.on("error", (err) => end(failure(err)));
    socket.on("close", () => {
      if (ended !== undefined) return;
      // A TLS socket may close with records it decrypted while paused still waiting here.
      const waitingBytes = backlog.reduce((n, b) => n + b.length, 0);
      if (length >= 0 && header === undefined && received + waitingBytes >= length) return;
      end(
        new RegistryError(
          "InvalidResponse",
          `${url.href}: connection closed after ${received} of ${length < 0 ? "?" : length} bytes`,
          { retryable: true },
        ),
      );
    });
    if (request.signal?.aborted === true) return end(request.signal.reason);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const lines = [
      `GET ${target} HTTP/1.1`,
      `Host: ${url.host}`,
      "Accept-Encoding: identity",
      "Connection: close",
    ];
    for (const [key, value] of Object.entries(request.headers)) lines.push(`${key}: ${value}`);
    socket.write(lines.join("\r\n") + "\r\n\r\n");
  });
}
