/** Who may start a real node, and what the refusal says (pure: the host's facts are given). */
import { describe, expect, it } from "vitest";
import { realNodeUnavailableReason, type HostFacts } from "./real-node.js";

const root: HostFacts = { platform: "linux", uid: 0, has: () => true };

describe("realNodeUnavailableReason", () => {
  it.each([
    ["root on Linux with every tool", "containerd", root, undefined],
    ["a user who is not root", "containerd", { ...root, uid: 1000 }, "a real node needs root"],
    ["no uid at all (not POSIX)", "containerd", { ...root, uid: undefined }, "a real node needs root"],
    ["not Linux", "containerd", { ...root, platform: "darwin" }, "a real node needs Linux"],
    [
      "no runc",
      "containerd",
      { ...root, has: (t: string) => t !== "runc" },
      "needs runc on PATH (Debian: apt install runc)",
    ],
    ["no nsenter", "containerd", { ...root, has: (t: string) => t !== "nsenter" }, "apt install util-linux"],
    ["CRI-O without conmon", "cri-o", { ...root, has: (t: string) => t !== "conmon" }, "needs conmon"],
    ["containerd without conmon", "containerd", { ...root, has: (t: string) => t !== "conmon" }, undefined],
  ] as const)("%s", (_what, runtime, host, expected) => {
    const reason = realNodeUnavailableReason(runtime, host);
    if (expected === undefined) expect(reason).toBeUndefined();
    else expect(reason).toContain(expected);
  });
});
