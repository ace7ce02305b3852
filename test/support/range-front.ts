import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/**
 * A registry front on 127.0.0.1 that serves one blob (`GET /v2/<repo>/blobs/<digest>`) the way
 * registries and object stores misbehave with ranged downloads. `/v2/` answers 200, or 401 with a
 * Basic challenge when `requireAuth` (and then every blob request needs the Authorization).
 * Bodies are paced at `bytesPerSecond` per response (like object storage), so a download finds
 * it worth running several connections.
 */
export interface RangeFrontOptions {
  readonly blob: Buffer;
  readonly bytesPerSecond?: number;
  readonly requireAuth?: string;
  /** Answer Range requests with 200 and the whole blob. */
  readonly ignoreRange?: boolean;
  /** Answer Range requests with a Content-Range that starts 1 MiB later than asked. */
  readonly wrongContentRange?: boolean;
  /** Serve at most this many bytes per 206 (a legal, shorter answer with its Content-Range). */
  readonly maxPartBytes?: number;
  /** The first `resets` answers send half their body and then reset the connection. */
  resets?: number;
  /** The first `throttles` requests get 429 with `Retry-After: <retryAfter>`. */
  throttles?: number;
  readonly retryAfter?: string;
  /** Flip one byte of the next ranged answer that does not start at 0. */
  corruptOnce?: boolean;
  /** Redirect every blob request to this base URL (same path), as registries backed by object storage do. */
  readonly redirectTo?: string;
}

export interface RangeFront {
  readonly url: string;
  readonly host: string;
  /** Every blob request: its Range header and whether it carried credentials. */
  readonly requests: { range: string | undefined; authorization: boolean; status: number }[];
  stop(): Promise<void>;
}

const MiB = 1024 * 1024;

export async function startRangeFront(options: RangeFrontOptions): Promise<RangeFront> {
  const { blob } = options;
  const requests: RangeFront["requests"] = [];
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    const authorized = req.headers.authorization === options.requireAuth;
    if (path === "/v2/" || path === "/v2") {
      if (options.requireAuth !== undefined && !authorized) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="front"', "content-length": "0" });
        return res.end();
      }
      res.writeHead(200, { "content-length": "2" });
      return res.end("{}");
    }
    if (!/\/blobs\/sha256:[0-9a-f]{64}/.test(path) || req.method !== "GET") {
      res.writeHead(404, { "content-length": "0" });
      return res.end();
    }
    const entry = {
      range: req.headers.range,
      authorization: req.headers.authorization !== undefined,
      status: 0,
    };
    requests.push(entry);
    const answer = (status: number, headers: Record<string, string>, body?: Buffer): void => {
      entry.status = status;
      res.writeHead(status, headers);
      if (body === undefined) return void res.end();
      send(req, res, body, options);
    };
    if (options.requireAuth !== undefined && !authorized)
      return answer(401, { "www-authenticate": 'Basic realm="front"', "content-length": "0" });
    if (options.redirectTo !== undefined)
      return answer(307, { location: `${options.redirectTo}${path}?signed=1`, "content-length": "0" });
    if ((options.throttles ?? 0) > 0) {
      options.throttles = (options.throttles ?? 0) - 1;
      return answer(429, { "retry-after": options.retryAfter ?? "1", "content-length": "0" });
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range === null || options.ignoreRange === true)
      return answer(200, { "content-length": String(blob.length) }, blob);
    const first = Number(range[1]);
    let end = range[2] === "" ? blob.length : Math.min(blob.length, Number(range[2]) + 1);
    if (options.maxPartBytes !== undefined) end = Math.min(end, first + options.maxPartBytes);
    const shown = options.wrongContentRange === true ? first + MiB : first;
    let body = blob.subarray(first, end);
    if (options.corruptOnce === true && first > 0) {
      options.corruptOnce = false;
      body = Buffer.from(body);
      body[0] = (body[0] ?? 0) ^ 0xff;
    }
    answer(
      206,
      {
        "content-range": `bytes ${shown}-${shown + body.length - 1}/${blob.length}`,
        "content-length": String(body.length),
      },
      body,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Writes `body` in 64 KiB pieces at the front's pace; a reset after half when one is due. */
function send(req: IncomingMessage, res: ServerResponse, body: Buffer, options: RangeFrontOptions): void {
  const reset = (options.resets ?? 0) > 0;
  if (reset) options.resets = (options.resets ?? 0) - 1;
  const stopAt = reset ? Math.floor(body.length / 2) : body.length;
  const started = Date.now();
  let sent = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (sent >= stopAt) {
      if (reset) return void req.socket.destroy();
      return void res.end();
    }
    const piece = body.subarray(sent, Math.min(stopAt, sent + 64 * 1024));
    sent += piece.length;
    const ok = res.write(piece);
    const due =
      options.bytesPerSecond === undefined
        ? 0
        : started + (sent / options.bytesPerSecond) * 1000 - Date.now();
    const go = (): void => void (due > 0 ? setTimeout(next, due) : setImmediate(next));
    if (ok) go();
    else res.once("drain", go);
  };
  next();
}
