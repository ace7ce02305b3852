import { describe, expect, it } from "vitest";
import { setCondition, type ConditionUpdate } from "./conditions.js";
import { deriveSummary, summarize, type SummaryInput } from "./summarize.js";
import type { Condition, PodCounts } from "./v1alpha1.js";

const T0 = new Date("2026-01-02T03:04:05Z");
const T1 = new Date("2026-01-02T04:00:00Z");
const GENERATION = 3;

type Step = Omit<ConditionUpdate, "type">;
const ok = (reason: string): Step => ({
  status: "True",
  reason,
  message: "fine",
  observedGeneration: GENERATION,
});
const failed = (reason: string, message = "why"): Step => ({
  status: "False",
  reason,
  message,
  observedGeneration: GENERATION,
});
const ALL_OK = {
  Resolved: ok("Resolved"),
  Validated: ok("Validated"),
  MountSupported: ok("ImageVolumeSupported"),
};

function conditionsOf(steps: Partial<Record<string, Step>>): Condition[] {
  let conditions: Condition[] = [];
  for (const [type, step] of Object.entries(steps)) {
    if (step !== undefined) conditions = setCondition(conditions, { type, ...step }, T0);
  }
  return conditions;
}

/** The summary as `Type=Status/Reason` strings, absent conditions left out. */
function summaryOf(
  input: Omit<SummaryInput, "generation" | "conditions"> & { steps: Partial<Record<string, Step>> },
) {
  const summary = deriveSummary({ ...input, generation: GENERATION, conditions: conditionsOf(input.steps) });
  return [summary.ready, summary.reconciling, summary.stalled]
    .filter((c) => c !== undefined)
    .map((c) => `${c.type}=${c.status}/${c.reason}`);
}

const pods = (matched: number, current: number, stale: number): PodCounts => ({ matched, current, stale });

describe("deriveSummary (kstatus)", () => {
  it.each<[string, Partial<Record<string, Step>>, PodCounts | undefined, "Rollout" | "Pinned", string[]]>([
    ["every step True", ALL_OK, pods(2, 2, 0), "Rollout", ["Ready=True/Ready"]],
    ["every step True, pods not counted", ALL_OK, undefined, "Rollout", ["Ready=True/Ready"]],
    [
      "no conditions yet",
      {},
      undefined,
      "Rollout",
      ["Ready=False/Progressing", "Reconciling=True/Progressing"],
    ],
    [
      "a step not checked yet",
      { Resolved: ALL_OK.Resolved, Validated: ALL_OK.Validated },
      undefined,
      "Rollout",
      ["Ready=False/Progressing", "Reconciling=True/Progressing"],
    ],
    [
      "a step checked for an older generation",
      { ...ALL_OK, Validated: { ...ALL_OK.Validated, observedGeneration: GENERATION - 1 } },
      undefined,
      "Rollout",
      ["Ready=False/Progressing", "Reconciling=True/Progressing"],
    ],
    [
      "a step Unknown",
      { ...ALL_OK, MountSupported: { status: "Unknown", reason: "Progressing", message: "probing" } },
      undefined,
      "Rollout",
      ["Ready=False/Progressing", "Reconciling=True/Progressing"],
    ],
    [
      "transient failure: registry down",
      { ...ALL_OK, Resolved: failed("RegistryUnavailable") },
      undefined,
      "Rollout",
      ["Ready=False/RegistryUnavailable", "Reconciling=True/RegistryUnavailable"],
    ],
    [
      "terminal failure: wrong password",
      { ...ALL_OK, Resolved: failed("Unauthorized") },
      undefined,
      "Rollout",
      ["Ready=False/Unauthorized", "Stalled=True/Unauthorized"],
    ],
    [
      "terminal failure beats a transient one and a stale step",
      {
        Resolved: { ...failed("RegistryUnavailable"), observedGeneration: 1 },
        Validated: failed("NotModelPack"),
        MountSupported: failed("RegistryUnavailable"),
      },
      undefined,
      "Rollout",
      ["Ready=False/NotModelPack", "Stalled=True/NotModelPack"],
    ],
    [
      "the first terminal step in order wins",
      {
        Resolved: failed("SecretNotFound"),
        Validated: failed("ValidationFailed"),
        MountSupported: ALL_OK.MountSupported,
      },
      undefined,
      "Rollout",
      ["Ready=False/SecretNotFound", "Stalled=True/SecretNotFound"],
    ],
    [
      "an unknown False reason counts as transient",
      { ...ALL_OK, MountSupported: failed("SomethingNew") },
      undefined,
      "Rollout",
      ["Ready=False/SomethingNew", "Reconciling=True/SomethingNew"],
    ],
    [
      "stale pods under Rollout",
      ALL_OK,
      pods(4, 3, 1),
      "Rollout",
      ["Ready=False/RollingOut", "Reconciling=True/RollingOut"],
    ],
    ["stale pods under Pinned", ALL_OK, pods(4, 3, 1), "Pinned", ["Ready=True/Ready"]],
    ["no pods selected", ALL_OK, pods(0, 0, 0), "Rollout", ["Ready=True/Ready"]],
  ])("%s", (_name, steps, podCounts, updatePolicy, expected) => {
    expect(summaryOf({ steps, pods: podCounts, updatePolicy })).toEqual(expected);
  });

  it("carries the blocking step's message and the generation", () => {
    const summary = deriveSummary({
      generation: GENERATION,
      conditions: conditionsOf({
        ...ALL_OK,
        Resolved: failed("SecretNotFound", 'Secret "regcred" not found'),
      }),
      updatePolicy: "Rollout",
    });
    expect(summary.stalled).toEqual({
      type: "Stalled",
      status: "True",
      reason: "SecretNotFound",
      message: 'Resolved: Secret "regcred" not found',
      observedGeneration: GENERATION,
    });
    expect(summary.ready.message).toBe(summary.stalled?.message);
  });

  it("says how many pods mount the model when Ready", () => {
    const summary = deriveSummary({
      generation: GENERATION,
      conditions: conditionsOf(ALL_OK),
      pods: pods(4, 3, 1),
      updatePolicy: "Pinned",
    });
    expect(summary.ready.message).toBe(
      "the model is resolved, valid and mountable; 3 of 4 selected pods mount it; 1 keep an earlier digest (updatePolicy Pinned)",
    );
  });
});

