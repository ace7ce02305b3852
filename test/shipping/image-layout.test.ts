/**
 * The image without a container engine. The root filesystem is the layers `npm run image` builds
 * (scripts/image: the Dockerfile's runtime stage without Docker; image-build.test.ts holds them
 * against the Dockerfile), extracted into a folder. Then
 * the image's exact ENTRYPOINT `node --max-semi-space-size=2 /app/dist/src/cli/bin.js ...` runs —
 * when this process may (root, unshare, chroot) inside that tree as UID 65532 with a read-only root
 * and a tmpfs /tmp, as the Deployment's securityContext has it — against real servers on loopback:
 * `pull REF --dest DIR` from a real registry (the init container), `--version`/`--help`, and `run`
 * against the harness apiserver with the deploy/ Deployment's own args, as deploy/'s ServiceAccount
 * with deploy/'s RBAC (proving those rules are enough to become ready: caches synced, lease taken,
 * capability probe, webhook Secret and MutatingWebhookConfiguration written).
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pickFreePorts } from "../harness/ports.js";
import { useControlPlane, waitFor } from "../harness/testing.js";
import { buildModelPackArtifact, pushArtifact } from "../support/publisher.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { buildImage } from "../../scripts/image/image.js";
import { extractLayers } from "./image-support.js";
import { DEPLOY, items, kubectl, NODE, read, ROOT, run } from "./support.js";

/** The image's ENTRYPOINT (dockerfile.test.ts pins it to the Dockerfile's). */
const ENTRYPOINT = ["/usr/local/bin/node", "--max-semi-space-size=2", "/app/dist/src/cli/bin.js"];
const UID = 65532;

/** A directory of the host mounted into the container. */
interface Mount {
  readonly host: string;
  readonly at: string;
}

const plane = useControlPlane();

