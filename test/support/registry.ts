import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCertificateAuthority, issueServingCertificate } from "../harness/pki.js";
import { pickFreePorts } from "../harness/ports.js";
import { guardProcessGroup, readLogTail, spawnProcess, stopProcessGroup } from "../harness/process.js";
import { waitFor } from "../harness/testing.js";
import { ensureTools } from "../harness/tools.js";
import { startTokenIssuer, type TokenIssuer } from "./token-issuer.js";

/**
 * Real OCI registries for tests, on 127.0.0.1 with a fresh storage folder, both built from Go
 * modules by build-tools.sh (nothing to install):
 * - `distribution`: the distribution v3 registry (CNCF distribution's `registry`; no referrers API)
 * - `olareg`: olareg (referrers API)
 * Auth: none, Basic (bcrypt htpasswd entries written by the harness's own `htpasswd` tool), or
 * Bearer tokens from a test token issuer (distribution only).
 */
export interface RegistryOptions {
  readonly kind?: "distribution" | "olareg";
  readonly auth?: "none" | "basic" | "token";
  readonly tls?: boolean;
  readonly username?: string;
  readonly password?: string;
  /**
   * Serve inside a real node's network namespace at `address` (see test/harness/real-node), so that
   * the node's runtime, its pods and this process all reach it at the same `host`. Default:
   * 127.0.0.1 here. distribution only.
   */
  readonly network?: { readonly netnsPath: string; readonly address: string };
}

export interface TestRegistry {
  /** host:port, as used in references. */
  readonly host: string;
  /** Base URL (`http://` or `https://`). */
  readonly url: string;
  readonly caPem?: string;
  readonly username: string;
  readonly password: string;
  readonly tokenIssuer?: TokenIssuer;
  /** The last lines of the registry's log, for failure messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
  /** Stops the server but keeps its storage (the registry is "down"). */
  pause(): Promise<void>;
  /** Starts it again on the same port with the same content. */
  resume(): Promise<void>;
}

