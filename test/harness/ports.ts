import { createServer, type Server } from "node:net";

/** The only address the harness ever binds or dials. */
export const LOOPBACK = "127.0.0.1";

/**
 * Returns `count` distinct TCP ports that were free on 127.0.0.1 a moment ago. Each port is found
 * by binding port 0; all listeners stay open until every port is picked, so the ports are distinct
 * from each other. Another process can still take a port before its component binds it: callers
 * must treat "address already in use" as retryable (startControlPlane does).
 */
export async function pickFreePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(await listenOnRandomPort(server));
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function listenOnRandomPort(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        reject(new Error(`listening on ${LOOPBACK}:0 gave no TCP port`));
        return;
      }
      resolve(address.port);
    });
  });
}
