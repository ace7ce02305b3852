import { Agent, createServer, request, type IncomingMessage, type Server } from "node:http";

/**
 * A registry front that serves like object storage: every response waits `latencyMs` before its
 * headers, and each connection's body flows at most `bytesPerSecond` (paced per response, which
 * on a keep-alive connection is per connection: its responses come one after another). Counts
 * the bytes it served and the requests that asked for a range.
 */
export interface ThrottleProxy {
  readonly host: string;
  readonly stats: { bytes: number; requests: number; rangeRequests: number; connections: number };
  stop(): Promise<void>;
}

export async function startThrottleProxy(
  upstream: string,
  options: { bytesPerSecond: number; latencyMs: number },
): Promise<ThrottleProxy> {
  const stats = { bytes: 0, requests: 0, rangeRequests: 0, connections: 0 };
  const agent = new Agent({ keepAlive: true });
  const target = new URL(upstream);
  const server: Server = createServer((req, res) => {
    stats.requests++;
    if (req.headers.range !== undefined) stats.rangeRequests++;
    const headers = { ...req.headers, host: target.host };
    const forward = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (up: IncomingMessage) => {
        setTimeout(() => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          const started = Date.now();
          let sent = 0;
          up.on("data", (chunk: Buffer) => {
            sent += chunk.length;
            stats.bytes += chunk.length;
            const ok = res.write(chunk);
            const due = started + (sent / options.bytesPerSecond) * 1000 - Date.now();
            const resume = (): void => {
              if (res.writableNeedDrain) res.once("drain", () => up.resume());
              else up.resume();
            };
            if (due > 1) {
              up.pause();
              setTimeout(resume, due);
            } else if (!ok) {
              up.pause();
              resume();
            }
          });
          up.on("end", () => res.end());
          up.on("error", () => res.destroy());
        }, options.latencyMs);
      },
    );
    forward.on("error", () => res.destroy());
    res.on("close", () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  });
  server.on("connection", () => stats.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    stats,
    stop: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
