import { request } from "node:https";

/** TLS material for one request to a loopback server. */
export interface HttpsGetOptions {
  /** Trust anchor (PEM). Without it the server certificate is not verified (see `insecure`). */
  caPem?: string;
  /** Must be set explicitly when `caPem` is absent: only for loopback health checks of servers with self-signed certs. */
  insecure?: boolean;
  certPem?: string;
  keyPem?: string;
  timeoutMs?: number;
}

export interface HttpsResponse {
  status: number;
  body: string;
}

/**
 * GETs `url` and resolves with status and body, whatever the status. Rejects on connection and TLS
 * errors and after `timeoutMs` (default 5 s). No proxy is consulted: the harness only dials loopback.
 */
export function httpsGet(url: string, options: HttpsGetOptions = {}): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "GET",
        ca: options.caPem,
        cert: options.certPem,
        key: options.keyPem,
        rejectUnauthorized: options.insecure !== true,
        timeout: options.timeoutMs ?? 5_000,
        agent: false, // no keep-alive: a poll loop must not hold sockets to a server that is stopping
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`GET ${url} timed out after ${options.timeoutMs ?? 5_000} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}
