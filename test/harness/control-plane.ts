/**
 * A real Kubernetes control plane on loopback for integration tests, like controller-runtime's
 * envtest but built from Go modules: etcd + kube-apiserver, and with `full` also
 * kube-controller-manager, kube-scheduler and kwok (fake nodes that run pods on paper).
 *
 * Guarantees:
 * - every listener binds 127.0.0.1 on a port picked free at start; nothing dials a non-loopback address;
 * - each component runs in its own process group, with stdout+stderr in `<dir>/logs/<component>.log`;
 * - until `detach()`, no component outlives the calling Node process (exit and signal hooks,
 *   plus a watchdog for SIGKILL), and `stop()` removes the temporary folder;
 * - errors name the component and end with its log tail and the path of the full log.
 */
import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ComponentSet, type ComponentInfo } from "./component-set.js";
import {
  apiserverCommand,
  controllerManagerCommand,
  etcdCommand,
  kwokCommand,
  schedulerCommand,
  type CommandLine,
  type ComponentName,
} from "./components.js";
import { HarnessError } from "./errors.js";
import { httpsGet } from "./https.js";
import { writeAdminKubeconfig } from "./kubeconfig.js";
import { createFakeNodes, defaultFakeNodeTemplate, type FakeNodeTemplate } from "./nodes.js";
import {
  createControlPlanePki,
  issueServingCertificate,
  type ControlPlanePki,
  type ServingCertificate,
  type ServingCertificateRequest,
} from "./pki.js";
import { LOOPBACK, pickFreePorts } from "./ports.js";
import { guardDirectory } from "./process.js";
import { assertRunning, waitForHealthz, waitForReadyz } from "./readiness.js";
import { ensureTools } from "./tools.js";
import {
  controlPlaneTools,
  DEFAULT_KUBERNETES_VERSION,
  kubernetesTools,
  type KubernetesVersion,
} from "./versions.js";

export interface StartControlPlaneOptions {
  /** Also run kube-controller-manager, kube-scheduler and kwok (Deployments → Pods). Default false. */
  full?: boolean;
  /**
   * The Kubernetes minor to run (kube-apiserver and, with `full`, controller-manager and scheduler),
   * each pinned to one patch release in build-tools.sh. Default `DEFAULT_KUBERNETES_VERSION` (1.35).
   * Other minors build on first use (about 5 min each on 2 cores).
   */
  kubernetesVersion?: KubernetesVersion;
  /** Passed as `--feature-gates` to kube-apiserver (and, with `full`, controller-manager and scheduler). Default: release defaults. */
  featureGates?: Record<string, boolean>;
  /**
   * Folder for PKI, etcd data, kubeconfig and logs. Given: owned by the caller and never removed
   * (its `etcd/` is wiped at start). Default: a fresh folder under the OS temp dir, removed by `stop()`.
   */
  dir?: string;
  /** Keep the temporary folder after `stop()` (for post-mortems). Default: `HARNESS_KEEP_DIR=1` in the environment. */
  keepDir?: boolean;
  /** Progress lines (tool builds, start phases). Default: build progress to stderr, nothing else. */
  log?: (line: string) => void;
  /** Defaults for `createFakeNodes`, merged over `defaultFakeNodeTemplate(version)`. */
  nodeTemplate?: Partial<FakeNodeTemplate>;
  /** How long to wait for `/readyz`. Default 90 s. */
  readyTimeoutMs?: number;
  /**
   * Run etcd and kube-apiserver inside a network namespace the caller created (the real node's,
   * see real-node.ts), the apiserver bound to `address` there and advertised as the `kubernetes`
   * Service's endpoint, so that a real kubelet and real pods reach it. The caller routes `address`
   * from this process's namespace. Default: both on 127.0.0.1 here.
   */
  network?: ControlPlaneNetwork;
}

export interface ControlPlaneNetwork {
  /** A bind-mounted network namespace file (`nsenter --net=<path>`). */
  netnsPath: string;
  /** A non-loopback address inside that namespace, e.g. the node bridge's. */
  address: string;
}

