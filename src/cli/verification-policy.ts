import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { loadYaml } from "@kubernetes/client-node";
import type { LoadedVerificationPolicy } from "../controller/verification.js";
import { VerificationPolicy } from "../signature/index.js";
import { UsageError } from "./usage-error.js";

/**
 * Reads `run --verification-policy FILE` (YAML or JSON): the rules, and each rule's
 * `trustedRootFile` (relative to the policy's folder: a ConfigMap mounted as a folder holds both).
 * UsageError names the file and the first problem.
 */
export async function loadVerificationPolicy(path: string): Promise<LoadedVerificationPolicy> {
  const text = await readFile(path, "utf8").catch((err: Error) => {
    throw new UsageError(`cannot read --verification-policy ${path}: ${err.message}`);
  });
  let document: unknown;
  try {
    document = loadYaml(text);
  } catch (err) {
    throw new UsageError(`--verification-policy ${path} is not YAML or JSON: ${(err as Error).message}`);
  }
  const parsed = VerificationPolicy.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `--verification-policy ${path}: ${issue === undefined ? "invalid" : `${issue.path.join(".") || "(root)"}: ${issue.message}`}`,
    );
  }
  const trustedRoots = new Map<string, string>();
  for (const rule of parsed.data.rules) {
    for (const pattern of rule.identities) {
      if (pattern.subjectRegExp === undefined) continue;
      try {
        new RegExp(pattern.subjectRegExp);
      } catch (err) {
        throw new UsageError(
          `--verification-policy ${path}: rule ${rule.name}: subjectRegExp: ${(err as Error).message}`,
        );
      }
    }
    if (rule.trustedRootFile === undefined) {
      if (rule.identities.length > 0)
        throw new UsageError(
          `--verification-policy ${path}: rule ${rule.name} trusts identities and needs trustedRootFile (the certificate authority and transparency logs to check them against)`,
        );
      continue;
    }
    const rootPath = resolve(dirname(path), rule.trustedRootFile);
    const root = await readFile(rootPath, "utf8").catch((err: Error) => {
      throw new UsageError(
        `--verification-policy ${path}: rule ${rule.name}: cannot read ${rootPath}: ${err.message}`,
      );
    });
    try {
      JSON.parse(root);
    } catch {
      throw new UsageError(`--verification-policy ${path}: rule ${rule.name}: ${rootPath} is not JSON`);
    }
    trustedRoots.set(rule.name, root);
  }
  return { policy: parsed.data, trustedRoots };
}
