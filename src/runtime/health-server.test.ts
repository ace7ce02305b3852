import { Counter, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createHealthServer, type HealthServerOptions } from "./health-server.js";
import { silentLogger } from "./logger.js";

async function serve(options: Partial<HealthServerOptions> = {}) {
  const server = createHealthServer({ port: 0, logger: silentLogger(), ...options });
  const stop = new AbortController();
  const running = server.start(stop.signal);
  const { host, port } = await server.address();
  const get = async (path: string) => {
    const response = await fetch(`http://${host}:${port}${path}`);
    return {
      status: response.status,
      body: await response.text(),
      type: response.headers.get("content-type"),
    };
  };
  return { server, get, host, stop: async () => (stop.abort(), await running) };
}

describe("health server", () => {
  it("binds 127.0.0.1 by default and answers /healthz while alive", async () => {
    const { get, host, stop } = await serve();
    expect(host).toBe("127.0.0.1");
    expect(await get("/healthz")).toMatchObject({ status: 200, body: "ok\n" });
    expect(await get("/nope")).toMatchObject({ status: 404 });
    await stop();
  });

  it("is ready only once every ready check passes, listing the failing ones like the apiserver", async () => {
    let synced = false;
    const { server, get, stop } = await serve({ readyChecks: { informers: () => synced } });
    server.addReadyCheck("webhook-cert", async () => true);
    const notReady = await get("/readyz");
    expect(notReady.status).toBe(503);
    expect(notReady.body).toBe("[-]informers failed\n[+]webhook-cert ok\nreadyz check failed\n");
    synced = true;
    expect(await get("/readyz")).toMatchObject({ status: 200, body: "ok\n" });
    expect((await get("/readyz?verbose")).body).toBe(
      "[+]informers ok\n[+]webhook-cert ok\nreadyz check passed\n",
    );
    expect(() => server.addReadyCheck("informers", () => true)).toThrow(/already registered/);
    await stop();
  });

  it("fails a check that throws or does not answer in time", async () => {
    const { get, stop } = await serve({
      checkTimeoutMs: 50,
      readyChecks: {
        broken: () => {
          throw new Error("cache error");
        },
        hanging: () => new Promise<boolean>(() => undefined),
      },
    });
    const answer = await get("/readyz");
    expect(answer.status).toBe(503);
    expect(answer.body).toContain("[-]broken failed: cache error");
    expect(answer.body).toContain("[-]hanging failed: no answer within 50 ms");
    await stop();
  });

  it("serves the injected registry on /metrics, not the global one", async () => {
    const registry = new Registry();
    new Counter({ name: "modelpack_test_total", help: "test", registers: [registry] }).inc(3);
    const { get, stop } = await serve({ registry });
    const metrics = await get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toBe(registry.contentType);
    expect(metrics.body).toContain("modelpack_test_total 3");
    expect(metrics.body).not.toContain("process_cpu");
    await stop();
    const bare = await serve();
    expect((await bare.get("/metrics")).status).toBe(404);
    await bare.stop();
  });

  it("rejects start when the port is taken, and needs no leader election", async () => {
    const first = await serve();
    const { port } = await first.server.address();
    const second = createHealthServer({ port, logger: silentLogger() });
    expect(second.needLeaderElection()).toBe(false);
    await expect(second.start(new AbortController().signal)).rejects.toThrow(/EADDRINUSE/);
    await expect(second.address()).rejects.toThrow(/EADDRINUSE/);
    await first.stop();
  });
});
