/**
 * What every operator's /metrics has besides its own series, after controller-runtime (which
 * exposes `process_*`, `go_*` and `leader_election_master_status`): prom-client's default process
 * and Node.js runtime metrics, unprefixed (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, `nodejs_eventloop_lag_seconds`, …),
 * `modelpack_operator_build_info{version,commit} 1`, and `modelpack_operator_leader`.
 *
 * Guarantees:
 * - Everything is registered on the injected Registry, never prom-client's global one; a second
 *   call on the same Registry throws (prom-client refuses duplicate names).
 * - Values are read when scraped (no timers of their own beyond prom-client's event-loop delay
 *   monitor and GC observer, which do not keep the process alive).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { collectDefaultMetrics, Gauge, type Registry } from "prom-client";
import { z } from "zod";

/** The build a process runs: `version` from package.json, `commit` from the environment. */
export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
}

/** Environment variable with the source commit of the build (the image's revision); else "unknown". */
export const COMMIT_ENV = "MODELPACK_OPERATOR_COMMIT";

const PackageJson = z.object({ name: z.literal("modelpack-operator"), version: z.string().min(1) });

/**
 * The running build: the version of the nearest `modelpack-operator` package.json above this
 * module (the checkout's, the image's /app/package.json, or the installed package's), else
 * "unknown"; the commit from $MODELPACK_OPERATOR_COMMIT, else "unknown". Never throws.
 */
export function readBuildInfo(env: NodeJS.ProcessEnv, from: string = import.meta.dirname): BuildInfo {
  const commit = env[COMMIT_ENV]?.trim();
  return {
    version: findPackageVersion(from) ?? "unknown",
    commit: commit === undefined || commit === "" ? "unknown" : commit,
  };
}

/** Looks at most 5 folders up: src/runtime → the root, dist/src/runtime → the root. */
function findPackageVersion(from: string): string | undefined {
  let dir = from;
  for (let i = 0; i < 5; i++) {
    let text: string | undefined;
    try {
      text = readFileSync(join(dir, "package.json"), "utf8");
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = PackageJson.safeParse(json);
      if (parsed.success) return parsed.data.version;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** Options of `registerProcessMetrics`. */
export interface ProcessMetricsOptions {
  readonly registry: Registry;
  readonly build: BuildInfo;
  /**
   * Whether this replica leads (reconciles), read on every scrape: `modelpack_operator_leader`
   * is 1 when it does, 0 when it does not.
   */
  readonly isLeader: () => boolean;
}

/** Registers the default metrics, build_info and the leader gauge on `registry`. */
export function registerProcessMetrics(options: ProcessMetricsOptions): void {
  const registers = [options.registry];
  collectDefaultMetrics({ register: options.registry });
  new Gauge({
    name: "modelpack_operator_build_info",
    help: "Always 1; the labels say which build runs (version from package.json, commit or unknown).",
    labelNames: ["version", "commit"] as const,
    registers,
  }).set({ version: options.build.version, commit: options.build.commit }, 1);
  const { isLeader } = options;
  new Gauge({
    name: "modelpack_operator_leader",
    help: "1 when this replica holds the leader lease (or runs without leader election) and reconciles, else 0.",
    registers,
    collect() {
      this.set(isLeader() ? 1 : 0);
    },
  });
}
