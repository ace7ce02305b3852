/**
 * The ModelDeployment CustomResourceDefinition, built from the zod schema in v1alpha1.ts. Pure:
 * the same source always gives the same object and the same YAML (scripts/generate-crds.ts writes
 * it to crds/, and CI fails when the file there differs).
 */
import { z } from "zod";
import { asJson, isJsonObject, type Json, type JsonObject } from "./json.js";
import {
  API_VERSION,
  CATEGORIES,
  CRD_NAME,
  GROUP,
  KIND,
  LIST_KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from "./names.js";
import { toStructuralSchema } from "./structural.js";
import { ModelDeployment } from "./v1alpha1.js";
import { toYaml } from "./yaml.js";

/** Where the generated CRD lives, relative to the repository root. */
export const CRD_FILE = `crds/${GROUP}_${PLURAL}.yaml`;

/** The command that regenerates CRD_FILE; named in its header. */
export const GENERATE_COMMAND = "npm run generate:crds";

/**
 * `kubectl get md` columns. JSONPath cannot shorten a string, so the Digest column reads
 * `status.resolved.shortDigest`, which the controller writes beside the full digest. Columns with
 * priority 1 appear with `-o wide` only.
 */
export const PRINTER_COLUMNS: readonly JsonObject[] = [
  {
    name: "Model",
    type: "string",
    description: "The model reference as written.",
    jsonPath: ".spec.model.reference",
  },
  {
    name: "Digest",
    type: "string",
    description: "The digest the reference resolved to, shortened.",
    jsonPath: ".status.resolved.shortDigest",
  },
  {
    name: "Strategy",
    type: "string",
    description: "The mount strategy in effect.",
    jsonPath: ".status.strategy",
  },
  {
    name: "Ready",
    type: "string",
    description: "Status of the Ready condition.",
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  },
  {
    name: "Reason",
    type: "string",
    description: "Reason of the Ready condition.",
    jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
    priority: 1,
  },
  {
    name: "Pods",
    type: "integer",
    description: "Pods the selector matches.",
    jsonPath: ".status.pods.matched",
    priority: 1,
  },
  {
    name: "Stale",
    type: "integer",
    description: "Matched pods that do not mount the resolved digest yet.",
    jsonPath: ".status.pods.stale",
    priority: 1,
  },
  { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
];

/**
 * The OpenAPI schema of ModelDeployment as the CRD serves it: zod's output made structural (see
 * structural.ts), with the places Kubernetes owns handed back to it — `metadata` is
 * `{type: object}` (the apiserver validates object metadata itself), `apiVersion` and `kind` are
 * plain strings, and only `spec` is required.
 */
export function modelDeploymentSchema(): JsonObject {
  const generated = asJson(
    z.toJSONSchema(ModelDeployment, {
      target: "openapi-3.0",
      io: "input",
      cycles: "throw",
      reused: "inline",
    }),
  );
  if (!isJsonObject(generated) || !isJsonObject(generated["properties"])) {
    throw new Error("zod did not produce an object schema for ModelDeployment");
  }
  const { apiVersion, kind } = generated["properties"];
  const root: JsonObject = {
    ...generated,
    required: ["spec"],
    properties: {
      ...generated["properties"],
      apiVersion: { type: "string", description: describedAs(apiVersion) },
      kind: { type: "string", description: describedAs(kind) },
      metadata: { type: "object" },
    },
  };
  return toStructuralSchema(root);
}

function describedAs(schema: Json | undefined): string {
  const description = isJsonObject(schema) ? schema["description"] : undefined;
  if (typeof description !== "string") throw new Error("apiVersion and kind need a description");
  return description;
}

/** The CustomResourceDefinition document. */
export function modelDeploymentCrd(): JsonObject {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: [...SHORT_NAMES],
        categories: [...CATEGORIES],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...PRINTER_COLUMNS],
          schema: { openAPIV3Schema: modelDeploymentSchema() },
        },
      ],
    },
  };
}

/** The exact contents of CRD_FILE: a header saying how it was made, then the CRD as YAML. */
export function renderCrdYaml(): string {
  const header = [
    `# ${CRD_FILE}: the ${KIND} (${API_VERSION}) CustomResourceDefinition.`,
    `# Generated from src/api/v1alpha1.ts by \`${GENERATE_COMMAND}\`; do not edit.`,
    "# CI runs `bash scripts/check-crds.sh`, which fails when this file is out of date.",
  ];
  return `${header.join("\n")}\n${toYaml(modelDeploymentCrd())}`;
}
