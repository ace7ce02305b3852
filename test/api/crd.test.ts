/**
 * The generated ModelDeployment CRD against a real kube-apiserver (v1.35, from the harness): it is
 * accepted and served, applies the zod defaults, rejects every invalid spec with the message a
 * user reads, agrees with the TypeScript checks on every example, prints the columns and the
 * explain texts, and keeps status behind the status subresource. Also: crds/ is up to date.
 */
import { CustomObjectsApi } from "@kubernetes/client-node";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, test } from "vitest";
import {
  API_VERSION,
  CRD_FILE,
  CRD_NAME,
  GROUP,
  KIND,
  ModelDeployment,
  ModelDeploymentSpec,
  ModelDeploymentStatus,
  PLURAL,
  renderCrdYaml,
  RULES,
  setCondition,
  shortDigest,
  SHORT_NAMES,
  summarize,
  VERSION,
  type ModelDeploymentSpecInput,
} from "../../src/api/index.js";
import { createNamespace, errorMessage, useControlPlane, waitFor } from "../harness/testing.js";
import { REFERENCE_CASES } from "./reference-cases.js";
import { RULE_CASES, VALID_SPEC } from "./rule-cases.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CRD_PATH = join(ROOT, CRD_FILE);
const DIGEST = "sha256:" + "0123456789abcdef".repeat(4);

const controlPlane = useControlPlane();
let namespace = "";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the harness apiserver; never throws, the exit code is in the result. */
function kubectl(args: readonly string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      "kubectl",
      [`--kubeconfig=${controlPlane().kubeconfigPath}`, ...args],
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin ?? "");
  });
}

async function kubectlOk(args: readonly string[], stdin?: string): Promise<string> {
  const run = await kubectl(args, stdin);
  if (run.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout;
}

function manifest(name: string, spec: unknown): string {
  return JSON.stringify({ apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, spec });
}

/** What `kubectl apply --server-side` prints for a spec, trimmed. */
async function applyMessage(name: string, spec: unknown): Promise<string> {
  const run = await kubectl(
    ["apply", "--server-side", "--field-manager=crd-test", "-f", "-"],
    manifest(name, spec),
  );
  return run.code === 0 ? `accepted: ${run.stdout.trim()}` : run.stderr.trim();
}

const objects = () => controlPlane().kubeConfig.makeApiClient(CustomObjectsApi);
const ref = (name: string) => ({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name });

/** A server-side dry-run create: undefined when accepted, else the apiserver's message. */
async function dryRunCreate(spec: unknown): Promise<string | undefined> {
  try {
    await objects().createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      body: JSON.parse(manifest("dry-run", spec)),
      dryRun: "All",
    });
    return undefined;
  } catch (err) {
    return errorMessage(err);
  }
}

beforeAll(async () => {
  await kubectlOk(["apply", "--server-side", "--field-manager=crd-test", "-f", CRD_PATH]);
  await kubectlOk(["wait", "--for=condition=Established", "--timeout=30s", `crd/${CRD_NAME}`]);
  namespace = await createNamespace(controlPlane().kubeConfig, "api");
  // The REST endpoint of a fresh CRD becomes usable a moment after Established.
  await waitFor("the ModelDeployment endpoint to serve", async () => {
    await objects().listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL });
    return true;
  });
});

