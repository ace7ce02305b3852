/**
 * Fault injection against the webhook's HTTPS server on loopback (issue 12 §3): a client that
 * opens many connections and sends nothing, one that sends headers and never finishes, and many
 * that hold large half-sent bodies. The server must refuse connections beyond its limit, close
 * silent ones, answer 503 Overloaded once too many body bytes are in flight, keep its memory
 * bounded, and keep answering reviews once the pressure is gone.
 */
import { connect, type TLSSocket } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/runtime/clock.js";
import { silentLogger } from "../../src/runtime/logger.js";
import {
  createWebhook,
  DEFAULT_SERVER_LIMITS,
  selfSignedServingCertificates,
  type ServerLimits,
} from "../../src/webhook/index.js";
import { waitFor } from "../harness/testing.js";
import { httpsRequest } from "../webhook/https-client.js";
import { INIT_SETTINGS, modelDeployment, pod, podReview, storeOf } from "../webhook/fixtures.js";

interface Server {
  readonly port: number;
  readonly caPem: string;
  stop(): Promise<void>;
}

const running: Server[] = [];
const sockets: TLSSocket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of running.splice(0)) await server.stop();
});

async function startServer(limits?: Partial<ServerLimits>): Promise<Server> {
  const certificates = selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] });
  const webhook = createWebhook({
    logger: silentLogger(),
    clock: systemClock,
    namespace: "modelpack-system",
    store: storeOf([modelDeployment({ name: "md-0", mount: { path: "/models/md-0" } })]),
    settings: INIT_SETTINGS,
    host: "127.0.0.1",
    port: 0,
    certificates: { mode: "static", certificates },
    // An old server ignores this option: the test then sees its unbounded behaviour.
    ...(limits !== undefined && { serverLimits: limits }),
  });
  const stopper = new AbortController();
  const done = webhook.start(stopper.signal);
  const { port } = await webhook.address();
  const server = {
    port,
    caPem: certificates.caPem,
    async stop() {
      stopper.abort();
      await done;
    },
  };
  running.push(server);
  return server;
}

/** A TLS connection to the server; resolves once the handshake finished, or with the error. */
function open(server: Server): Promise<{ socket: TLSSocket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port: server.port, ca: server.caPem, servername: "" });
    sockets.push(socket);
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.once("secureConnect", () => resolve({ socket, closed }));
    socket.once("error", reject);
  });
}

const isClosed = (closed: Promise<void>, withinMs: number): Promise<boolean> =>
  Promise.race([
    closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), withinMs)),
  ]);

const review = JSON.stringify(podReview(pod({ labels: { app: "md-0" } })));

async function stillServes(server: Server): Promise<void> {
  const answer = await waitFor(
    "the server to answer a review again",
    async () => {
      const result = await httpsRequest(`https://127.0.0.1:${server.port}/mutate-pods`, {
        caPem: server.caPem,
        body: review,
      }).catch(() => undefined);
      return result?.status === 200 ? result : undefined;
    },
    { timeoutMs: 20_000 },
  );
  expect(JSON.parse(answer.body).response.patchType).toBe("JSONPatch");
}

describe("the webhook server under hostile clients", () => {
  it("documents its default limits", () => {
    expect(DEFAULT_SERVER_LIMITS).toEqual({
      maxConnections: 256,
      maxInFlightBytes: 32 * 1024 * 1024,
      handshakeTimeoutMs: 10_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 120_000,
    });
  });

  it("closes connections beyond maxConnections (300 idle ones against the default 256)", async () => {
    const server = await startServer();
    const attempts = await Promise.allSettled(Array.from({ length: 300 }, () => open(server)));
    const opened = attempts.flatMap((a) => (a.status === "fulfilled" ? [a.value] : []));
    // A dropped connection fails its handshake or is closed right after it.
    const stillOpen = (await Promise.all(opened.map(async (c) => !(await isClosed(c.closed, 1_500))))).filter(
      Boolean,
    ).length;
    expect(stillOpen).toBeLessThanOrEqual(DEFAULT_SERVER_LIMITS.maxConnections);
    expect(stillOpen).toBeGreaterThan(200);
    for (const socket of sockets.splice(0)) socket.destroy();
    await stillServes(server);
  }, 60_000);

  it("closes a connection that sends nothing, or only part of its headers, after headersTimeoutMs", async () => {
    const server = await startServer({ headersTimeoutMs: 1_000, handshakeTimeoutMs: 1_000 });
    const silent = await open(server);
    const partial = await open(server);
    partial.socket.write("POST /mutate-pods HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    expect(await isClosed(silent.closed, 4_000)).toBe(true);
    expect(await isClosed(partial.closed, 4_000)).toBe(true);
    await stillServes(server);
  }, 30_000);

  it("answers 503 once the half-sent bodies of all connections reach maxInFlightBytes, and its memory stays bounded", async () => {
    const server = await startServer();
    const declared = 3_000_000; // under the 3 MiB body limit, so only the in-flight bound can refuse
    const chunk = Buffer.alloc(64 * 1024, "a");
    const before = process.memoryUsage().arrayBuffers;
    const heads: Promise<string>[] = [];
    for (let i = 0; i < 60; i++) {
      const { socket } = await open(server);
      heads.push(
        new Promise((resolve) => {
          let text = "";
          socket.on("data", (data: Buffer) => {
            text += data.toString("latin1");
            if (text.includes("\r\n\r\n")) resolve(text);
          });
          socket.on("error", () => resolve(text));
          socket.on("close", () => resolve(text));
        }),
      );
      socket.on("error", () => undefined);
      socket.write(
        `POST /mutate-pods HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
      );
      // All but the last byte: the server holds the body until it ends.
      for (let sent = 0; sent < declared - 1; sent += chunk.length)
        socket.write(chunk.subarray(0, Math.min(chunk.length, declared - 1 - sent)));
    }
    // Give the server time to read everything it accepts.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const grown = process.memoryUsage().arrayBuffers - before;
    const answered = await Promise.all(
      heads.map((h) =>
        Promise.race([h, new Promise<string>((resolve) => setTimeout(() => resolve(""), 2_000))]),
      ),
    );
    const overloaded = answered.filter((a) => a.startsWith("HTTP/1.1 503"));
    // 32 MiB holds 11 bodies of 3,000,000 bytes; the other 49 are refused as soon as they declare.
    expect(overloaded.length).toBe(60 - Math.floor(DEFAULT_SERVER_LIMITS.maxInFlightBytes / declared));
    expect(grown).toBeLessThan(100 * 1024 * 1024); // unbounded: ~180 MB of held bodies
    for (const socket of sockets.splice(0)) socket.destroy();
    await stillServes(server);
  }, 120_000);

  it("counts bodies without a declared length as their bytes arrive (chunked), and frees them when the client goes", async () => {
    const server = await startServer({ maxInFlightBytes: 1024 * 1024 });
    const { socket } = await open(server);
    const head = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (data: Buffer) => {
        text += data.toString("latin1");
        if (text.includes("\r\n\r\n")) resolve(text);
      });
      socket.on("close", () => resolve(text));
    });
    socket.on("error", () => undefined);
    socket.write(
      "POST /mutate-pods HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const piece = Buffer.alloc(256 * 1024, "a");
    for (let i = 0; i < 6; i++) socket.write(`${piece.length.toString(16)}\r\n${piece.toString()}\r\n`);
    const answer = await head;
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer).toContain("connection: close");
    socket.destroy();
    // The bytes it held are released: a normal review is answered.
    await stillServes(server);
  }, 30_000);
});
