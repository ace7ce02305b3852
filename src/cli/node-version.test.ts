import { describe, expect, it } from "vitest";
import { MIN_NODE_MAJOR, nodeVersionProblem } from "./node-version.js";

describe("nodeVersionProblem", () => {
  it.each(["24.0.0", "24.21.0", "25.1.0", "100.0.0"])("accepts Node %s", (version) => {
    expect(nodeVersionProblem(version, "/app/bin.js")).toBeUndefined();
  });

  it.each(["20.20.2", "22.12.0", "23.11.1", "18.0.0", "", "x.y"])(
    "refuses Node '%s' in one line",
    (version) => {
      const message = nodeVersionProblem(version, "/app/dist/src/cli/bin.js");
      expect(message).toBeDefined();
      expect(message).not.toContain("\n");
      expect(message).toContain(`needs Node.js ${MIN_NODE_MAJOR} or newer, but this is Node.js ${version}:`);
      expect(message).toContain(`npx -y node@${MIN_NODE_MAJOR} /app/dist/src/cli/bin.js <command>`);
    },
  );
});