describe("deriveSummary: failed refresh and rollout permission", () => {
  it.each(["RegistryUnavailable", "Unauthorized", "ManifestNotFound"])(
    "a False Resolved (%s) does not hold back Ready while the verified digest is served",
    (reason) => {
      const input = {
        generation: GENERATION,
        conditions: conditionsOf({ ...ALL_OK, Resolved: failed(reason) }),
        updatePolicy: "Rollout" as const,
      };
      expect(deriveSummary(input).ready.status).toBe("False");
      const serving = deriveSummary({ ...input, servingVerifiedDigest: true });
      expect(serving.ready).toMatchObject({ status: "True", reason: "Ready" });
      expect(serving.ready.message).toContain(`last refresh failed (Resolved: ${reason})`);
      expect(serving.stalled).toBeUndefined();
      expect(serving.reconciling).toBeUndefined();
    },
  );

  it("serving does not excuse a failed Validated or MountSupported", () => {
    const summary = deriveSummary({
      generation: GENERATION,
      conditions: conditionsOf({ ...ALL_OK, MountSupported: failed("RuntimeCannotMount") }),
      updatePolicy: "Rollout",
      servingVerifiedDigest: true,
    });
    expect(summary.ready.status).toBe("False");
  });

  it("without the workload-patch permission, stale pods under Rollout leave Ready True and say who must restart them", () => {
    const summary = deriveSummary({
      generation: GENERATION,
      conditions: conditionsOf(ALL_OK),
      pods: pods(4, 3, 1),
      updatePolicy: "Rollout",
      workloadRollout: false,
    });
    expect(summary.ready.status).toBe("True");
    expect(summary.ready.message).toContain("run --workload-rollout");
    expect(summary.reconciling).toBeUndefined();
  });
});

describe("summarize", () => {
  const base = conditionsOf({ ...ALL_OK, Resolved: failed("RegistryUnavailable") });

  it("sets Ready and Reconciling, leaving the step conditions alone", () => {
    const conditions = summarize({ generation: GENERATION, conditions: base, updatePolicy: "Rollout" }, T0);
    expect(conditions.map((c) => `${c.type}=${c.status}`)).toEqual([
      "Resolved=False",
      "Validated=True",
      "MountSupported=True",
      "Ready=False",
      "Reconciling=True",
    ]);
    expect(conditions.slice(0, 3)).toEqual(base);
  });

  it("removes Reconciling and Stalled once they no longer hold, and moves Ready's time only when it flips", () => {
    const first = summarize({ generation: GENERATION, conditions: base, updatePolicy: "Rollout" }, T0);
    const stalled = summarize(
      {
        generation: GENERATION,
        conditions: setCondition(first, { type: "Resolved", ...failed("Unauthorized") }, T1),
        updatePolicy: "Rollout",
      },
      T1,
    );
    expect(stalled.map((c) => c.type)).toEqual([
      "Resolved",
      "Validated",
      "MountSupported",
      "Ready",
      "Stalled",
    ]);
    // Ready stayed False (reason changed): its transition time is still T0.
    expect(stalled.find((c) => c.type === "Ready")?.lastTransitionTime).toBe("2026-01-02T03:04:05Z");

    const recovered = summarize(
      {
        generation: GENERATION,
        conditions: setCondition(stalled, { type: "Resolved", ...ok("Resolved") }, T1),
        updatePolicy: "Rollout",
      },
      T1,
    );
    expect(recovered.map((c) => `${c.type}=${c.status}`)).toEqual([
      "Resolved=True",
      "Validated=True",
      "MountSupported=True",
      "Ready=True",
    ]);
    expect(recovered.find((c) => c.type === "Ready")?.lastTransitionTime).toBe("2026-01-02T04:00:00Z");
  });

  it("is idempotent: summarizing a summary changes nothing", () => {
    const once = summarize({ generation: GENERATION, conditions: base, updatePolicy: "Rollout" }, T0);
    expect(summarize({ generation: GENERATION, conditions: once, updatePolicy: "Rollout" }, T1)).toEqual(
      once,
    );
  });
});
