import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createHealthServer } from "./health-server.js";
import { silentLogger } from "./logger.js";
import { COMMIT_ENV, readBuildInfo, registerProcessMetrics } from "./process-metrics.js";

describe("process metrics", () => {
  it("/metrics has the process and runtime defaults, build_info and the leader gauge", async () => {
    const registry = new Registry();
    let leading = false;
    registerProcessMetrics({
      registry,
      build: { version: "1.2.3", commit: "abc123" },
      isLeader: () => leading,
    });
    const server = createHealthServer({ port: 0, logger: silentLogger(), registry });
    const stop = new AbortController();
    const running = server.start(stop.signal);
    try {
      const { host, port } = await server.address();
      const scrape = async () => (await fetch(`http://${host}:${port}/metrics`)).text();
      const first = await scrape();
      for (const series of [
        /^process_cpu_seconds_total \d/m,
        /^process_resident_memory_bytes \d/m,
        /^nodejs_heap_size_used_bytes \d/m,
        /^nodejs_eventloop_lag_seconds \d/m,
        /^modelpack_operator_build_info\{version="1\.2\.3",commit="abc123"\} 1$/m,
        /^modelpack_operator_leader 0$/m,
      ])
        expect(first).toMatch(series);
      leading = true;
      expect(await scrape()).toMatch(/^modelpack_operator_leader 1$/m);
    } finally {
      stop.abort();
      await running;
    }
  });

  it("reads the version from the nearest modelpack-operator package.json and the commit from the env", async () => {
    const root = await mkdtemp(join(tmpdir(), "mpo-build-"));
    try {
      await writeFile(
        join(root, "package.json"),
        JSON.stringify({ name: "modelpack-operator", version: "9.8.7" }),
      );
      const nested = join(root, "dist", "src", "runtime");
      await mkdir(nested, { recursive: true });
      // a package.json of another package on the way up is skipped
      await writeFile(join(root, "dist", "package.json"), JSON.stringify({ name: "other", version: "1" }));
      expect(readBuildInfo({ [COMMIT_ENV]: " 0123abc " }, nested)).toEqual({
        version: "9.8.7",
        commit: "0123abc",
      });
      expect(readBuildInfo({}, nested).commit).toBe("unknown");
      // this checkout's own package.json
      expect(readBuildInfo({}).version).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
