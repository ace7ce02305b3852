import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { holderIsGone, lockDestination, lockPathFor, type ProcessFacts } from "./lock.js";

const holder = { hostname: "pod-a", pid: 1, bootId: "boot-1", processStart: "100" };

describe("holderIsGone", () => {
  it.each([
    [
      "same host and boot, pid runs nothing",
      { hostname: "pod-a", bootId: "boot-1", startOfHolderPid: undefined },
      true,
    ],
    [
      "same host and boot, pid reused by a later process (a restarted init container)",
      { hostname: "pod-a", bootId: "boot-1", startOfHolderPid: "250" },
      true,
    ],
    [
      "same host and boot, the holder still runs",
      { hostname: "pod-a", bootId: "boot-1", startOfHolderPid: "100" },
      false,
    ],
    [
      "another host sharing the folder",
      { hostname: "pod-b", bootId: "boot-1", startOfHolderPid: undefined },
      false,
    ],
    [
      "after a reboot the pid says nothing",
      { hostname: "pod-a", bootId: "boot-2", startOfHolderPid: undefined },
      false,
    ],
    [
      "no boot id here (not Linux)",
      { hostname: "pod-a", bootId: undefined, startOfHolderPid: undefined },
      false,
    ],
  ])("%s → %s", (_what, here, gone) => {
    expect(holderIsGone(holder, here)).toBe(gone);
  });

  it("trusts nothing about a lock written without process facts", () => {
    expect(
      holderIsGone(
        { hostname: "pod-a", pid: 1 },
        { hostname: "pod-a", bootId: "boot-1", startOfHolderPid: undefined },
      ),
    ).toBe(false);
  });
});

describe("lockDestination", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("takes over at once a fresh lock whose process is gone, and waits for a live one", async () => {
    dir = await mkdtemp(join(tmpdir(), "mpo-lock-"));
    const dest = join(dir, "model");
    const facts: ProcessFacts = {
      bootId: () => "boot-1",
      startOf: (pid) => (pid === process.pid ? "500" : undefined),
    };
    const exited = spawnSync(process.execPath, ["-e", ""]).pid ?? 0;
    const left = {
      token: "t",
      pid: exited,
      hostname: hostname(),
      startedAt: "x",
      bootId: "boot-1",
      processStart: "42",
    };
    await writeFile(lockPathFor(dest), JSON.stringify(left)); // just written: not stale by age
    const started = Date.now();
    const lock = await lockDestination(dest, { processFacts: facts, staleMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(2_000);

    // A second pull of this same (live) process waits: its holder is provably running.
    const waited: string[] = [];
    await expect(
      lockDestination(dest, {
        processFacts: facts,
        staleMs: 60_000,
        timeoutMs: 300,
        onWait: (h) => waited.push(h),
      }),
    ).rejects.toThrow(/holds the lock/);
    expect(waited).toHaveLength(1);
    await lock.release();
  });
});