describe("crds/", () => {
  test("holds exactly what the generator writes", async () => {
    expect(await readFile(CRD_PATH, "utf8")).toBe(renderCrdYaml());
  });

  test("scripts/check-crds.sh passes on every shipped copy and fails with a diff on a stale one", async () => {
    const script = join(ROOT, "scripts/check-crds.sh");
    const run = (dir?: string) =>
      new Promise<Run>((resolve) => {
        execFile("bash", [script, ...(dir === undefined ? [] : [dir])], (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const current = await run();
    expect(current.code, current.stderr).toBe(0);
    expect(current.stdout).toContain("check-crds: every copy of the CRD is up to date");

    const stale = await mkdtemp(join(tmpdir(), "stale-crds-"));
    try {
      await cp(join(ROOT, "crds"), stale, { recursive: true });
      const file = join(stale, "modelpack.dev_modeldeployments.yaml");
      await writeFile(file, (await readFile(file, "utf8")).replace("default: Auto", "default: ImageVolume"));
      const failed = await run(stale);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain(
        "-                default: ImageVolume\n+                default: Auto",
      );
      expect(failed.stderr).toContain("is out of date");
    } finally {
      await rm(stale, { recursive: true, force: true });
    }
  });
});

describe("the CRD as served", () => {
  test("short names clash with no other resource, and the category lists ModelDeployments", async () => {
    const resources = await kubectlOk(["api-resources", "--no-headers"]);
    const claimed = resources
      .split("\n")
      .filter((line) => line.trim() !== "" && !line.startsWith(`${PLURAL} `))
      .flatMap((line) => line.trim().split(/\s+/)[1]?.split(",") ?? []);
    expect(claimed.filter((name) => (SHORT_NAMES as readonly string[]).includes(name))).toEqual([]);
    expect(resources).toMatch(
      new RegExp(`^${PLURAL}\\s+md,mdeploy\\s+${API_VERSION}\\s+true\\s+${KIND}`, "m"),
    );
  });

  test("kubectl explain shows the schema's descriptions", async () => {
    const text = (await kubectlOk(["explain", "modeldeployment.spec.model.reference"])).replace(/\s+/g, " ");
    const description = ModelDeploymentSpec.shape.model.shape.reference.description ?? "missing";
    expect(text).toContain("FIELD: reference <string>");
    expect(text).toContain(description);
    const conditions = (await kubectlOk(["explain", "md.status.conditions"])).replace(/\s+/g, " ");
    expect(conditions).toContain("Ready summarises the others (kubectl wait --for=condition=Ready)");
  });
});

describe("a valid ModelDeployment", () => {
  test("is stored with the same defaults zod applies", async () => {
    const input: ModelDeploymentSpecInput = {
      ...VALID_SPEC,
      mount: { ...VALID_SPEC.mount, containers: ["vllm"] },
    };
    expect(await applyMessage("defaults", input)).toBe(
      "accepted: modeldeployment.modelpack.dev/defaults serverside-applied",
    );
    const stored = ModelDeployment.parse(await objects().getNamespacedCustomObject(ref("defaults")));
    expect(stored.spec).toEqual(ModelDeploymentSpec.parse(input));
    expect(stored.spec).toMatchObject({
      model: { refreshInterval: "10m" },
      strategy: "Auto",
      updatePolicy: "Rollout",
    });
  });

  test("the DESIGN.md example is accepted as written", async () => {
    const design = {
      model: {
        reference: "registry.example.com/models/llama3-8b:v1",
        pullSecrets: [{ name: "regcred" }],
        refreshInterval: "10m",
      },
      selector: { matchLabels: { app: "llama-server" } },
      mount: { path: "/models/llama3", containers: ["vllm"], subPath: "" },
      strategy: "Auto",
      updatePolicy: "Rollout",
    };
    expect(await dryRunCreate(design)).toBeUndefined();
  });
});

/**
 * Each case breaks one rule; `expected` is everything `kubectl apply --server-side` prints on
 * stderr, so these are the messages users read. `rule` ties the case to validation-rules.ts.
 */
const withModel = (m: object) => ({ ...VALID_SPEC, model: { ...VALID_SPEC.model, ...m } });
const withMount = (m: object) => ({ ...VALID_SPEC, mount: { ...VALID_SPEC.mount, ...m } });
const invalid = (field: string) => `The ${KIND} "bad" is invalid: ${field}`;
const MESSAGE_CASES: readonly { rule: string; spec: unknown; expected: string }[] = [
  {
    rule: "reference-registry",
    spec: withModel({ reference: "llama3:v1" }),
    expected: invalid(
      'spec.model.reference: Invalid value: "llama3:v1": must start with the registry host, e.g. ' +
        "registry.example.com/models/llama3:v1 or localhost:5000/llama3:v1; short names are not " +
        "expanded to docker.io (write docker.io/org/model)",
    ),
  },
  {
    rule: "reference-syntax",
    spec: withModel({ reference: "registry.example.com/Models/llama3:v1" }),
    expected: invalid(
      'spec.model.reference: Invalid value: "registry.example.com/Models/llama3:v1": must be ' +
        "host[:port]/repository[:tag][@digest]: repository path components are lowercase letters and " +
        "digits joined by single '.', '_', '__' or '-'; a tag is 1-128 letters, digits, '_', '.' or '-' " +
        "not starting with '.' or '-'; a digest is algorithm:hex, for sha256 64 lowercase hex digits; " +
        "host/repository is at most 255 characters",
    ),
  },
  {
    rule: "refresh-interval-format",
    spec: withModel({ refreshInterval: "5 minutes" }),
    expected: invalid(
      'spec.model.refreshInterval: Invalid value: "5 minutes": must be a duration such as 30s, 10m, 1h ' +
        "or 1h30m (hours, minutes, seconds in that order), or 0 to never re-resolve the tag",
    ),
  },
  {
    rule: "refresh-interval-minimum",
    spec: withModel({ refreshInterval: "10s" }),
    expected: invalid(
      'spec.model.refreshInterval: Invalid value: "10s": must be at least 30s so the registry is not ' +
        "polled too often, or 0 to resolve the tag only once",
    ),
  },
  {
    rule: "secret-name",
    spec: withModel({ pullSecrets: [{ name: "Reg_Cred" }] }),
    expected: invalid(
      'spec.model.pullSecrets[0].name: Invalid value: "Reg_Cred": must be the name of a Secret in this ' +
        "namespace: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    ),
  },
  {
    rule: "selector-not-empty",
    spec: { ...VALID_SPEC, selector: {} },
    expected: invalid(
      "spec.selector: Required value: set matchLabels or matchExpressions to choose the pods that mount " +
        "the model; an empty selector would select every pod in the namespace",
    ),
  },
  {
    rule: "label-keys",
    spec: { ...VALID_SPEC, selector: { matchLabels: { "app name": "x" } } },
    expected: invalid(
      "spec.selector.matchLabels: Invalid value: every key must be a label key: an optional DNS " +
        "subdomain prefix of at most 253 characters and '/', then a name of at most 63 letters, digits, " +
        "'-', '_' or '.' that starts and ends with a letter or digit, e.g. app or app.kubernetes.io/name",
    ),
  },
  {
    rule: "label-value",
    spec: { ...VALID_SPEC, selector: { matchLabels: { app: "llama server" } } },
    expected: invalid(
      'spec.selector.matchLabels[app]: Invalid value: "llama server": must be a label value: letters, ' +
        "digits, '-', '_' and '.', starting and ending with a letter or digit, or empty",
    ),
  },
  {
    rule: "label-key",
    spec: { ...VALID_SPEC, selector: { matchExpressions: [{ key: "gpu/", operator: "Exists" }] } },
    expected: invalid(
      'spec.selector.matchExpressions[0].key: Invalid value: "gpu/": must be a label key: an optional ' +
        "DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 letters, " +
        "digits, '-', '_' or '.' that starts and ends with a letter or digit, e.g. app or app.kubernetes.io/name",
    ),
  },
  {
    rule: "expression-values-required",
    spec: { ...VALID_SPEC, selector: { matchExpressions: [{ key: "app", operator: "In" }] } },
    expected: invalid(
      "spec.selector.matchExpressions[0].values: Required value: must list at least one value when the " +
        "operator is In or NotIn",
    ),
  },
  {
    rule: "expression-values-forbidden",
    spec: {
      ...VALID_SPEC,
      selector: { matchExpressions: [{ key: "app", operator: "Exists", values: ["x"] }] },
    },
    expected: invalid(
      "spec.selector.matchExpressions[0].values: Forbidden: must be empty when the operator is Exists or DoesNotExist",
    ),
  },
  {
    rule: "mount-path-absolute",
    spec: withMount({ path: "models/llama3" }),
    expected: invalid(
      'spec.mount.path: Invalid value: "models/llama3": must be an absolute path such as /models/llama3',
    ),
  },
  {
    rule: "mount-path-not-root",
    spec: withMount({ path: "/" }),
    expected: invalid(
      'spec.mount.path: Invalid value: "/": must not be / (the mount would hide the container\'s own ' +
        "files); use a folder such as /models/llama3",
    ),
  },
  {
    rule: "mount-path-no-dot-dot",
    spec: withMount({ path: "/models/../etc" }),
    expected: invalid(
      "spec.mount.path: Invalid value: \"/models/../etc\": must not contain '..' segments; write the " +
        "folder they lead to instead",
    ),
  },
  {
    rule: "sub-path-relative",
    spec: withMount({ subPath: "/weights" }),
    expected: invalid(
      'spec.mount.subPath: Invalid value: "/weights": must be relative to the model\'s root, e.g. ' +
        "weights or config.json; leave it empty to mount the whole model",
    ),
  },
  {
    rule: "sub-path-no-dot-dot",
    spec: withMount({ subPath: "weights/../../secrets" }),
    expected: invalid(
      "spec.mount.subPath: Invalid value: \"weights/../../secrets\": must not contain '..' segments: " +
        "the sub-path has to stay inside the model",
    ),
  },
  {
    rule: "container-name",
    spec: withMount({ containers: ["vLLM"] }),
    expected: invalid(
      'spec.mount.containers[0]: Invalid value: "vLLM": must be a container name: lowercase letters, ' +
        "digits and '-', starting and ending with a letter or digit",
    ),
  },
  {
    rule: "key-source-one-of",
    spec: withModel({ verify: { publicKeys: [{}] } }),
    expected: invalid(
      "spec.model.verify.publicKeys[0]: Invalid value: set exactly one of configMapKeyRef and secretKeyRef",
    ),
  },
  {
    rule: "identity-subject-one-of",
    spec: withModel({ verify: { identities: [{ issuer: "https://issuer.example.com" }] } }),
    expected: invalid(
      "spec.model.verify.identities[0]: Invalid value: set exactly one of subject (the exact identity) and subjectRegExp",
    ),
  },
  {
    rule: "verify-not-empty",
    spec: withModel({ verify: {} }),
    expected: invalid(
      "spec.model.verify: Required value: set publicKeys or identities: who must have signed the model",
    ),
  },
];

/**
 * Failures that OpenAPI itself reports (enum, required, minItems). When one of them fails, the
 * apiserver skips CEL rules that read the failing field, so the CEL cases above are otherwise valid.
 */
const OPENAPI_CASES: readonly { name: string; spec: unknown; expected: string }[] = [
  {
    name: "unknown strategy",
    spec: { ...VALID_SPEC, strategy: "Fast" },
    expected:
      'spec.strategy: Unsupported value: "Fast": supported values: "Auto", "ImageVolume", "InitContainer"',
  },
  {
    name: "unknown updatePolicy",
    spec: { ...VALID_SPEC, updatePolicy: "Never" },
    expected: 'spec.updatePolicy: Unsupported value: "Never": supported values: "Rollout", "Pinned"',
  },
  {
    name: "unknown operator",
    spec: { ...VALID_SPEC, selector: { matchExpressions: [{ key: "a", operator: "Like", values: ["x"] }] } },
    expected:
      'spec.selector.matchExpressions[0].operator: Unsupported value: "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
  },
  {
    name: "missing reference",
    spec: { ...VALID_SPEC, model: {} },
    expected: "spec.model.reference: Required value",
  },
  {
    name: "empty containers list",
    spec: withMount({ containers: [] }),
    expected:
      "spec.mount.containers: Invalid value: 0: spec.mount.containers in body should have at least 1 items",
  },
];

describe("an invalid ModelDeployment is rejected with a message a user can act on", () => {
  test("every CEL rule has a case here", () => {
    expect(MESSAGE_CASES.map((c) => c.rule).sort()).toEqual(RULES.map((r) => r.id).sort());
  });

  test.each(MESSAGE_CASES.map((c) => [c.rule, c] as const))("%s", async (_rule, c) => {
    expect(await applyMessage("bad", c.spec)).toBe(c.expected);
  });

  test.each(OPENAPI_CASES.map((c) => [c.name, c] as const))("%s (OpenAPI)", async (_name, c) => {
    expect(await applyMessage("bad", c.spec)).toContain(c.expected);
  });

  test("a field that does not exist, such as a readOnly switch, is refused", async () => {
    const spec = withMount({ readOnly: false });
    expect(await applyMessage("bad", spec)).toContain(".spec.mount.readOnly: field not declared in schema");
    const created = await kubectl(["create", "-f", "-"], manifest("bad", spec));
    expect(created.stderr).toContain('unknown field "spec.mount.readOnly"');
  });

  test("a pull secret cannot name another namespace: references have no namespace field", async () => {
    const spec = withModel({ pullSecrets: [{ name: "regcred", namespace: "kube-system" }] });
    expect(await applyMessage("bad", spec)).toContain(
      '.spec.model.pullSecrets[name="regcred"].namespace: field not declared in schema',
    );
  });

  test("a container listed twice is refused before validation (the list is a set)", async () => {
    const message = await applyMessage("bad", withMount({ containers: ["vllm", "vllm"] }));
    expect(message).toContain('.spec.mount.containers: duplicate entries for key [="vllm"]');
  });
});

describe("the apiserver's CEL and the TypeScript checks agree", () => {
  const examples = RULE_CASES.flatMap((c) =>
    c.examples.map(
      (e) =>
        [
          `${c.id} ${e.valid ? "accepts" : "rejects"} ${JSON.stringify(e.value).slice(0, 50)}`,
          c.message,
          e,
        ] as const,
    ),
  );
  test.each(examples)("%s", async (_title, message, example) => {
    const reported = await dryRunCreate(example.spec);
    const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    // `Invalid value: "<value or type>": `, or none for a map, then the rule's message.
    const kinds = `(?:Invalid value: (?:"(?:[^"\\\\]|\\\\.)*": )?|Required value: |Forbidden: )`;
    const atField = new RegExp(`${escaped(example.field)}: ${kinds}${escaped(message)}`);
    if (example.valid) expect(reported ?? "").not.toContain(message);
    else expect(reported).toMatch(atField);
  });

  test.each(
    REFERENCE_CASES.map(
      (c) =>
        [
          `${c.valid ? "accepts" : "rejects"} ${c.why}: ${JSON.stringify(c.reference).slice(0, 60)}`,
          c,
        ] as const,
    ),
  )("reference %s", async (_title, c) => {
    const reported = await dryRunCreate({ ...VALID_SPEC, model: { reference: c.reference } });
    expect(reported === undefined, reported).toBe(c.valid);
  });
});

describe("status", () => {
  const now = new Date("2026-01-02T03:04:05Z");

  /** A status built with the api helpers, as the controller will build it. */
  function readyStatus(generation: number): ModelDeploymentStatus {
    let conditions = setCondition(
      [],
      { type: "Resolved", status: "True", reason: "Resolved", message: "ok", observedGeneration: generation },
      now,
    );
    conditions = setCondition(
      conditions,
      {
        type: "Validated",
        status: "True",
        reason: "Validated",
        message: "ok",
        observedGeneration: generation,
      },
      now,
    );
    conditions = setCondition(
      conditions,
      {
        type: "MountSupported",
        status: "True",
        reason: "ImageVolumeSupported",
        message: "CRI-O 1.34",
        observedGeneration: generation,
      },
      now,
    );
    const pods = { matched: 4, current: 3, stale: 1 };
    return ModelDeploymentStatus.parse({
      observedGeneration: generation,
      resolved: {
        reference: `registry.example.com/models/llama3-8b@${DIGEST}`,
        digest: DIGEST,
        shortDigest: shortDigest(DIGEST),
        resolvedAt: "2026-01-02T03:04:05Z",
      },
      strategy: "ImageVolume",
      pods,
      conditions: summarize({ generation, conditions, pods, updatePolicy: "Pinned" }, now),
    });
  }

  async function createWithStatus(name: string): Promise<void> {
    await kubectlOk(
      ["apply", "--server-side", "--field-manager=crd-test", "-f", "-"],
      manifest(name, VALID_SPEC),
    );
    const patch = JSON.stringify({ status: readyStatus(1) });
    await kubectlOk([
      "patch",
      "-n",
      namespace,
      `${PLURAL}/${name}`,
      "--subresource=status",
      "--type=merge",
      "-p",
      patch,
    ]);
  }

  test("printer columns, from a status written through the status subresource", async () => {
    await createWithStatus("columns");
    const table = await kubectlOk(["get", "md", "columns", "-n", namespace, "-o", "wide"]);
    const [header, row] = table
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s{2,}/));
    expect(header).toEqual([
      "NAME",
      "MODEL",
      "DIGEST",
      "STRATEGY",
      "READY",
      "REASON",
      "PODS",
      "STALE",
      "AGE",
    ]);
    expect(row?.slice(0, 8)).toEqual([
      "columns",
      VALID_SPEC.model.reference,
      "sha256:0123456789ab",
      "ImageVolume",
      "True",
      "Ready",
      "4",
      "1",
    ]);
    const narrow = await kubectlOk(["get", "modelpack", "-n", namespace]);
    expect(
      narrow
        .split("\n")[0]
        ?.trim()
        .split(/\s{2,}/),
    ).toEqual(["NAME", "MODEL", "DIGEST", "STRATEGY", "READY", "AGE"]);
    expect(narrow).toMatch(/^columns\s/m);
    await kubectlOk(["wait", "-n", namespace, "--for=condition=Ready", "--timeout=10s", `${PLURAL}/columns`]);
  });

  test("cannot be changed through the main resource, and spec cannot be changed through /status", async () => {
    await createWithStatus("guarded");
    const api = objects();
    const before = ModelDeployment.parse(await api.getNamespacedCustomObject(ref("guarded")));
    const tampered = {
      ...before,
      status: { ...before.status, strategy: "InitContainer", observedGeneration: 7 },
    };
    const afterPut = ModelDeployment.parse(
      await api.replaceNamespacedCustomObject({ ...ref("guarded"), body: tampered }),
    );
    expect(afterPut.status).toEqual(before.status);
    expect(afterPut.metadata.generation).toBe(before.metadata.generation);

    const respecced = { ...afterPut, spec: { ...afterPut.spec, strategy: "InitContainer" } };
    const afterStatusPut = ModelDeployment.parse(
      await api.replaceNamespacedCustomObjectStatus({ ...ref("guarded"), body: respecced }),
    );
    expect(afterStatusPut.spec.strategy).toBe("Auto");
  });

  test("a status the schema forbids is refused by the status subresource too", async () => {
    await createWithStatus("bad-status");
    const run = await kubectl([
      "patch",
      "-n",
      namespace,
      `${PLURAL}/bad-status`,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { strategy: "Auto" } }),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(
      'status.strategy: Unsupported value: "Auto": supported values: "ImageVolume", "InitContainer"',
    );
  });
});
