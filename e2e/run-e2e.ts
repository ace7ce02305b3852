import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { parseRuntimeVersion } from "../src/controller/capabilities.js";
import {
  SCENARIOS,
  uniqueSuffix,
  waitFor,
  type EffectiveStrategy,
  type ScenarioOptions,
} from "./scenarios.js";

/**
 * Runs the e2e scenarios against the cluster of the current kubeconfig (`$KUBECONFIG`, else
 * ~/.kube/config), where modelpack-operator is installed and Ready, and prints PASS/FAIL per
 * scenario. Exit code 0 only when every selected scenario passed. `npx tsx e2e/run-e2e.ts --help`.
 */
const HELP = `Usage: npx tsx e2e/run-e2e.ts [SCENARIO ...]

Runs the e2e scenarios against the current kubeconfig's cluster (modelpack-operator installed).
Scenarios: ${SCENARIOS.map((s) => s.name).join(", ")} (default: all).

Environment:
  E2E_TEST_IMAGE          required: the serving container image (busybox-like: sh, cat, sleep)
  E2E_REGISTRY_HOST       the registry as the cluster reaches it (default kind-registry:5000)
  E2E_REGISTRY_PUSH_URL   the same registry as this machine reaches it (default http://127.0.0.1:5001)
  E2E_REGISTRY_USERNAME, E2E_REGISTRY_PASSWORD   push credentials, if the registry wants them
  E2E_PLAIN_HTTP          true|false: the operator speaks plain HTTP to the registry (default true)
  E2E_EXPECT_STRATEGY     ImageVolume|InitContainer: what Auto must pick (default: from the nodes'
                          runtimes: CRI-O >= 1.34 on every node gives ImageVolume, else InitContainer)
  E2E_TIMEOUT_SECONDS     patience for pods per step (default 300)
  E2E_KEEP_NAMESPACES     1: keep each scenario's namespace (default: deleted when it passed)
`;

const env = (name: string, fallback: string): string => {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : value;
};
const log = (line: string): void => void process.stdout.write(`  ${line}\n`);

/** What `strategy: Auto` picks on these nodes, by the same rule the controller documents. */
function expectedStrategy(runtimes: readonly string[]): EffectiveStrategy {
  const imageVolume = runtimes.every((r) => {
    const parsed = parseRuntimeVersion(r);
    const [major = 0, minor = 0] = parsed.version ?? [];
    return parsed.runtime === "cri-o" && (major > 1 || (major === 1 && minor >= 34));
  });
  return runtimes.length > 0 && imageVolume ? "ImageVolume" : "InitContainer";
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = args.filter((a) => !SCENARIOS.some((s) => s.name === a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(", ")}\n\n${HELP}`);
    return 2;
  }
  const testImage = env("E2E_TEST_IMAGE", "");
  if (testImage === "") {
    process.stderr.write(
      `E2E_TEST_IMAGE is required (a busybox-like image with sh, cat and sleep)\n\n${HELP}`,
    );
    return 2;
  }
  const requestedStrategy = env("E2E_EXPECT_STRATEGY", "");
  if (
    requestedStrategy !== "" &&
    requestedStrategy !== "ImageVolume" &&
    requestedStrategy !== "InitContainer"
  ) {
    process.stderr.write(
      `E2E_EXPECT_STRATEGY must be ImageVolume or InitContainer, not ${requestedStrategy}\n`,
    );
    return 2;
  }

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const nodes = (await core.listNode()).items;
  const runtimes = nodes.map((n) => n.status?.nodeInfo?.containerRuntimeVersion ?? "");
  const expectStrategy = requestedStrategy === "" ? expectedStrategy(runtimes) : requestedStrategy;
  process.stdout.write(
    `cluster ${kubeConfig.getCurrentCluster()?.server ?? "?"}: ${nodes.length} node(s), ` +
      `${[...new Set(runtimes)].join(", ")}, kubelet ${nodes[0]?.status?.nodeInfo?.kubeletVersion ?? "?"}; ` +
      `expecting Auto → ${expectStrategy}\n`,
  );

  const base = {
    kubeConfig,
    registryHost: env("E2E_REGISTRY_HOST", "kind-registry:5000"),
    pushUrl: env("E2E_REGISTRY_PUSH_URL", "http://127.0.0.1:5001"),
    plainHttp: env("E2E_PLAIN_HTTP", "true") === "true",
    testImage,
    expectStrategy,
    timeoutMs: Number(env("E2E_TIMEOUT_SECONDS", "300")) * 1000,
    log,
    ...(process.env.E2E_REGISTRY_USERNAME !== undefined && {
      pushUsername: process.env.E2E_REGISTRY_USERNAME,
    }),
    ...(process.env.E2E_REGISTRY_PASSWORD !== undefined && {
      pushPassword: process.env.E2E_REGISTRY_PASSWORD,
    }),
  };
  const keep = env("E2E_KEEP_NAMESPACES", "") === "1";
  const selected = args.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => args.includes(s.name));

  const results: { name: string; passed: boolean; seconds: number }[] = [];
  for (const scenario of selected) {
    const namespace = `e2e-${scenario.name}-${uniqueSuffix()}`;
    process.stdout.write(`\n=== ${scenario.name}: ${scenario.description} (namespace ${namespace})\n`);
    const started = Date.now();
    let passed = false;
    try {
      await core.createNamespace({
        body: { metadata: { name: namespace, labels: { "modelpack.dev/e2e": "true" } } },
      });
      const options: ScenarioOptions = { ...base, namespace };
      await scenario.run(options);
      passed = true;
    } catch (err) {
      process.stdout.write(`  error: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    const seconds = Math.round((Date.now() - started) / 1000);
    results.push({ name: scenario.name, passed, seconds });
    process.stdout.write(`${passed ? "PASS" : "FAIL"} ${scenario.name} (${seconds} s)\n`);
    if (passed && !keep) {
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
      // Let the namespace go before the next scenario so pods of both do not compete on a small node.
      await waitFor(
        `namespace ${namespace} to be deleted`,
        async () =>
          (await core.readNamespace({ name: namespace }).catch(() => undefined)) === undefined
            ? true
            : undefined,
        { timeoutMs: 120_000, intervalMs: 2_000 },
      ).catch(() => undefined);
    } else if (!passed) {
      process.stdout.write(
        `  kept namespace ${namespace} for inspection: kubectl get all,md -n ${namespace}\n`,
      );
    }
  }

  process.stdout.write("\nSummary:\n");
  for (const r of results)
    process.stdout.write(`  ${r.passed ? "PASS" : "FAIL"}  ${r.name} (${r.seconds} s)\n`);
  const failed = results.filter((r) => !r.passed).length;
  process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`e2e: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
