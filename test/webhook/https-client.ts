/** A minimal HTTPS client for the webhook tests: one request, a fresh connection each time. */
import { request } from "node:https";
import { TLSSocket, type SecureVersion } from "node:tls";

export interface HttpsResult {
  readonly status: number;
  readonly body: string;
  /** Serial number of the certificate the server presented. */
  readonly serial: string;
}

/**
 * Sends one request to `url`, trusting only `caPem`. Resolves with what came back, or rejects
 * with the transport error (TLS failures included). A response that arrives before the server
 * closes the connection on an unfinished upload still resolves.
 */
export function httpsRequest(
  url: string,
  options: {
    caPem: string;
    method?: string;
    body?: string | Buffer;
    /** Send the body in this many writes, without a Content-Length (chunked encoding). */
    chunks?: number;
    headers?: Record<string, string>;
    maxVersion?: SecureVersion;
  },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "POST",
        ca: options.caPem,
        agent: false,
        headers: { "content-type": "application/json", ...options.headers },
        ...(options.maxVersion !== undefined && { maxVersion: options.maxVersion }),
      },
      (res) => {
        const serial = res.socket instanceof TLSSocket ? res.socket.getPeerCertificate().serialNumber : "";
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), serial }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    const body = options.body;
    if (options.chunks === undefined || body === undefined) {
      req.end(body);
      return;
    }
    const size = Math.ceil(body.length / options.chunks);
    for (let i = 0; i < body.length; i += size) req.write(body.slice(i, i + size));
    req.end();
  });
}
