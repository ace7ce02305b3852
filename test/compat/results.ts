/**
 * What the compatibility suite (compatibility.test.ts) observes per Kubernetes minor, the
 * committed record of it (compatibility.json), and the README table rendered from that record.
 * The suite fails when what it observed differs from the record, and when the README's table
 * differs from the record's rendering; `UPDATE_COMPATIBILITY=1` rewrites both instead.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { KUBERNETES_VERSIONS } from "../harness/versions.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const RECORD_PATH = join(ROOT, "test/compat/compatibility.json");
export const README_PATH = join(ROOT, "README.md");
const TABLE_START = "<!-- compatibility table: generated from test/compat/compatibility.json -->";
const TABLE_END = "<!-- end of compatibility table -->";

/** One minor's observations; every field is something a test asserted on a real apiserver. */
export const VersionResult = z.strictObject({
  /** `/version` gitVersion of the apiserver the suite ran against. */
  patch: z.string(),
  /** The generated CRD was accepted and every validation-rule example got the expected verdict (CEL included). */
  crd: z.enum(["pass", "fail"]),
  /** The dry-run capability probe: the apiserver kept or silently dropped `spec.volumes[].image`. */
  imageVolumeField: z.enum(["kept", "dropped"]),
  /** The strategy `Auto` picks with one CRI-O 1.34 node whose kubelet is this version. */
  autoStrategy: z.enum(["ImageVolume", "InitContainer"]),
  /** The webhook mounted the model into a selected pod (with `autoStrategy`) and refused the pod of a not-Ready ModelDeployment. */
  webhook: z.enum(["pass", "fail"]),
  /** Discovery lists `mutatingadmissionpolicies` in admissionregistration.k8s.io/v1. */
  mutatingAdmissionPolicyV1: z.boolean(),
  /** What `run --injection auto` picks here (discovery). */
  autoInjection: z.enum(["admission-policy", "webhook"]),
  /**
   * Injection by admission policies (`--injection admission-policy`, the policy controller run
   * in-process): mounted the model at the digest and refused a not-Ready ModelDeployment's pod.
   */
  admissionPolicies: z.enum(["pass", "fail", "not served"]),
});
export type VersionResult = z.infer<typeof VersionResult>;

export const CompatibilityRecord = z.partialRecord(z.enum(KUBERNETES_VERSIONS), VersionResult);
export type CompatibilityRecord = z.infer<typeof CompatibilityRecord>;

export async function readRecord(): Promise<CompatibilityRecord> {
  return CompatibilityRecord.parse(JSON.parse(await readFile(RECORD_PATH, "utf8")));
}

export async function writeRecord(record: CompatibilityRecord): Promise<void> {
  const ordered = Object.fromEntries(KUBERNETES_VERSIONS.flatMap((v) => (record[v] ? [[v, record[v]]] : [])));
  await writeFile(RECORD_PATH, JSON.stringify(ordered, null, 2) + "\n");
}

/** The README's compatibility table for `record` (pure), markers included. */
export function renderTable(record: CompatibilityRecord): string {
  const yes = (pass: "pass" | "fail") => (pass === "pass" ? "yes" : "**no**");
  const rows = KUBERNETES_VERSIONS.flatMap((version) => {
    const r = record[version];
    if (!r) return [];
    return [
      `| ${version} | ${r.patch} | ${yes(r.crd)} | ${r.imageVolumeField} | ${r.autoStrategy} | ${yes(r.webhook)} | ${r.mutatingAdmissionPolicyV1 ? "served" : "not served"} | ${r.admissionPolicies === "not served" ? "—" : yes(r.admissionPolicies)} | ${r.autoInjection} |`,
    ];
  });
  return [
    TABLE_START,
    "| Kubernetes | tested on | CRD + CEL validation | `spec.volumes[].image` (dry-run probe) | `Auto` picks (CRI-O node) | webhook mounts and refuses | MutatingAdmissionPolicy v1 | admission policies mount and refuse | `--injection auto` picks |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    TABLE_END,
  ].join("\n");
}

/** The table as it stands in README.md, or undefined when the markers are missing. */
export function tableInReadme(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start, end + TABLE_END.length);
}

/** README.md with its table replaced by `table` (the markers must be there already). */
export function withTable(readme: string, table: string): string {
  const current = tableInReadme(readme);
  if (current === undefined) throw new Error(`README.md has no "${TABLE_START}" … "${TABLE_END}" section`);
  return readme.replace(current, table);
}
