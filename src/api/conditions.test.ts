import { describe, expect, it } from "vitest";
import {
  CONDITION_MESSAGE_LIMIT,
  ConditionType,
  formatTime,
  getCondition,
  isReady,
  isTerminalReason,
  Reason,
  removeCondition,
  setCondition,
  TERMINAL_REASONS,
  type ConditionUpdate,
} from "./conditions.js";
import { Condition, type ModelDeploymentStatus } from "./v1alpha1.js";

const T0 = new Date("2026-01-02T03:04:05.678Z");
const T1 = new Date("2026-01-02T04:00:00.000Z");
const T0_TEXT = "2026-01-02T03:04:05Z";
const T1_TEXT = "2026-01-02T04:00:00Z";

const resolvedTrue: ConditionUpdate = {
  type: ConditionType.Resolved,
  status: "True",
  reason: Reason.Resolved,
  message: "resolved to sha256:…",
  observedGeneration: 1,
};

describe("setCondition", () => {
  const existing: Condition[] = setCondition([], resolvedTrue, T0);

  it.each<[string, Partial<ConditionUpdate>, string]>([
    ["same everything", {}, T0_TEXT],
    ["new reason", { reason: Reason.Progressing }, T0_TEXT],
    ["new message", { message: "resolved again" }, T0_TEXT],
    ["new observedGeneration", { observedGeneration: 2 }, T0_TEXT],
    ["status True → False", { status: "False", reason: Reason.Unauthorized }, T1_TEXT],
    ["status True → Unknown", { status: "Unknown", reason: Reason.Progressing }, T1_TEXT],
  ])("%s: lastTransitionTime %s", (_name, change, time) => {
    const next = { ...resolvedTrue, ...change };
    const [condition] = setCondition(existing, next, T1);
    expect(condition).toEqual({
      type: next.type,
      status: next.status,
      observedGeneration: next.observedGeneration,
      lastTransitionTime: time,
      reason: next.reason,
      message: next.message,
    });
  });

  it("appends a new type with the current time, keeping the order of the others", () => {
    const validated = { ...resolvedTrue, type: ConditionType.Validated, reason: Reason.Validated };
    const both = setCondition(existing, validated, T1);
    expect(both.map((c) => [c.type, c.lastTransitionTime])).toEqual([
      ["Resolved", T0_TEXT],
      ["Validated", T1_TEXT],
    ]);
    const updated = setCondition(
      both,
      { ...resolvedTrue, status: "False", reason: Reason.SecretNotFound },
      T1,
    );
    expect(updated.map((c) => c.type)).toEqual(["Resolved", "Validated"]);
  });

  it("never mutates its input", () => {
    const before = structuredClone(existing);
    setCondition(existing, { ...resolvedTrue, status: "False", reason: Reason.Unauthorized }, T1);
    expect(existing).toEqual(before);
  });

  it("accepts undefined as an empty list and omits an unset observedGeneration", () => {
    const { observedGeneration: _unused, ...withoutGeneration } = resolvedTrue;
    expect(setCondition(undefined, withoutGeneration, T0)).toEqual([
      {
        type: "Resolved",
        status: "True",
        lastTransitionTime: T0_TEXT,
        reason: "Resolved",
        message: resolvedTrue.message,
      },
    ]);
  });

  it("cuts long messages so the status stays small, and the result stays schema-valid", () => {
    const [condition] = setCondition([], { ...resolvedTrue, message: "x".repeat(5000) }, T0);
    expect(condition?.message).toHaveLength(CONDITION_MESSAGE_LIMIT);
    expect(Condition.safeParse(condition).success).toBe(true);
  });
});

describe("getCondition and removeCondition", () => {
  const list = setCondition(setCondition([], resolvedTrue, T0), { ...resolvedTrue, type: "Stalled" }, T0);

  it("finds by type, or returns undefined", () => {
    expect(getCondition(list, "Stalled")?.type).toBe("Stalled");
    expect(getCondition(list, "Ready")).toBeUndefined();
    expect(getCondition(undefined, "Ready")).toBeUndefined();
  });

  it("removes by type without touching the input", () => {
    expect(removeCondition(list, "Stalled").map((c) => c.type)).toEqual(["Resolved"]);
    expect(removeCondition(list, "Ready")).toEqual(list);
    expect(list).toHaveLength(2);
    expect(removeCondition(undefined, "Ready")).toEqual([]);
  });
});

describe("isReady", () => {
  const ready = (status: "True" | "False", observedGeneration?: number) =>
    setCondition(
      [],
      {
        type: "Ready",
        status,
        reason: "Ready",
        message: "",
        ...(observedGeneration !== undefined && { observedGeneration }),
      },
      T0,
    );

  it.each<[string, ModelDeploymentStatus | undefined, boolean]>([
    ["no status", undefined, false],
    ["Ready True at this generation", { observedGeneration: 2, conditions: ready("True", 2) }, true],
    [
      "Ready True, condition without observedGeneration",
      { observedGeneration: 2, conditions: ready("True") },
      true,
    ],
    ["Ready False", { observedGeneration: 2, conditions: ready("False", 2) }, false],
    ["no Ready condition", { observedGeneration: 2, conditions: [] }, false],
    ["status from an older generation", { observedGeneration: 1, conditions: ready("True", 1) }, false],
    [
      "Ready condition from an older generation",
      { observedGeneration: 2, conditions: ready("True", 1) },
      false,
    ],
    ["no observedGeneration", { conditions: ready("True", 2) }, false],
  ])("%s → %s", (_name, status, expected) => {
    expect(isReady(status, 2)).toBe(expected);
  });
});

describe("reasons", () => {
  it("are CamelCase words the schema accepts", () => {
    for (const reason of Object.values(Reason)) {
      expect(reason).toMatch(/^[A-Z][A-Za-z]*$/);
      expect(Condition.shape.reason.safeParse(reason).success).toBe(true);
    }
  });

  it.each([
    [Reason.Unauthorized, true],
    [Reason.SecretNotFound, true],
    [Reason.NotModelPack, true],
    [Reason.RuntimeCannotMount, true],
    [Reason.RegistryUnavailable, false],
    [Reason.Progressing, false],
    [Reason.RollingOut, false],
    ["SomethingNew", false],
  ])("%s is terminal: %s", (reason, terminal) => {
    expect(isTerminalReason(reason)).toBe(terminal);
  });

  it("terminal reasons are all known reasons", () => {
    const known = new Set<string>(Object.values(Reason));
    expect([...TERMINAL_REASONS].filter((r) => !known.has(r))).toEqual([]);
  });
});

describe("formatTime", () => {
  it("writes RFC 3339 UTC with second precision, like metav1.Time", () => {
    expect(formatTime(T0)).toBe(T0_TEXT);
    expect(formatTime(new Date(Date.UTC(2026, 0, 2)))).toBe("2026-01-02T00:00:00Z");
  });
});