export interface ControlPlane {
  /** Admin kubeconfig (`O=system:masters`), certificates embedded: `<dir>/kubeconfig`. */
  readonly kubeconfigPath: string;
  /** The same kubeconfig, loaded. */
  readonly kubeConfig: KubeConfig;
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** The harness CA: trust anchor of the apiserver and of every certificate it issues. */
  readonly caPem: string;
  /** `/version` gitVersion, e.g. `v1.35.8`. */
  readonly version: string;
  readonly dir: string;
  readonly full: boolean;
  readonly featureGates: Readonly<Record<string, boolean>>;
  /** In start order. */
  readonly components: readonly ComponentInfo[];
  /** Wall time `startControlPlane` took, tool check included. */
  readonly startupMs: number;
  /** Last `lines` (default 50) lines of a component's log; "" if that component was not started or its log is gone. */
  logTail(component: ComponentName, lines?: number): string;
  /** The log tails (default 30 lines) of all started components, each under a header with its log path (for failure reports). */
  logTails(lines?: number): string;
  /** A serving certificate signed by the harness CA, e.g. for a webhook on https://127.0.0.1:PORT. */
  issueServingCertificate(request: ServingCertificateRequest): Promise<ServingCertificate>;
  /**
   * Lets the components outlive this Node process (for `harness up`): drops the exit hooks, the
   * watchdog and the folder's removal at exit. Afterwards only `stop()` or killing the process
   * groups listed in `components` ends them. Idempotent.
   */
  detach(): Promise<void>;
  /**
   * Stops every component (clients first, then the apiserver, then etcd; SIGTERM to each process
   * group, SIGKILL after 5 s) and removes the temporary folder unless kept. Idempotent; never throws.
   */
  stop(): Promise<void>;
}

export interface FullControlPlane extends ControlPlane {
  readonly full: true;
  /**
   * Creates `count` kwok-managed Nodes (template: options.nodeTemplate, then `template`) and resolves
   * once all are Ready. Throws HarnessError `nodes-not-ready` with kwok's log tail after 60 s.
   */
  createFakeNodes(count: number, template?: Partial<FakeNodeTemplate>): Promise<V1Node[]>;
}

const DEFAULT_READY_TIMEOUT_MS = 90_000;
const HEALTH_TIMEOUT_MS = 60_000;
const PORT_ATTEMPTS = 3;

const VersionInfo = z.object({ gitVersion: z.string() });

/**
 * Starts a control plane and resolves once kube-apiserver answers `/readyz` (and, with `full`,
 * kube-controller-manager and kube-scheduler answer `/healthz`). Builds missing tools first (see
 * `ensureTools`; a cold build takes many minutes). A port taken by someone else between picking
 * and binding is retried with fresh ports. On failure everything started is stopped, and the
 * HarnessError names the component, its log tail and the log path (the folder is kept then).
 */
