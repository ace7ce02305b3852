/**
 * The record `harness up` leaves in `.harness/` so that later `status` and `down` calls (other
 * processes) can find the components: pids with their start times, ports, paths.
 */
import { readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { COMPONENT_NAMES } from "./components.js";
import { HarnessError } from "./errors.js";

export const HarnessState = z.object({
  format: z.literal(1),
  startedAt: z.string(),
  startupMs: z.number(),
  full: z.boolean(),
  featureGates: z.record(z.string(), z.boolean()),
  server: z.string(),
  version: z.string(),
  kubeconfigPath: z.string(),
  caPath: z.string(),
  dir: z.string(),
  /** With `up --real-node`: the node's runtime, the registry it trusts and its teardown ledger. */
  realNode: z
    .object({
      runtime: z.enum(["containerd", "cri-o"]),
      registry: z.string(),
      ledgerPath: z.string(),
      node: z.string(),
    })
    .optional(),
  components: z.array(
    z.object({
      name: z.enum(COMPONENT_NAMES),
      pid: z.number().int().positive(),
      startTime: z.string().optional(),
      port: z.number().int().optional(),
      logPath: z.string(),
    }),
  ),
});
export type HarnessState = z.infer<typeof HarnessState>;

/** Files of the `harness` CLI below the repository root. */
export interface StateLayout {
  /** `.harness/` */
  root: string;
  /** `.harness/state.json` */
  statePath: string;
  /** `.harness/kubeconfig`, a copy of the control plane's admin kubeconfig */
  kubeconfigPath: string;
  /** `.harness/control-plane/`: PKI, etcd data, logs */
  dir: string;
}

/** The layout below `root` (normally `<repo>/.harness`). */
export function stateLayout(root: string): StateLayout {
  return {
    root,
    statePath: join(root, "state.json"),
    kubeconfigPath: join(root, "kubeconfig"),
    dir: join(root, "control-plane"),
  };
}

/** Reads the state file; undefined if there is none. Throws `state-invalid` if it cannot be parsed. */
export async function readState(layout: StateLayout): Promise<HarnessState | undefined> {
  let text: string;
  try {
    text = await readFile(layout.statePath, "utf8");
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new HarnessError("state-invalid", `${layout.statePath} is not JSON; delete it and retry`, {
      cause: err,
    });
  }
  const parsed = HarnessState.safeParse(json);
  if (!parsed.success) {
    throw new HarnessError(
      "state-invalid",
      `${layout.statePath} is not a harness state file (${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}); delete it and retry`,
    );
  }
  return parsed.data;
}

export async function writeState(layout: StateLayout, state: HarnessState): Promise<void> {
  await writeFile(layout.statePath, JSON.stringify(state, null, 2) + "\n");
}

/** Removes the state file, the kubeconfig copy and the control-plane folder except its logs. */
export async function removeState(layout: StateLayout): Promise<void> {
  await rm(layout.statePath, { force: true });
  await rm(layout.kubeconfigPath, { force: true });
  let entries: string[];
  try {
    entries = await readdir(layout.dir);
  } catch {
    return;
  }
  // The logs stay until the next `up`: they are what explains a crash after the fact.
  await Promise.all(
    entries.filter((e) => e !== "logs").map((e) => rm(join(layout.dir, e), { recursive: true, force: true })),
  );
}