/** `user:bcrypt-hash`, as Apache's `htpasswd -nbB` writes it (the password goes in on stdin). */
function htpasswdLine(tools: string, username: string, password: string): string {
  return execFileSync(join(tools, "htpasswd"), [username], {
    input: password + "\n",
    encoding: "utf8",
  }).trim();
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const kind = options.kind ?? "distribution";
  const auth = options.auth ?? "none";
  const username = options.username ?? "tester";
  const password = options.password ?? "s3cret-pass";
  const dir = mkdtempSync(join(tmpdir(), `mpo-${kind}-`));
  const [port = 0] = await pickFreePorts(1);
  const address = options.network?.address ?? "127.0.0.1";
  if (options.network && kind !== "distribution")
    throw new Error("a registry inside a real node's namespace is the distribution registry");
  const certificates =
    options.tls === true
      ? await issueServingCertificate(await createCertificateAuthority(dir), {
          ipSans: ["127.0.0.1"],
          dnsSans: ["localhost"],
        })
      : undefined;
  if (certificates !== undefined) {
    writeFileSync(join(dir, "tls.crt"), certificates.certPem);
    writeFileSync(join(dir, "tls.key"), certificates.keyPem);
  }
  let tokenIssuer: TokenIssuer | undefined;
  let command: string;
  let args: string[];
  let env: NodeJS.ProcessEnv | undefined;
  // One look-up for every Go tool this registry needs (build-tools.sh builds missing ones).
  const tools = await ensureTools(
    kind === "distribution" ? ["registry", "htpasswd"] : ["olareg", "htpasswd"],
  );

  if (kind === "distribution") {
    const lines = [
      "version: 0.1",
      "log: {level: warn, accesslog: {disabled: true}}",
      `storage: {filesystem: {rootdirectory: ${join(dir, "data")}}, delete: {enabled: true}}`,
      `http: {addr: "${address}:${port}"${certificates !== undefined ? `, tls: {certificate: ${join(dir, "tls.crt")}, key: ${join(dir, "tls.key")}}` : ""}}`,
    ];
    if (auth === "basic") {
      writeFileSync(join(dir, "htpasswd"), htpasswdLine(tools.htpasswd, username, password) + "\n");
      lines.push(`auth: {htpasswd: {realm: test-realm, path: ${join(dir, "htpasswd")}}}`);
    } else if (auth === "token") {
      tokenIssuer = await startTokenIssuer({ username, password });
      writeFileSync(join(dir, "token-root.pem"), tokenIssuer.certPem);
      lines.push(
        `auth: {token: {realm: "${tokenIssuer.realm}", service: ${tokenIssuer.service}, issuer: ${tokenIssuer.issuer}, rootcertbundle: ${join(dir, "token-root.pem")}}}`,
      );
    }
    writeFileSync(join(dir, "config.yml"), lines.join("\n") + "\n");
    command = join(tools.registry, "registry");
    args = ["serve", join(dir, "config.yml")];
    // distribution v3 exports OpenTelemetry traces by default (to an OTLP endpoint on localhost).
    env = { ...process.env, OTEL_TRACES_EXPORTER: "none" };
  } else {
    if (auth === "token") throw new Error("the olareg test registry supports auth none or basic");
    command = join(tools.olareg, "olareg");
    args = [
      "serve",
      "--addr",
      "127.0.0.1",
      "--port",
      String(port),
      "--store-type",
      "dir",
      "--dir",
      join(dir, "data"),
      "--api-delete",
    ];
    if (certificates !== undefined)
      args.push("--tls-cert", join(dir, "tls.crt"), "--tls-key", join(dir, "tls.key"));
    if (auth === "basic") {
      const hash = htpasswdLine(tools.htpasswd, username, password).split(":").slice(1).join(":");
      writeFileSync(
        join(dir, "auth.yaml"),
        [
          "users:",
          `  ${username}: {cred: "${hash}"}`,
          "groups:",
          `  all: {members: ["${username}"]}`,
          "acls:",
          '  - {repo: "*", members: ["all"], access: ["read", "write", "delete"]}',
          '  - {repo: "", members: ["all"], access: ["read"]}',
          "",
        ].join("\n"),
      );
      args.push("--auth-basic", join(dir, "auth.yaml"));
    }
  }

  const scheme = certificates !== undefined ? "https" : "http";
  const url = `${scheme}://${address}:${port}`;
  const logPath = join(dir, `${kind}.log`);
  const launch = async (): Promise<{ pid: number; release: () => void }> => {
    const proc = await spawnProcess({
      name: kind,
      ...(options.network
        ? { command: "nsenter", args: [`--net=${options.network.netnsPath}`, "--", command, ...args] }
        : { command, args }),
      logPath,
      ...(env !== undefined && { env }),
    });
    const release = guardProcessGroup(proc.pid);
    await waitFor(
      `${kind} registry on ${url} (log: ${logPath})`,
      async () => {
        if (proc.exitInfo() !== undefined) throw new Error(`${kind} exited:\n${readLogTail(logPath, 20)}`);
        // Any HTTP answer means it listens (a TLS port answers plain HTTP with 400).
        const res = await fetch(`http://${address}:${port}/v2/`).catch(() => undefined);
        return res !== undefined ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    return { pid: proc.pid, release };
  };
  const stopServer = async (server: { pid: number; release: () => void }): Promise<void> => {
    await stopProcessGroup(server.pid);
    server.release();
  };
  let server: { pid: number; release: () => void } | undefined = await launch();
  return {
    host: `${address}:${port}`,
    url,
    ...(certificates !== undefined && { caPem: certificates.caPem }),
    username,
    password,
    ...(tokenIssuer !== undefined && { tokenIssuer }),
    logTail: (lines = 40) => readLogTail(logPath, lines),
    async pause() {
      if (server !== undefined) await stopServer(server);
      server = undefined;
    },
    async resume() {
      server ??= await launch();
    },
    async stop() {
      if (server !== undefined) await stopServer(server);
      await tokenIssuer?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
