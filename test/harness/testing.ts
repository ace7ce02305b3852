/**
 * vitest helpers for tests that need a control plane: one shared start per test file, the
 * component logs printed when a test fails, and small polling and error-reading utilities.
 */
import { ApiException, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, beforeEach, onTestFailed } from "vitest";
import { z } from "zod";
import {
  startControlPlane,
  type ControlPlane,
  type FullControlPlane,
  type StartControlPlaneOptions,
} from "./control-plane.js";
import { ensureTools, type ToolName } from "./tools.js";
import { controlPlaneTools, DEFAULT_KUBERNETES_VERSION } from "./versions.js";

/** A cold build of the Kubernetes tools takes many minutes; only the first run pays it. */
const TOOL_BUILD_TIMEOUT_MS = 45 * 60_000;

/**
 * Starts one control plane for the current test file (beforeAll) and stops it (afterAll). Tools
 * are built in an earlier hook with a long timeout, so `startupMs` measures a warm start. When a
 * test fails, the tail of every component's log is printed. Returns a getter usable inside tests.
 */
export function useControlPlane(options: StartControlPlaneOptions & { full: true }): () => FullControlPlane;
export function useControlPlane(options?: StartControlPlaneOptions): () => ControlPlane;
export function useControlPlane(options: StartControlPlaneOptions = {}): () => ControlPlane {
  let plane: ControlPlane | undefined;
  const version = options.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION;
  const tools: ToolName[] = controlPlaneTools(version, options.full ?? false);
  beforeAll(async () => {
    await ensureTools(tools);
  }, TOOL_BUILD_TIMEOUT_MS);
  beforeAll(async () => {
    plane = await startControlPlane(options);
  });
  afterAll(async () => {
    await plane?.stop();
  });
  beforeEach(() => {
    onTestFailed(() => {
      if (plane) console.error(`control-plane logs (folder ${plane.dir}):\n${plane.logTails(40)}`);
    });
  });
  return () => {
    if (!plane) throw new Error("the control plane did not start; see the beforeAll error");
    return plane;
  };
}

/**
 * Calls `probe` every `intervalMs` (default 250) until it returns a value other than undefined,
 * and returns that. Throws after `timeoutMs` (default 30 s) with `what` and the last probe error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError === undefined ? "" : ` (last error: ${errorMessage(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

const Status = z.object({ message: z.string() });

/** The `message` of the Kubernetes Status in an ApiException, else the error's own message. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    let json: unknown = body;
    if (typeof body === "string") {
      try {
        json = JSON.parse(body);
      } catch {
        return body;
      }
    }
    const status = Status.safeParse(json);
    return status.success ? status.data.message : String(body);
  }
  return err instanceof Error ? err.message : String(err);
}

/** Runs `action`, expecting it to throw; returns the thrown error's message (see errorMessage). */
export async function rejectionMessage(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (err) {
    return errorMessage(err);
  }
  throw new Error("expected the request to be rejected, but it succeeded");
}

/** Creates a namespace with `labels`; returns its name (`<prefix>-<random>`). */
export async function createNamespace(
  kubeConfig: KubeConfig,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name, labels } } });
  return name;
}
