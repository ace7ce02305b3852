import { createServer, type IncomingMessage, type Server } from "node:http";
import { request } from "undici";

/**
 * An HTTP proxy on 127.0.0.1 in front of a real registry that injects faults into matching
 * requests: an HTTP status (optionally with Retry-After), a connection reset, a stall,
 * corrupted/replaced response bodies, or a redirect elsewhere (as registries that keep blobs in
 * object storage answer). Everything else is forwarded untouched.
 */
export type Fault =
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string }
  | { readonly kind: "reset" }
  | { readonly kind: "stall" }
  | { readonly kind: "corrupt" }
  | { readonly kind: "truncate" }
  | { readonly kind: "body"; readonly body: Buffer; readonly headers?: Record<string, string> }
  /** Answers 307 with `Location: to(path)`. */
  | { readonly kind: "redirect"; readonly to: (path: string) => string };

export interface FaultRule {
  readonly match: (method: string, path: string) => boolean;
  readonly fault: Fault;
  /** How many matching requests get the fault; default every one. */
  times?: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly url: string;
  readonly rules: FaultRule[];
  /** Every request seen: `METHOD path`. */
  readonly requests: string[];
  /** Whether each request in `requests` carried an Authorization header. */
  readonly authorized: boolean[];
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const rules: FaultRule[] = [];
  const requests: string[] = [];
  const authorized: boolean[] = [];
  const stalled = new Set<IncomingMessage>();
  const server: Server = createServer(async (req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    requests.push(`${method} ${path}`);
    authorized.push(req.headers.authorization !== undefined);
    const rule = rules.find((r) => (r.times === undefined || r.times > 0) && r.match(method, path));
    if (rule?.times !== undefined) rule.times--;
    const fault = rule?.fault;
    if (fault?.kind === "status") {
      res.writeHead(fault.status, {
        "content-type": "application/json",
        ...(fault.retryAfter !== undefined && { "retry-after": fault.retryAfter }),
      });
      res.end(JSON.stringify({ errors: [{ code: "INJECTED", message: `injected ${fault.status}` }] }));
      return;
    }
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "redirect") {
      res.writeHead(307, { location: fault.to(path), "content-length": "0" });
      res.end();
      return;
    }
    if (fault?.kind === "stall") {
      stalled.add(req);
      return; // never answer
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === "string" && k !== "host" && k !== "connection") headers[k] = v;
    try {
      const upstreamRes = await request(new URL(path, upstream), {
        method: method as "GET",
        headers,
        ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
      });
      const outHeaders: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upstreamRes.headers))
        if (v !== undefined && k !== "connection" && k !== "transfer-encoding") outHeaders[k] = v;
      if (fault?.kind === "body") {
        await upstreamRes.body.dump();
        res.writeHead(upstreamRes.statusCode, {
          ...outHeaders,
          ...fault.headers,
          "content-length": String(fault.body.length),
        });
        res.end(fault.body);
        return;
      }
      if (fault?.kind === "corrupt" || fault?.kind === "truncate") {
        const body = Buffer.from(await upstreamRes.body.arrayBuffer());
        if (fault.kind === "corrupt") {
          if (body.length > 0) body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
          res.writeHead(upstreamRes.statusCode, outHeaders);
          res.end(body);
        } else {
          res.writeHead(upstreamRes.statusCode, outHeaders);
          res.write(body.subarray(0, Math.floor(body.length / 2)));
          setTimeout(() => req.socket.destroy(), 20);
        }
        return;
      }
      res.writeHead(upstreamRes.statusCode, outHeaders);
      for await (const chunk of upstreamRes.body) res.write(chunk);
      res.end();
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    rules,
    requests,
    authorized,
    stop: () =>
      new Promise((resolve) => {
        for (const req of stalled) req.socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