export function startControlPlane(
  options: StartControlPlaneOptions & { full: true },
): Promise<FullControlPlane>;
export function startControlPlane(options?: StartControlPlaneOptions): Promise<ControlPlane>;
export async function startControlPlane(options: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const full = options.full ?? false;
  const featureGates = { ...options.featureGates };
  const log = options.log ?? (() => undefined);
  const phase = (what: string): void => log(`harness: ${what} (${Date.now() - started} ms)`);

  const kubernetesVersion = options.kubernetesVersion ?? DEFAULT_KUBERNETES_VERSION;
  const names = kubernetesTools(kubernetesVersion);
  const built = await ensureTools(controlPlaneTools(kubernetesVersion, full), {
    ...(options.log ? { log: options.log } : {}),
    // A bare plane needs only kube-apiserver of the Kubernetes binaries (envtest's asset set).
    ...(full ? {} : { files: { [names.apiserver]: ["kube-apiserver"] } }),
  });
  const tools = {
    kubernetes: built[names.apiserver],
    controllers: built[names.controllers],
    etcd: built.etcd,
    kwok: built.kwok,
  };
  phase(`tools ready (Kubernetes ${kubernetesVersion})`);

  const ownsDir = options.dir === undefined;
  const dir = options.dir ? resolve(options.dir) : await mkdtemp(join(tmpdir(), "modelpack-harness-"));
  const keepDir = !ownsDir || (options.keepDir ?? process.env.HARNESS_KEEP_DIR === "1");
  await mkdir(join(dir, "logs"), { recursive: true });
  const components = new ComponentSet({
    logsDir: join(dir, "logs"),
    watchdogListPath: join(dir, ".process-groups"),
    ...(keepDir ? {} : { removeOnOrphan: dir }),
  });
  if (!keepDir) components.onRelease(guardDirectory(dir));

  try {
    const pki = await createControlPlanePki(
      join(dir, "pki"),
      options.network ? [options.network.address] : [],
    );
    phase("PKI created");
    const kubeconfigPath = join(dir, "kubeconfig");
    const { server, kubeConfig } = await startApiserver({
      components,
      pki,
      dir,
      kubeconfigPath,
      binDirs: tools,
      featureGates,
      withControllerManager: full,
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      log,
      ...(options.network ? { network: options.network } : {}),
    });
    phase(`kube-apiserver ready at ${server}`);
    const versionResponse = await httpsGet(`${server}/version`, { caPem: pki.ca.certPem });
    const version = VersionInfo.parse(JSON.parse(versionResponse.body)).gitVersion;
    if (!version.startsWith(`v${kubernetesVersion}.`)) {
      throw new HarnessError(
        "version-mismatch",
        `kube-apiserver in ${tools.kubernetes} reports ${version}, but Kubernetes ${kubernetesVersion} was asked for; remove that folder so build-tools.sh rebuilds it`,
      );
    }

    if (full) {
      const { controllers, kwok } = tools; // full ⇒ both were built
      await Promise.all([
        startWithHealthz(components, "kube-controller-manager", (port) =>
          controllerManagerCommand(
            controllers,
            kubeconfigPath,
            pki,
            port,
            featureGates,
            join(dir, "kcm-certs"),
          ),
        ),
        startWithHealthz(components, "kube-scheduler", (port) =>
          schedulerCommand(controllers, kubeconfigPath, port, featureGates, join(dir, "scheduler-certs")),
        ),
        // HOME points into the folder so that no ~/.kwok of the user's changes kwok's behaviour.
        components.launch("kwok", {
          ...kwokCommand(kwok, kubeconfigPath),
          env: { ...process.env, HOME: dir },
        }),
      ]);
      phase("kube-controller-manager, kube-scheduler and kwok started");
    }

    const template: FakeNodeTemplate = { ...defaultFakeNodeTemplate(version), ...options.nodeTemplate };
    let stopping: Promise<void> | undefined;
    const stop = async (): Promise<void> => {
      await components.stopAll();
      if (!keepDir) await rm(dir, { recursive: true, force: true });
    };
    const plane: FullControlPlane = {
      kubeconfigPath,
      kubeConfig,
      server,
      caPem: pki.ca.certPem,
      version,
      dir,
      full: true,
      featureGates,
      components: components.info(),
      startupMs: Date.now() - started,
      logTail: (component, lines = 50) => components.logTail(component, lines),
      logTails: (lines = 30) => components.logTails(lines),
      issueServingCertificate: (request) => issueServingCertificate(pki.ca, request),
      createFakeNodes: (count, overrides) => {
        const kwok = components.get("kwok");
        if (!kwok) {
          const message = "createFakeNodes needs a running kwok: startControlPlane({ full: true })";
          return Promise.reject(new HarnessError("not-full", message));
        }
        return createFakeNodes(
          kubeConfig,
          count,
          { ...template, ...overrides },
          {
            assertHealthy: () => assertRunning(kwok, "while fake nodes were being created"),
            describeLogs: () => components.logTails(20),
          },
        );
      },
      detach: () => components.detach(),
      stop: () => (stopping ??= stop()),
    };
    phase(`control plane ${version} up`);
    return full ? plane : { ...plane, full: false };
  } catch (err) {
    // The folder stays: the logs it holds are what the error message points to.
    await components.stopAll();
    throw err;
  }
}

