import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, issueLine, shortDigest, table } from "./format.js";
import { createProgressReporter, describeProgress } from "./progress.js";

describe("formatting", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1536, "1.50 KiB"],
    [10 * 1024 * 1024, "10.0 MiB"],
    [2 * 1024 ** 3, "2.00 GiB"],
  ])("formatBytes(%d) = %s", (n, s) => expect(formatBytes(n)).toBe(s));

  it.each([
    [5, "5s"],
    [65, "1m05s"],
    [3725, "1h02m"],
    [Infinity, "?"],
  ])("formatDuration(%d) = %s", (n, s) => expect(formatDuration(n)).toBe(s));

  it("shortens digests and aligns tables", () => {
    expect(shortDigest("sha256:" + "ab".repeat(32))).toBe("sha256:abababababab");
    expect(
      table([
        ["a", "bb", "c"],
        ["ddd", "e", "f"],
      ]),
    ).toBe("  a    bb  c\n  ddd  e   f");
  });

  it("describes progress with rate and ETA", () => {
    expect(
      describeProgress(
        { bytesDone: 512 * 1024 ** 2, bytesTotal: 1024 ** 3, layersDone: 1, layersTotal: 2 },
        1,
      ),
    ).toBe("512.0 MiB / 1.00 GiB (50.0%), 1/2 layers, 512.0 MiB/s, ETA 1s");
  });

  it("prints log lines at an interval when not on a terminal", () => {
    const lines: string[] = [];
    let t = 0;
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const reporter = createProgressReporter(stream, { now: () => t, intervalMs: 1000 });
    reporter.update({ bytesDone: 1, bytesTotal: 10, layersDone: 0, layersTotal: 1 });
    t = 500;
    reporter.update({ bytesDone: 5, bytesTotal: 10, layersDone: 0, layersTotal: 1 });
    t = 1500;
    reporter.update({ bytesDone: 10, bytesTotal: 10, layersDone: 1, layersTotal: 1 });
    reporter.done();
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.startsWith("progress: "))).toBe(true);
  });
});

describe("issueLine", () => {
  it.each([
    // The validators' messages name their field: the path is not repeated in front.
    [
      { path: "descriptor.createdAt", message: 'descriptor.createdAt is string "x": bad', code: "c" },
      'error: descriptor.createdAt is string "x": bad [c]',
    ],
    // A message that does not mention its path gets it in front; the document itself has none.
    [{ path: "layers[0]", message: "something is off", code: "c" }, "error: layers[0]: something is off [c]"],
    [{ path: "", message: "the manifest has no layers", code: "c" }, "error: the manifest has no layers [c]"],
  ])("%j", (issue, line) => expect(issueLine("error", issue)).toBe(line));
});
