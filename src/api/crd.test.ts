import { loadYaml } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  GENERATE_COMMAND,
  modelDeploymentCrd,
  modelDeploymentSchema,
  PRINTER_COLUMNS,
  renderCrdYaml,
} from "./crd.js";
import { isJsonObject, type Json, type JsonObject } from "./json.js";
import { SHORT_NAMES } from "./names.js";
import { toStructuralSchema } from "./structural.js";
import { ModelDeploymentSpec } from "./v1alpha1.js";

/** Every schema node with its path, depth first. */
function nodes(schema: JsonObject, path = ""): [string, JsonObject][] {
  const out: [string, JsonObject][] = [[path, schema]];
  const properties = schema["properties"];
  if (isJsonObject(properties)) {
    for (const [name, child] of Object.entries(properties)) {
      if (isJsonObject(child)) out.push(...nodes(child, path === "" ? name : `${path}.${name}`));
    }
  }
  for (const key of ["items", "additionalProperties"] as const) {
    const child = schema[key];
    if (isJsonObject(child)) out.push(...nodes(child, `${path}${key === "items" ? "[]" : ".*"}`));
  }
  return out;
}

const at = (schema: JsonObject, path: string): JsonObject | undefined =>
  nodes(schema).find(([p]) => p === path)?.[1];

describe("the generated schema is structural", () => {
  const schema = modelDeploymentSchema();
  const all = nodes(schema);

  it("has no $ref, combinators, additionalProperties: false or loose objects", () => {
    const text = JSON.stringify(schema);
    for (const word of ["$ref", "$defs", "anyOf", "oneOf", "allOf", '"not"', "nullable", '"const"']) {
      expect(text).not.toContain(word);
    }
    expect(all.filter(([, n]) => n["additionalProperties"] === false)).toEqual([]);
    expect(
      all.filter(([, n]) => n["properties"] !== undefined && n["additionalProperties"] !== undefined),
    ).toEqual([]);
  });

  it("gives every node a type, and metadata only {type: object}", () => {
    expect(all.filter(([, n]) => typeof n["type"] !== "string").map(([p]) => p)).toEqual([]);
    expect(at(schema, "metadata")).toEqual({ type: "object" });
    expect(schema["required"]).toEqual(["spec"]);
  });

  it("describes every field, so kubectl explain has something to say", () => {
    const fields = all.filter(
      ([path]) => path !== "metadata" && !path.endsWith("[]") && !path.endsWith(".*"),
    );
    expect(fields.filter(([, n]) => typeof n["description"] !== "string").map(([p]) => p)).toEqual([]);
  });

  it("preserves unknown fields only where status.injection keeps core/v1 objects the apiserver checks at pod creation", () => {
    const kept: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (typeof node !== "object" || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === "x-kubernetes-preserve-unknown-fields") kept.push(path);
        else visit(value, `${path}.${key}`);
      }
    };
    visit(schema, "$");
    expect(kept).toEqual([
      "$.properties.status.properties.injection.properties.volumes.items",
      "$.properties.status.properties.injection.properties.initContainers.items",
      "$.properties.status.properties.injection.properties.mount",
    ]);
  });

  it("keys conditions by type and pull secrets by name; containers are a set", () => {
    expect(at(schema, "status.conditions")).toMatchObject({
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    });
    expect(at(schema, "spec.model.pullSecrets")).toMatchObject({
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    });
    expect(at(schema, "spec.mount.containers")).toMatchObject({ "x-kubernetes-list-type": "set" });
  });

  it("has the defaults zod applies", () => {
    const parsed = ModelDeploymentSpec.parse({
      model: { reference: "r.io/m:v1" },
      selector: { matchLabels: { a: "b" } },
      mount: { path: "/m" },
    });
    expect(at(schema, "spec.model.refreshInterval")?.["default"]).toBe(parsed.model.refreshInterval);
    expect(at(schema, "spec.strategy")?.["default"]).toBe(parsed.strategy);
    expect(at(schema, "spec.updatePolicy")?.["default"]).toBe(parsed.updatePolicy);
    const defaults = all.filter(([, n]) => n["default"] !== undefined).map(([p]) => p);
    expect(defaults).toEqual(["spec.model.refreshInterval", "spec.strategy", "spec.updatePolicy"]);
  });

  it("bounds every string, list and map that a CEL rule reads", () => {
    const unbounded = all
      .filter(([, n]) => n["x-kubernetes-validations"] !== undefined)
      .filter(
        ([, n]) =>
          n["maxLength"] === undefined && n["maxItems"] === undefined && n["maxProperties"] === undefined,
      )
      .map(([p]) => p);
    // objects: bounded by their fields
    expect(unbounded).toEqual([
      "spec.model.verify",
      "spec.model.verify.publicKeys[]",
      "spec.model.verify.identities[]",
      "spec.selector",
      "spec.selector.matchExpressions[]",
    ]);
  });

  it("writes timestamps as date-time without zod's pattern, integers as int64 without ±2^53", () => {
    expect(at(schema, "status.conditions[].lastTransitionTime")).toEqual({
      description: "When the status last changed (not the reason or message).",
      type: "string",
      format: "date-time",
    });
    expect(at(schema, "status.observedGeneration")).toMatchObject({
      type: "integer",
      format: "int64",
      minimum: 0,
    });
    expect(JSON.stringify(schema)).not.toContain("9007199254740991");
  });
});

