import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { BlobSource } from "./publisher.js";

/**
 * A stand-in for the object storage a registry redirects blob downloads to (another origin on
 * 127.0.0.1): serves blobs by the digest at the end of the path, with a Content-Length, and
 * records whether each request carried an Authorization header — which it must never get.
 */
export interface BlobStore {
  readonly url: string;
  /** `path authorization?` of every request. */
  readonly requests: { readonly path: string; readonly authorization: string | undefined }[];
  /** Flip one byte of every blob served (corrupt storage). */
  corrupt: boolean;
  stop(): Promise<void>;
}

export async function startBlobStore(blobs: ReadonlyMap<string, BlobSource>): Promise<BlobStore> {
  const requests: { path: string; authorization: string | undefined }[] = [];
  const store = { corrupt: false };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    requests.push({ path, authorization: req.headers.authorization });
    const digest = /(sha256:[0-9a-f]{64})/.exec(path)?.[1];
    const source = digest === undefined ? undefined : blobs.get(digest);
    if (source === undefined) {
      res.writeHead(404, { "content-length": "0" });
      res.end();
      return;
    }
    void (Buffer.isBuffer(source) ? Promise.resolve(source) : readFile(source.path)).then((bytes) => {
      const body = store.corrupt ? Buffer.from(bytes) : bytes;
      if (store.corrupt && body.length > 0) body[0] = (body[0] ?? 0) ^ 0xff;
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": String(body.length),
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return Object.assign(store, {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
