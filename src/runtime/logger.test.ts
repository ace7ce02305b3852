import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createLogger } from "./logger.js";

const Line = z.record(z.string(), z.unknown());

function capture(): { lines: () => Record<string, unknown>[]; destination: { write(line: string): void } } {
  const raw: string[] = [];
  return {
    destination: { write: (line: string) => void raw.push(line) },
    lines: () => raw.map((line) => Line.parse(JSON.parse(line))),
  };
}

describe("createLogger", () => {
  it("writes one JSON line per call with a constant message and variable data in fields", () => {
    const out = capture();
    const logger = createLogger({ name: "modelpack-operator", destination: out.destination });
    logger.info({ namespace: "ml", name: "llama" }, "resolved reference");
    const [line] = out.lines();
    expect(line).toMatchObject({
      level: "info",
      logger: "modelpack-operator",
      msg: "resolved reference",
      namespace: "ml",
      name: "llama",
    });
    expect(typeof line?.time).toBe("string");
    expect(new Date(String(line?.time)).toISOString()).toBe(line?.time);
  });

  it("child loggers carry controller, namespace, name and reconcileID without clobbering the logger name", () => {
    const out = capture();
    const root = createLogger({ name: "op", destination: out.destination });
    const child = root
      .child({ controller: "modeldeployment" })
      .child({ namespace: "ml", name: "llama", reconcileID: "r-1" });
    child.warn("reconcile slow");
    expect(out.lines()[0]).toMatchObject({
      logger: "op",
      controller: "modeldeployment",
      namespace: "ml",
      name: "llama",
      reconcileID: "r-1",
      msg: "reconcile slow",
    });
  });

  it("serialises errors under err with their cause, and filters by level", () => {
    const out = capture();
    const logger = createLogger({ level: "warn", destination: out.destination });
    logger.info("not written");
    logger.error({ err: new Error("outer", { cause: new Error("inner") }) }, "reconcile failed");
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", msg: "reconcile failed", err: { type: "Error" } });
    expect(JSON.stringify(lines[0])).toContain("inner");
  });
});