describe("toStructuralSchema refuses what Kubernetes would", () => {
  it.each<[string, Json, string]>([
    ["a $ref", { type: "object", properties: { a: { $ref: "#/x" } } }, '$.a: "$ref"'],
    ["a union", { type: "object", properties: { a: { anyOf: [] } } }, '$.a: "anyOf"'],
    ["a node without type", { type: "object", properties: { a: {} } }, "$.a: every node needs a type"],
    [
      "a loose object",
      { type: "object", properties: { a: { type: "string" } }, additionalProperties: {} },
      "$: a loose object",
    ],
  ])("%s", (_name, schema, message) => {
    expect(() => toStructuralSchema(schema)).toThrow(message);
  });

  it("drops additionalProperties: false and orders keys", () => {
    expect(
      JSON.stringify(
        toStructuralSchema({
          properties: { a: { type: "string", description: "d" } },
          additionalProperties: false,
          type: "object",
        }),
      ),
    ).toBe('{"type":"object","properties":{"a":{"description":"d","type":"string"}}}');
  });
});

describe("the CRD document", () => {
  const crd = modelDeploymentCrd();

  it("names, scope, status subresource and printer columns", () => {
    expect(crd["spec"]).toMatchObject({
      group: "modelpack.dev",
      scope: "Namespaced",
      names: {
        kind: "ModelDeployment",
        plural: "modeldeployments",
        shortNames: [...SHORT_NAMES],
        categories: ["modelpack"],
      },
      versions: [{ name: "v1alpha1", served: true, storage: true, subresources: { status: {} } }],
    });
    expect(PRINTER_COLUMNS.map((c) => [c["name"], c["jsonPath"], c["priority"] ?? 0])).toEqual([
      ["Model", ".spec.model.reference", 0],
      ["Digest", ".status.resolved.shortDigest", 0],
      ["Strategy", ".status.strategy", 0],
      ["Ready", '.status.conditions[?(@.type=="Ready")].status', 0],
      ["Reason", '.status.conditions[?(@.type=="Ready")].reason', 1],
      ["Pods", ".status.pods.matched", 1],
      ["Stale", ".status.pods.stale", 1],
      ["Age", ".metadata.creationTimestamp", 0],
    ]);
  });

  it("every printer column reads a field the schema has", () => {
    const schema = modelDeploymentSchema();
    for (const column of PRINTER_COLUMNS) {
      const path = String(column["jsonPath"])
        .replace(/^\./, "")
        .replace(/\[\?.*?\]/, "[]");
      if (path.startsWith("metadata.")) continue;
      expect(at(schema, path), path).toBeDefined();
    }
  });

  it("renders deterministically, with a header naming the generator", () => {
    const yaml = renderCrdYaml();
    expect(renderCrdYaml()).toBe(yaml);
    expect(yaml.split("\n").slice(0, 3).join("\n")).toContain(
      `Generated from src/api/v1alpha1.ts by \`${GENERATE_COMMAND}\`; do not edit`,
    );
  });

  it("the YAML reads back as the same document", () => {
    const body = renderCrdYaml().replace(/^(#.*\n)+/, "");
    // Wrapped so that client-node returns plain data instead of a typed (renamed) CRD object.
    const indented = body.replace(/^/gm, "  ").replace(/ +$/, "");
    expect(loadYaml(`doc:\n${indented}`)).toEqual({ doc: crd });
  });
});
