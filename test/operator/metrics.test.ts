import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNamespace, useControlPlane, waitFor } from "../harness/testing.js";
import { installCrd } from "../support/crd.js";
import { startOperatorProcess, type OperatorProcess } from "../support/operator-process.js";

const plane = useControlPlane();

/**
 * The /metrics of `modelpack-operator run` processes (two replicas, one lease): besides the
 * operator's own series, prom-client's process and Node.js runtime metrics, build_info and
 * whether the replica leads.
 */
describe("the operator's /metrics", () => {
  const replicas: OperatorProcess[] = [];
  let namespace: string;

  beforeAll(async () => {
    await installCrd(plane().kubeconfigPath, plane().kubeConfig);
    namespace = await createNamespace(plane().kubeConfig, "metrics");
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
  });

  const start = async (identity: string, waitFor: "readyz" | "healthz"): Promise<OperatorProcess> => {
    const replica = await startOperatorProcess({
      kubeconfigPath: plane().kubeconfigPath,
      plainHttpRegistries: [],
      webhook: false,
      waitFor,
      args: ["--namespace", namespace, "--watch-namespace", namespace],
      env: { POD_NAME: identity, MODELPACK_OPERATOR_COMMIT: "0123456789abcdef" },
    });
    replicas.push(replica);
    return replica;
  };
  const scrape = async (replica: OperatorProcess): Promise<string> =>
    (await fetch(`http://127.0.0.1:${replica.healthPort}/metrics`)).text();

  it("has process_*, nodejs_*, build_info and modelpack_operator_leader (1 on the leader, 0 on the other)", async () => {
    const leader = await start("metrics-a", "readyz"); // ready once it leads
    const follower = await start("metrics-b", "healthz");
    const { version } = JSON.parse(
      await readFile(join(import.meta.dirname, "..", "..", "package.json"), "utf8"),
    ) as { version: string };

    const led = await scrape(leader);
    for (const series of [
      /^process_cpu_seconds_total \d/m,
      /^process_resident_memory_bytes \d/m,
      /^nodejs_heap_size_used_bytes \d/m,
      /^nodejs_eventloop_lag_seconds \d/m,
      new RegExp(
        `^modelpack_operator_build_info\\{version="${version}",commit="0123456789abcdef"\\} 1$`,
        "m",
      ),
      /^modelpack_operator_leader 1$/m,
      /^modelpack_modeldeployments\{ready="True"\} 0$/m,
    ])
      expect(led).toMatch(series);
    await waitFor(
      "the follower's modelpack_operator_leader 0",
      async () => (/^modelpack_operator_leader 0$/m.test(await scrape(follower)) ? true : undefined),
      { timeoutMs: 10_000 },
    );
    expect(await scrape(follower)).toMatch(/^process_cpu_seconds_total \d/m);
  });
});
