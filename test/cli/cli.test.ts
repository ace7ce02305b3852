import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/command-specs.js";
import { main } from "../../src/cli/main.js";
import { pickFreePorts } from "../harness/ports.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

/** Runs the CLI in-process and captures what it prints. */
async function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  stderr.on("data", (c: Buffer) => (err += c.toString()));
  const code = await main(args, {
    stdout,
    stderr,
    env: { HOME: "/nonexistent", ...env },
    ...(stdin !== undefined && { stdin: Readable.from([Buffer.from(stdin)]) }),
  });
  return { code, stdout: out, stderr: err };
}

const validConfig = {
  descriptor: { name: "m" },
  config: {},
  modelfs: { type: "layers", diffIds: ["sha256:" + "a".repeat(64)] },
};

describe("modelpack-operator CLI", () => {
  let registry: TestRegistry;
  let work: string;

  beforeAll(async () => {
    registry = await startRegistry({ kind: "distribution", auth: "basic" });
    work = await mkdtemp(join(tmpdir(), "mpo-cli-"));
    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString("base64");
    await writeFile(join(work, "config.json"), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    await pushArtifact(
      registry,
      "models/good",
      "v1",
      await buildModelPackArtifact([
        { path: "model.safetensors", content: "weights" },
        { path: "README.md", content: "# hi" },
      ]),
    );
    await pushArtifact(
      registry,
      "models/legacy",
      "v1",
      await buildModelPackArtifact([{ path: "model.bin", content: "w" }], {
        config: {
          descriptor: { name: "old" },
          config: {},
          modelfs: { type: "layers", diff_ids: ["sha256:" + "b".repeat(64)] },
        },
      }),
    );
  });
  afterAll(async () => {
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  describe("validate", () => {
    it("exits 0 for a valid config and prints JSON on request", async () => {
      await writeFile(join(work, "good.json"), JSON.stringify(validConfig));
      const text = await cli(["validate", "--config", join(work, "good.json")]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain("valid");
      const json = await cli(["validate", "--config", join(work, "good.json"), "--output", "json"]);
      expect(JSON.parse(json.stdout)).toEqual({ valid: true, errors: [], warnings: [] });
    });

    it("exits 1 for an invalid config with the reason", async () => {
      await writeFile(
        join(work, "bad.json"),
        JSON.stringify({ ...validConfig, modelfs: { type: "layer", diffIds: [] } }),
      );
      const result = await cli(["validate", "--config", join(work, "bad.json"), "--output", "json"]);
      expect(result.code).toBe(1);
      const body = JSON.parse(result.stdout) as { valid: boolean; errors: { path: string }[] };
      expect(body.valid).toBe(false);
      expect(body.errors.map((e) => e.path)).toEqual(
        expect.arrayContaining(["modelfs.type", "modelfs.diffIds"]),
      );
    });

    it("validates a manifest file and reports malformed JSON", async () => {
      const artifact = await buildModelPackArtifact([{ path: "a.bin", content: "x" }]);
      await writeFile(join(work, "manifest.json"), artifact.manifestBytes);
      expect((await cli(["validate", "--manifest", join(work, "manifest.json")])).code).toBe(0);
      await writeFile(join(work, "broken.json"), "{");
      const broken = await cli(["validate", "--manifest", join(work, "broken.json")]);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain("not valid JSON");
    });

    it.each([
      [["validate"], "needs --config"],
      [["validate", "--config", "/nonexistent/file.json"], "cannot read --config"],
      [["validate", "--bogus"], "unknown flag --bogus"],
      [["validate", "--confg", "x"], "unknown flag --confg (did you mean --config?)"],
      [["pull", "r.io/m:v1", "--dset", "/tmp/x"], "unknown flag --dset (did you mean --dest?)"],
      [["validate", "--config"], "--config needs a value: --config FILE"],
      [["validate", "--config", "x", "--output", "yaml"], "--output must be"],
      [["frobnicate"], "unknown command"],
      [[], "Usage"],
    ])("exits 2 for %j", async (args, message) => {
      const result = await cli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    });
  });

  describe("help, flags and errors", () => {
    it.each(COMMANDS.map((c) => [c.name, c] as const))(
      "%s: `COMMAND --help` and `help COMMAND` show its usage and every flag its parser accepts",
      async (name, command) => {
        const viaFlag = await cli([name, "--help"]);
        const viaHelp = await cli(["help", name]);
        expect(viaFlag.code).toBe(0);
        expect(viaHelp).toEqual(viaFlag);
        expect(viaFlag.stdout).toContain(`Usage: modelpack-operator ${name} `);
        for (const flag of [...Object.keys(command.flags), "output", "help"])
          expect(viaFlag.stdout).toMatch(new RegExp(`^ {2}(-\\w, )?--${flag}\\b.*\\S`, "m"));
        // only this command's flags: no other command's usage or flags
        for (const other of COMMANDS.filter((c) => c.name !== name))
          expect(viaFlag.stdout).not.toContain(`modelpack-operator ${other.name} `);
      },
    );

    it("describes the flags the chart passes to run", async () => {
      const { stdout } = await cli(["run", "--help"]);
      for (const flag of [
        "webhook-cert-secret",
        "webhook-configuration-name",
        "init-image-pull-policy",
        "workload-rollout",
        "webhook-cert-dir",
        "health-bind-address",
      ])
        expect(stdout).toMatch(new RegExp(`^ {2}--${flag} \\S+( +\\w|\n {30}\\w)`, "m"));
      const pull = await cli(["pull", "--help"]);
      expect(pull.stdout).toContain("--dest DIR");
      expect(pull.stdout).not.toContain("--webhook");
      expect(pull.stdout).not.toContain("--config ");
    });

    it("takes -o json as --output json, and reports errors as JSON on stderr under it", async () => {
      await writeFile(join(work, "good-short.json"), JSON.stringify(validConfig));
      const short = await cli(["validate", "--config", join(work, "good-short.json"), "-o", "json"]);
      expect(JSON.parse(short.stdout)).toEqual({ valid: true, errors: [], warnings: [] });

      const unknown = await cli(["validate", "--confg", "x", "-o", "json"]);
      expect(unknown.code).toBe(2);
      expect(unknown.stdout).toBe("");
      expect(JSON.parse(unknown.stderr)).toEqual({
        error: { code: "Usage", message: "unknown flag --confg (did you mean --config?)", exitCode: 2 },
      });
      const missing = await cli(["validate", "--config", join(work, "absent.json"), "--output=json"]);
      expect(missing.code).toBe(2);
      expect(JSON.parse(missing.stderr)).toMatchObject({
        error: { code: "Usage", message: expect.stringContaining("cannot read --config"), exitCode: 2 },
      });
      const registryDown = await cli([
        "inspect",
        `${registry.host}/models/absent:v1`,
        "--plain-http",
        "--registry-config",
        join(work, "config.json"),
        "-o",
        "json",
      ]);
      expect(registryDown.code).toBe(3);
      const body = JSON.parse(registryDown.stderr) as { error: { code: string; exitCode: number } };
      expect(body.error.exitCode).toBe(3);
      expect(body.error.code).toMatch(/^[A-Z]\w+$/);
    });

    it("validate reads --config - and --manifest - from stdin", async () => {
      const config = await cli(["validate", "--config", "-"], {}, JSON.stringify(validConfig));
      expect(config.code, config.stderr).toBe(0);
      expect(config.stdout).toContain("stdin: valid");
      const artifact = await buildModelPackArtifact([{ path: "a.bin", content: "x" }]);
      const manifest = await cli(
        ["validate", "--manifest", "-", "-o", "json"],
        {},
        artifact.manifestBytes.toString(),
      );
      expect(manifest.code, manifest.stderr).toBe(0);
      expect(JSON.parse(manifest.stdout)).toMatchObject({ valid: true });
      const both = await cli(["validate", "--config", "-", "--manifest", "-"], {}, "{}");
      expect(both.code).toBe(2);
      expect(both.stderr).toContain("only one of --config and --manifest can read stdin");
    });

    it("names a field once in each message (no `path: path is …`)", async () => {
      const bad = { ...validConfig, descriptor: { name: "m", createdAt: "yesterday" } };
      const result = await cli(["validate", "--config", "-"], {}, JSON.stringify(bad));
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('error: descriptor.createdAt is string "yesterday"');
      expect(result.stdout).not.toContain("descriptor.createdAt: descriptor.createdAt");
    });
  });

  describe("inspect", () => {
    const flags = (): string[] => ["--plain-http", "--registry-config", join(work, "config.json")];

    it("prints a readable summary of a valid artifact and exits 0", async () => {
      const result = await cli(["inspect", `${registry.host}/models/good:v1`, ...flags()]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/Pinned:\s+127\.0\.0\.1:\d+\/models\/good@sha256:[0-9a-f]{64}/);
      expect(result.stdout).toContain("model.safetensors");
      expect(result.stdout).toContain("Validation: valid");
    });

    it("prints JSON with the layers, pinned reference and findings", async () => {
      const result = await cli([
        "inspect",
        `${registry.host}/models/good:v1`,
        "--output",
        "json",
        ...flags(),
      ]);
      const body = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(body).toMatchObject({
        valid: true,
        artifactType: "application/vnd.cncf.model.manifest.v1+json",
      });
      expect(body.layers).toEqual([
        expect.objectContaining({
          path: "model.safetensors",
          mediaType: "application/vnd.cncf.model.weight.v1.raw",
        }),
        expect.objectContaining({ path: "README.md", mediaType: "application/vnd.cncf.model.doc.v1.raw" }),
      ]);
      expect(String(body.pinnedReference)).toContain("@sha256:");
    });

    it("exits 1 for a legacy config and says which spec version it follows", async () => {
      const result = await cli(["inspect", `${registry.host}/models/legacy:v1`, ...flags()]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("Legacy:");
      expect(result.stdout).toContain("diff_ids");
    });

    it("exits 3 for a missing repository, missing credentials and an unreachable registry", async () => {
      expect((await cli(["inspect", `${registry.host}/models/absent:v1`, ...flags()])).code).toBe(3);
      const anonymous = await cli(["inspect", `${registry.host}/models/good:v1`, "--plain-http"]);
      expect(anonymous.code).toBe(3);
      expect(anonymous.stderr).toContain("no credentials are configured");
      const [port] = await pickFreePorts(1);
      const down = await cli(["inspect", `127.0.0.1:${port}/models/good:v1`, "--plain-http"]);
      expect(down.code).toBe(3);
      expect(down.stderr).toContain("cannot reach registry");
    });

    it("exits 2 for a malformed reference and warns loudly about --insecure", async () => {
      const bad = await cli(["inspect", "Not A Reference"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("invalid reference");
      const insecure = await cli(["inspect", `${registry.host}/models/good:v1`, "--insecure", ...flags()]);
      expect(insecure.stderr).toContain("WARNING: --insecure");
    });

    it("tries several --registry-config files in order (one per pull secret in the init container)", async () => {
      await writeFile(
        join(work, "other.json"),
        JSON.stringify({
          auths: { "registry.example.com": { auth: Buffer.from("a:b").toString("base64") } },
        }),
      );
      const args = [
        "inspect",
        `${registry.host}/models/good:v1`,
        "--plain-http",
        "--registry-config",
        join(work, "other.json"),
        "--registry-config",
        join(work, "config.json"),
      ];
      const result = await cli(args);
      expect(result.code, result.stderr).toBe(0);
      const missing = await cli([
        "inspect",
        `${registry.host}/models/good:v1`,
        "--plain-http",
        "--registry-config",
        join(work, "nope.json"),
      ]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("cannot read registry config");
    });

    it("reads credentials from $DOCKER_CONFIG", async () => {
      const result = await cli(["inspect", `${registry.host}/models/good:v1`, "--plain-http"], {
        DOCKER_CONFIG: work,
      });
      expect(result.code, result.stderr).toBe(0);
    });
  });

  describe("pull", () => {
    /** `pull` of the valid test model into `dest`, with the test registry's credentials. */
    const pullGoodArgs = (dest: string): string[] => [
      "pull",
      `${registry.host}/models/good:v1`,
      "--dest",
      dest,
      "--plain-http",
      "--registry-config",
      join(work, "config.json"),
    ];

    /** Runs the CLI as its own process (killed after 30 s), as an init container would. */
    async function runOwnProcess(
      args: string[],
      preloads: string[] = [],
    ): Promise<{ code: number | null; stderr: string; ms: number }> {
      const bin = join(import.meta.dirname, "..", "..", "src", "cli", "bin.ts");
      const started = Date.now();
      return new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", ...preloads.flatMap((p) => ["--import", p]), bin, ...args],
          {
            stdio: ["ignore", "ignore", "pipe"],
          },
        );
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        child.on("error", reject);
        child.on("exit", (code) => {
          clearTimeout(timer);
          resolve({ code, stderr, ms: Date.now() - started });
        });
      });
    }

    it("as its own process, exits when it is done, also when it fails early (nothing keeps it alive)", async () => {
      // The writer threads start before the first request; a failure before they are used must
      // not leave the process waiting on them (it would hang an init container forever).
      const [port] = await pickFreePorts(1);
      const { code, stderr, ms } = await runOwnProcess([
        "pull",
        `127.0.0.1:${port}/models/none:v1`,
        "--dest",
        join(work, "none"),
        "--plain-http",
      ]);
      expect(code, stderr).toBe(3);
      expect(ms).toBeLessThan(30_000);
    });

    it("as its own process, exits with the command's code even if something still holds the event loop", async () => {
      // A preload that leaves a timer running forever stands for a handle some library forgets.
      const preload = join(work, "hold-loop.mjs");
      await writeFile(preload, "setInterval(() => {}, 1000);\n");
      const { code, ms } = await runOwnProcess(
        ["validate", "--config", join(work, "missing.json")],
        [preload],
      );
      expect(code).toBe(2); // the command's own exit code (a missing file), not a kill
      expect(ms).toBeLessThan(15_000);
    });

    it("loads neither undici nor the Kubernetes client (start-up is time before an init container's first byte)", async () => {
      // Importing node:http as an ES module loads Node's bundled undici (~25 ms) through its
      // WebSocket getter; the Kubernetes client is only for `run`.
      const preload = join(work, "report-loaded.mjs");
      await writeFile(
        preload,
        [
          'import { registerHooks } from "node:module";',
          "const urls = [];",
          "registerHooks({ load(url, context, next) { urls.push(url); return next(url, context); } });",
          'process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify({',
          '  undici: process.moduleLoadList.filter((m) => m.includes("undici")),',
          '  kubernetes: urls.filter((u) => u.includes("@kubernetes/client-node")).length,',
          '}) + "\\n"));',
        ].join("\n"),
      );
      const dest = join(work, "pulled-lean");
      const { code, stderr } = await runOwnProcess(pullGoodArgs(dest), [preload]);
      expect(code, stderr).toBe(0);
      const report = /LOADED (.*)/.exec(stderr)?.[1];
      expect(report, stderr).toBeDefined();
      expect(JSON.parse(report ?? "{}")).toEqual({ undici: [], kubernetes: 0 });
    });

    it("pulls every file, verified, and exits 0; a second pull skips what is there", async () => {
      const dest = join(work, "pulled");
      const args = pullGoodArgs(dest);
      const first = await cli(args);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toContain("2 files verified");
      expect(await readFile(join(dest, "model.safetensors"), "utf8")).toBe("weights");
      const second = await cli([...args, "--output", "json"]);
      const body = JSON.parse(second.stdout) as { files: { skipped: boolean }[]; bytesDownloaded: number };
      expect(body.files.every((f) => f.skipped)).toBe(true);
      expect(body.bytesDownloaded).toBe(0);
    });

    it("refuses a reference outside --allowed-registries before asking the registry, and pulls one inside it", async () => {
      const dest = join(work, "allowed");
      const refused = await cli([...pullGoodArgs(dest), "--allowed-registries", "models.internal:5000"]);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain(
        `registry ${registry.host} is not in the allowed registries (models.internal:5000)`,
      );
      await expect(readFile(join(dest, "model.safetensors"))).rejects.toThrow();
      const allowed = await cli([
        ...pullGoodArgs(dest),
        "--allowed-registries",
        `models.internal:5000,${registry.host}`,
      ]);
      expect(allowed.code, allowed.stderr).toBe(0);
    });

    it.each([
      [["pull", "r.io/m:v1"], "needs --dest"],
      [["pull", "--dest", "/tmp/x"], "exactly one REFERENCE"],
      [["pull", "r.io/m:v1", "--dest", "/tmp/x", "--concurrency", "0"], "--concurrency must be"],
    ])("exits 2 for %j", async (args, message) => {
      const result = await cli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    });
  });

  describe("run", () => {
    // Flag errors are found before anything connects to a cluster: exit 2 with the flag named.
    it.each([
      [["run"], "needs --init-image"],
      [
        ["run", "--init-image", "x", "--webhook-failure-policy", "Maybe"],
        "--webhook-failure-policy must be one of Fail, Ignore",
      ],
      [
        ["run", "--init-image", "x", "--webhook-timeout-seconds", "31"],
        "--webhook-timeout-seconds must be an integer from 1 to 30",
      ],
      [
        ["run", "--init-image", "x", "--init-image-pull-policy", "Sometimes"],
        "--init-image-pull-policy must be one of Always",
      ],
      [
        ["run", "--init-image", "x", "--webhook-url", "http://127.0.0.1:9443"],
        "--webhook-url must be an https:// URL",
      ],
      [
        ["run", "--init-image", "x", "--webhook-object-selector", "nope"],
        "--webhook-object-selector must be a JSON label selector",
      ],
      [
        ["run", "--init-image", "x", "--webhook-namespace-selector", '{"matchLabels":{"a":1}}'],
        "--webhook-namespace-selector: matchLabels.a:",
      ],
      [["run", "--workers", "0", "--disable-webhook"], "--workers must be an integer from 1 to 64"],
    ])("exits 2 for %j", async (args, message) => {
      const result = await cli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    });
  });
});
