import { defineConfig } from "vitest/config";

// Two projects: fast pure unit tests beside the code, and integration tests in test/ that start
// real servers (registry, kube-apiserver + etcd) on loopback and so run one file at a time.
export default defineConfig({
  test: {
    passWithNoTests: false,
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "scripts/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
