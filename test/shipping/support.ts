/**
 * Helpers for the shipping tests: paths, running tools (kubectl, helm, lua5.1, node) and reading
 * what they print. Every server these tests talk to is on 127.0.0.1.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CRD_FILE = join(ROOT, "crds", "modelpack.dev_modeldeployments.yaml");
export const CHART = join(ROOT, "charts", "modelpack-operator");
export const DEPLOY = join(ROOT, "deploy");
/** The Node 24 the project pins (devDependency `node`); the image runs Node 24 too. */
export const NODE = join(ROOT, "node_modules", ".bin", "node");

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (no shell); never throws for a non-zero exit. */
export function run(
  file: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 120_000,
        env: options.env ?? process.env,
        cwd: options.cwd ?? ROOT,
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number")
          return reject(new Error(`${file} ${args.join(" ")}: ${err.message}\n${stderr}`));
        resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like run, but throws with stderr when the exit code is not 0; returns stdout. */
export async function ok(
  file: string,
  args: readonly string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const result = await run(file, args, options);
  if (result.code !== 0)
    throw new Error(
      `${file} ${args.join(" ")} exited with ${result.code}:\n${result.stderr}${result.stdout}`,
    );
  return result.stdout;
}

/** kubectl against a kubeconfig. */
export const kubectl = (kubeconfig: string, args: readonly string[], input?: string) =>
  ok("kubectl", ["--kubeconfig", kubeconfig, ...args], input === undefined ? {} : { input });

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** The items of a `kubectl ... -o json` answer (a List or one object). */
export function items(json: string): KubeObject[] {
  const parsed = JSON.parse(json) as KubeObject & { items?: KubeObject[] };
  return parsed.kind.endsWith("List") && Array.isArray(parsed.items) ? parsed.items : [parsed];
}

/** `kind/namespace/name`, for comparing sets of objects. */
export const key = (o: KubeObject): string => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** `--- `-separated YAML documents → their `kind:` and `metadata.name` lines (no YAML parser needed). */
export function documentHeads(yaml: string): { kind: string; name: string; namespace?: string }[] {
  return yaml
    .split(/^---\s*$/m)
    .map((doc) => doc.replace(/^\s*#.*$/gm, "").trim())
    .filter((doc) => doc !== "")
    .map((doc) => {
      const kind = /^kind: (\S+)$/m.exec(doc)?.[1] ?? "";
      const metadata = /^metadata:\n((?: {2}.*\n?)*)/m.exec(doc)?.[1] ?? "";
      const name = /^ {2}name: (\S+)$/m.exec(metadata)?.[1] ?? "";
      const namespace = /^ {2}namespace: (\S+)$/m.exec(metadata)?.[1];
      return { kind, name, ...(namespace !== undefined && { namespace }) };
    });
}

export const read = (path: string): string => readFileSync(path, "utf8");