describe("the image's file system runs the image's command lines", () => {
  let work: string;
  let rootfs: string;
  let registry: TestRegistry;
  /** Whether commands run chrooted as 65532 on a read-only root (else: directly, paths mapped). */
  let sandboxed = false;
  /** The image's environment (Dockerfile ENV). */
  // PATH also reaches unshare/mount/chroot on the host; in the image only /usr/local/bin exists.
  const env = {
    PATH: "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    NODE_ENV: "production",
    HOME: "/home/nonroot",
  };

  /** [file, args] that run the ENTRYPOINT with `args` in the image's file system with `mounts`. */
  const image = (args: readonly string[], mounts: readonly Mount[] = []): [string, string[]] => {
    if (!sandboxed) {
      const map = (arg: string) =>
        mounts.reduce((a, m) => a.replaceAll(m.at, m.host), arg.replace("/app/", `${rootfs}/app/`));
      return [NODE, [...ENTRYPOINT.slice(1).map(map), ...args.map(map)]];
    }
    const binds = mounts.map((m) => `mount --bind '${m.host}' '${rootfs}${m.at}'`).join(" && ");
    const script = [
      `mount --bind '${rootfs}' '${rootfs}'`,
      `mount -o remount,ro,bind '${rootfs}'`,
      `mount -t tmpfs -o mode=1777 tmpfs '${rootfs}/tmp'`,
      ...(binds === "" ? [] : [binds]),
      `exec chroot --userspec=${UID}:${UID} '${rootfs}' "$@"`,
    ].join(" && ");
    return ["unshare", ["-m", "sh", "-c", script, "sh", ...ENTRYPOINT, ...args]];
  };
  const runImage = (
    args: readonly string[],
    mounts: readonly Mount[] = [],
    extraEnv: Record<string, string> = {},
  ) => {
    const [file, argv] = image(args, mounts);
    return run(file, argv, { env: { ...env, ...extraEnv }, cwd: "/" });
  };
  /** A host folder that 65532 may write, mounted at `at`. */
  const volume = (name: string, at: string): Mount => {
    const host = join(work, "volumes", name);
    mkdirSync(host, { recursive: true });
    if (sandboxed) chownSync(host, UID, UID);
    mkdirSync(`${rootfs}${at}`, { recursive: true });
    return { host, at };
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "mpo-image-"));
    rootfs = join(work, "rootfs");
    // The image's layers, extracted in order (as root with their owners: /home/nonroot is 65532's).
    mkdirSync(rootfs, { recursive: true });
    const built = await buildImage({ root: ROOT, log: (line) => console.log(line) });
    await extractLayers(
      built.layers.map((layer) => layer.path),
      rootfs,
    );
    // Mount points for the volumes the tests use (the image's root is read-only).
    for (const at of ["/models", "/etc/kube"]) mkdirSync(`${rootfs}${at}`, { recursive: true });
    sandboxed =
      process.getuid?.() === 0 &&
      (
        await run("unshare", [
          "-m",
          "sh",
          "-c",
          `mount -t tmpfs tmpfs '${rootfs}/tmp' && chroot --userspec=${UID}:${UID} '${rootfs}' /usr/local/bin/node -e 0`,
        ]).catch(() => ({ code: 1 }))
      ).code === 0;
    if (!sandboxed)
      console.warn(
        "image-layout: not root or no unshare/chroot: running the entrypoint without the read-only chroot",
      );
    registry = await startRegistry({ kind: "distribution" });
  }, 600_000);

  afterAll(async () => {
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it("holds node, its libraries and the app — no shell", () => {
    expect(readdirSync(join(rootfs, "app")).sort()).toEqual(["dist", "node_modules", "package.json"]);
    expect(readdirSync(join(rootfs, "app", "dist"))).toEqual(["src"]);
    expect(existsSync(join(rootfs, "app", "dist", "src", "cli", "bin.js"))).toBe(true);
    for (const shell of ["bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"])
      expect(existsSync(join(rootfs, shell)), shell).toBe(false);
    expect(read(join(rootfs, "etc", "passwd"))).toContain(`:${UID}:${UID}:`);
    const modules = readdirSync(join(rootfs, "app", "node_modules"));
    for (const dev of ["typescript", "vitest", "tsx", "eslint", "node", "prettier"])
      expect(modules).not.toContain(dev);
    for (const dependency of Object.keys(
      (JSON.parse(read(join(ROOT, "package.json"))) as { dependencies: Record<string, string> }).dependencies,
    )) {
      expect(existsSync(join(rootfs, "app", "node_modules", dependency, "package.json")), dependency).toBe(
        true,
      );
    }
  });

  it("prints the version and the usage, as UID 65532 on a read-only root", async () => {
    const pkg = JSON.parse(read(join(ROOT, "package.json"))) as { version: string };
    const version = await runImage(["--version"]);
    expect(version, version.stderr).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await runImage(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("modelpack-operator run");
    const pullHelp = await runImage(["pull", "--help"]);
    expect(pullHelp.code).toBe(0);
    expect(pullHelp.stdout).toContain("modelpack-operator pull REFERENCE --dest DIR");
    if (sandboxed) {
      const [file, argv] = image([]);
      const probe = await run(
        file,
        [
          ...argv.slice(0, -3),
          "/usr/local/bin/node",
          "-e",
          "console.log(process.getuid()); require('fs').writeFileSync('/app/x', '')",
        ],
        { env, cwd: "/" },
      );
      expect(probe.stdout.trim()).toBe(String(UID));
      expect(probe.stderr).toMatch(/EROFS|EACCES/);
    }
  });

  it("pulls a model as the init container does: pull REF --dest DIR", async () => {
    const files = [
      { path: "model.safetensors", content: Buffer.alloc(300_000, 7) },
      { path: "tokenizer/config.json", content: '{"vocab":1}' },
    ];
    await pushArtifact(registry, "models/tiny", "v1", await buildModelPackArtifact(files));
    const models = volume("models", "/models");
    const pulled = await runImage(
      ["pull", `${registry.host}/models/tiny:v1`, "--dest", "/models/tiny", "--plain-http"],
      [models],
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    for (const file of files)
      expect(
        readFileSync(join(models.host, "tiny", file.path)).equals(Buffer.from(file.content)),
        file.path,
      ).toBe(true);
  });

  it("exits 3 when the registry is unreachable, as the init container would", async () => {
    const [port] = await pickFreePorts(1);
    const failed = await runImage(
      ["pull", `127.0.0.1:${port}/models/none:v1`, "--dest", "/models/none", "--plain-http"],
      [volume("none", "/models")],
    );
    expect(failed.code, failed.stderr).toBe(3);
  });

  describe("run, as deploy/'s ServiceAccount with deploy/'s RBAC", () => {
    let operator: ChildProcess | undefined;
    let stderr = "";

    afterAll(async () => {
      if (operator !== undefined && operator.exitCode === null) {
        operator.kill("SIGKILL");
        await new Promise((r) => operator?.once("exit", r));
      }
    });

    it("becomes ready with the Deployment's arguments and stops cleanly on SIGTERM", async () => {
      const admin = plane().kubeconfigPath;
      // Everything in deploy/ (nothing runs the Deployment's pods on a bare control plane).
      await kubectl(admin, ["apply", "--server-side", "-k", DEPLOY]);
      const token = (
        await kubectl(admin, [
          "-n",
          "modelpack-system",
          "create",
          "token",
          "modelpack-operator",
          "--duration=1h",
        ])
      ).trim();
      // What a pod gets from its projected ServiceAccount token, as a kubeconfig on a read-only volume.
      const kube = volume("kube", "/etc/kube");
      writeFileSync(join(kube.host, "ca.crt"), plane().caPem);
      writeFileSync(
        join(kube.host, "kubeconfig"),
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [
            {
              name: "plane",
              cluster: {
                server: plane().server,
                "certificate-authority": sandboxed ? "/etc/kube/ca.crt" : join(kube.host, "ca.crt"),
              },
            },
          ],
          users: [{ name: "sa", user: { token } }],
          contexts: [
            { name: "sa", context: { cluster: "plane", user: "sa", namespace: "modelpack-system" } },
          ],
          "current-context": "sa",
        }),
      );
      // The Deployment's own args, with loopback addresses and the webhook registered by URL (no pod network here).
      const deployment = items(
        await kubectl(admin, [
          "-n",
          "modelpack-system",
          "get",
          "deployment",
          "modelpack-operator",
          "-o",
          "json",
        ]),
      )[0] as unknown as {
        spec: { template: { spec: { containers: { args: string[] }[] } } };
      };
      const [health = 0, webhook = 0] = await pickFreePorts(2);
      const args = (deployment.spec.template.spec.containers[0]?.args ?? []).map((arg) => {
        if (arg.startsWith("--health-bind-address=")) return `--health-bind-address=127.0.0.1:${health}`;
        if (arg.startsWith("--webhook-bind-address=")) return `--webhook-bind-address=127.0.0.1:${webhook}`;
        return arg;
      });
      expect(args[0]).toBe("run");
      const [file, argv] = image([...args, `--webhook-url=https://127.0.0.1:${webhook}/mutate-pods`], [kube]);
      operator = spawn(file, argv, {
        cwd: "/",
        env: {
          ...env,
          KUBECONFIG: sandboxed ? "/etc/kube/kubeconfig" : join(kube.host, "kubeconfig"),
          POD_NAME: "modelpack-operator-abc12-xyz",
          POD_NAMESPACE: "modelpack-system",
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      operator.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
      const exited = new Promise<number | null>((resolve) => operator?.once("exit", (code) => resolve(code)));
      const ready = await waitFor(
        "the operator's /readyz to answer 200",
        async () => {
          if (operator?.exitCode !== null) return "exited";
          return (await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined))?.status === 200
            ? "ready"
            : undefined;
        },
        { timeoutMs: 90_000 },
      ).catch((err: Error) => err.message);
      expect(ready, `operator stderr:\n${stderr}`).toBe("ready");
      expect((await fetch(`http://127.0.0.1:${health}/healthz`)).status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${health}/metrics`)).text()).toContain("workqueue_depth");
      // What it wrote with those permissions.
      const leases = JSON.parse(
        await kubectl(admin, ["-n", "modelpack-system", "get", "leases", "-o", "json"]),
      ) as { items: { spec: { holderIdentity?: string } }[] };
      expect(leases.items.map((l) => l.spec.holderIdentity)).toContain("modelpack-operator-abc12-xyz");
      await kubectl(admin, ["-n", "modelpack-system", "get", "secret", "modelpack-operator-webhook-tls"]);
      const configuration = JSON.parse(
        await kubectl(admin, ["get", "mutatingwebhookconfiguration", "modelpack-operator", "-o", "json"]),
      ) as {
        webhooks: { clientConfig: { url?: string; caBundle?: string } }[];
      };
      expect(configuration.webhooks[0]?.clientConfig.url).toBe(`https://127.0.0.1:${webhook}/mutate-pods`);
      expect(configuration.webhooks[0]?.clientConfig.caBundle).toBeTruthy();
      expect(stderr).not.toMatch(/forbidden/i);
      operator.kill("SIGTERM");
      expect(await exited).toBe(0);
    });
  });
});
