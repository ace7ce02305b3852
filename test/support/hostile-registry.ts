import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { BuiltArtifact } from "./publisher.js";

/**
 * A registry that a test controls byte for byte (node:http on loopback): it serves what was
 * `publish`ed like a well-behaved distribution registry (anonymous), and `intercept` lets a
 * test answer any request itself first — lie about digests, cut bodies short, redirect, throttle,
 * challenge for credentials. Every request is recorded with its headers and body.
 */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Answers a request itself and returns true, or returns false for the default answer. */
export type Interceptor = (
  req: RecordedRequest,
  res: ServerResponse,
  raw: IncomingMessage,
) => boolean | Promise<boolean>;

export interface HostileRegistry {
  /** host:port, as used in references. */
  readonly host: string;
  readonly url: string;
  readonly requests: RecordedRequest[];
  intercept: Interceptor | undefined;
  /** Serves the artifact's manifest (by tag and digest) and blobs under `repository`. */
  publish(repository: string, tag: string, artifact: BuiltArtifact): void;
  stop(): Promise<void>;
}

export async function startHostileRegistry(options: { address?: string } = {}): Promise<HostileRegistry> {
  const manifests = new Map<string, Buffer>();
  const tags = new Map<string, string>();
  const blobs = new Map<string, Buffer>();
  const requests: RecordedRequest[] = [];
  const registry: HostileRegistry = {
    host: "",
    url: "",
    requests,
    intercept: undefined,
    publish(repository, tag, artifact) {
      manifests.set(`${repository}@${artifact.manifestDigest}`, artifact.manifestBytes);
      tags.set(`${repository}:${tag}`, artifact.manifestDigest);
      for (const [digest, blob] of artifact.blobs)
        if (Buffer.isBuffer(blob)) blobs.set(`${repository}@${digest}`, blob);
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on("data", (c: Buffer) => chunks.push(c));
    raw.on("end", () => {
      const req: RecordedRequest = {
        method: raw.method ?? "GET",
        path: raw.url ?? "/",
        headers: raw.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(req);
      void (async () => {
        if (registry.intercept !== undefined && (await registry.intercept(req, res, raw))) return;
        serveDefault(req, res);
      })();
    });
  });
  const serveDefault = (req: RecordedRequest, res: ServerResponse): void => {
    const path = new URL(req.path, "http://x").pathname;
    if (path === "/v2/" || path === "/v2") {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    let body: Buffer | undefined;
    let digest: string | undefined;
    if (m?.[2] === "manifests") {
      digest = m[3]!.includes(":") ? m[3] : tags.get(`${m[1]}:${m[3]}`);
      body = digest === undefined ? undefined : manifests.get(`${m[1]}@${digest}`);
    } else if (m?.[2] === "blobs") {
      digest = m[3];
      body = blobs.get(`${m[1]}@${digest}`);
    }
    if (body === undefined || digest === undefined) {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "not here" }] }));
      return;
    }
    res.writeHead(200, {
      "content-type":
        m?.[2] === "manifests" ? "application/vnd.oci.image.manifest.v1+json" : "application/octet-stream",
      "content-length": body.length,
      "docker-content-digest": digest,
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  const address = options.address ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  Object.assign(registry, { host: `${address}:${port}`, url: `http://${address}:${port}` });
  return registry;
}