interface ApiserverStart {
  components: ComponentSet;
  pki: ControlPlanePki;
  dir: string;
  kubeconfigPath: string;
  binDirs: { kubernetes: string; etcd: string };
  featureGates: Record<string, boolean>;
  withControllerManager: boolean;
  readyTimeoutMs: number;
  log: (line: string) => void;
  network?: ControlPlaneNetwork;
}

/**
 * Starts etcd and kube-apiserver as a pair and waits for /readyz; writes the admin kubeconfig. A
 * port clash on any of their three ports restarts both with fresh ports, because the kubeconfig
 * and the service-account issuer embed the apiserver port.
 */
async function startApiserver(start: ApiserverStart): Promise<{ server: string; kubeConfig: KubeConfig }> {
  const etcdDir = join(start.dir, "etcd");
  for (let attempt = 1; ; attempt++) {
    const [etcdClient = 0, etcdPeer = 0, apiPort = 0] = await pickFreePorts(3);
    const address = start.network?.address ?? LOOPBACK;
    const server = `https://${address}:${apiPort}`;
    const inNetwork = (line: CommandLine): CommandLine =>
      start.network
        ? {
            ...line,
            command: "nsenter",
            args: [`--net=${start.network.netnsPath}`, "--", line.command, ...line.args],
          }
        : line;
    // A data dir from an earlier attempt or run remembers its old peer URL: start from scratch.
    await rm(etcdDir, { recursive: true, force: true });
    const kubeConfig = await writeAdminKubeconfig(start.kubeconfigPath, {
      server,
      caPem: start.pki.ca.certPem,
      certPem: start.pki.adminCertPem,
      keyPem: start.pki.adminKeyPem,
    });
    const etcd = await start.components.launch(
      "etcd",
      inNetwork(etcdCommand(start.binDirs.etcd, etcdDir, { client: etcdClient, peer: etcdPeer })),
      etcdClient,
    );
    const apiserver = await start.components.launch(
      "kube-apiserver",
      inNetwork(
        apiserverCommand({
          binDir: start.binDirs.kubernetes,
          dir: start.dir,
          pki: start.pki,
          etcdPort: etcdClient,
          port: apiPort,
          featureGates: start.featureGates,
          withControllerManager: start.withControllerManager,
          ...(start.network ? { address: start.network.address } : {}),
        }),
      ),
      apiPort,
    );
    try {
      await waitForReadyz(server, start.pki.ca.certPem, [apiserver, etcd], start.readyTimeoutMs);
      return { server, kubeConfig };
    } catch (err) {
      await start.components.stop(["kube-apiserver", "etcd"]);
      if (!isPortClash(err) || attempt >= PORT_ATTEMPTS) throw err;
      start.log(`harness: ${err.message.split("\n")[0]}; retrying with fresh ports`);
    }
  }
}

/** Launches a component that serves /healthz on its own port; retries a port clash with a fresh port. */
async function startWithHealthz(
  components: ComponentSet,
  name: ComponentName,
  commandLine: (port: number) => CommandLine,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const [port = 0] = await pickFreePorts(1);
    const proc = await components.launch(name, commandLine(port), port);
    try {
      await waitForHealthz(`https://${LOOPBACK}:${port}/healthz`, proc, HEALTH_TIMEOUT_MS);
      return;
    } catch (err) {
      await components.stop([name]);
      if (!isPortClash(err) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

function isPortClash(err: unknown): err is HarnessError {
  return err instanceof HarnessError && err.code === "port-in-use";
}
