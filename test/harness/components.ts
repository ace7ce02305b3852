/**
 * Command lines of the control-plane components (pure functions, no I/O). Every listener binds
 * 127.0.0.1. The flags are the ones controller-runtime's envtest gives etcd and kube-apiserver,
 * and kwokctl gives kube-controller-manager, kube-scheduler and kwok; where we differ or a flag is
 * not obvious, a comment at the flag says why.
 */
import { join } from "node:path";
import type { ControlPlanePki } from "./pki.js";
import { LOOPBACK } from "./ports.js";

/** The processes a control plane consists of, in start order. */
export const COMPONENT_NAMES = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** Stop order, group by group: clients before the apiserver, the apiserver before etcd. */
export const STOP_ORDER: readonly (readonly ComponentName[])[] = [
  ["kwok", "kube-scheduler", "kube-controller-manager"],
  ["kube-apiserver"],
  ["etcd"],
];

/** Annotation that makes kwok manage a Node; nodes without it are left alone. */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";
export const KWOK_NODE_ANNOTATION_VALUE = "fake";

/** Service ClusterIPs are data only here: nothing may ever dial into these ranges. */
const SERVICE_CIDR = "10.0.0.0/24";
const POD_CIDR = "10.244.0.0/16";

export interface CommandLine {
  command: string;
  args: string[];
  /** Default: the harness's own environment. */
  env?: NodeJS.ProcessEnv;
}

export function etcdCommand(
  binDir: string,
  dataDir: string,
  ports: { client: number; peer: number },
): CommandLine {
  const client = `http://${LOOPBACK}:${ports.client}`;
  const peer = `http://${LOOPBACK}:${ports.peer}`;
  return {
    command: join(binDir, "etcd"),
    args: [
      "--name=default",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      "--initial-cluster-state=new",
      // Test data is disposable; skipping fsync makes etcd, and so every write, much faster.
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ],
  };
}

export interface ApiserverConfig {
  binDir: string;
  dir: string;
  pki: ControlPlanePki;
  etcdPort: number;
  port: number;
  featureGates: Readonly<Record<string, boolean>>;
  /** Whether kube-controller-manager runs (it creates the `default` ServiceAccounts). */
  withControllerManager: boolean;
  /**
   * The address to bind and advertise (default 127.0.0.1). A non-loopback one (a real node's
   * network namespace) is also written to the `kubernetes` Service's endpoints, so pods reach it.
   */
  address?: string;
}

export function apiserverCommand(config: ApiserverConfig): CommandLine {
  const address = config.address ?? LOOPBACK;
  const args = [
    `--etcd-servers=http://${LOOPBACK}:${config.etcdPort}`,
    `--bind-address=${address}`,
    `--secure-port=${config.port}`,
    `--advertise-address=${address}`,
    // The `kubernetes` Endpoints object rejects loopback addresses, and with no default route the
    // apiserver cannot derive an address at all: on loopback, advertise it and skip the reconciler.
    ...(address === LOOPBACK
      ? ["--endpoint-reconciler-type=none"]
      : // A real node's Hostname address does not resolve: reach kubelets at their InternalIP.
        ["--kubelet-preferred-address-types=InternalIP"]),
    `--tls-cert-file=${config.pki.apiserverCertPath}`,
    `--tls-private-key-file=${config.pki.apiserverKeyPath}`,
    `--client-ca-file=${config.pki.ca.certPath}`,
    `--service-account-issuer=https://${address}:${config.port}`,
    `--service-account-key-file=${config.pki.serviceAccountPublicKeyPath}`,
    `--service-account-signing-key-file=${config.pki.serviceAccountKeyPath}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    "--authorization-mode=RBAC",
    "--allow-privileged=true",
    `--cert-dir=${join(config.dir, "apiserver-certs")}`,
    "--profiling=false",
  ];
  // Without a controller-manager nobody creates the `default` ServiceAccount, and the admission
  // plugin would reject every pod with `serviceaccount "default" not found`.
  if (!config.withControllerManager) args.push("--disable-admission-plugins=ServiceAccount");
  const gates = featureGatesFlag(config.featureGates);
  if (gates) args.push(gates);
  return { command: join(config.binDir, "kube-apiserver"), args };
}

export function controllerManagerCommand(
  binDir: string,
  kubeconfigPath: string,
  pki: ControlPlanePki,
  port: number,
  featureGates: Readonly<Record<string, boolean>>,
  certDir: string,
): CommandLine {
  const args = [
    ...clientFlags(kubeconfigPath),
    ...servingFlags(port, certDir),
    "--leader-elect=false",
    `--service-account-private-key-file=${pki.serviceAccountKeyPath}`,
    `--root-ca-file=${pki.ca.certPath}`,
    "--controllers=*",
    // The default client rate limit (20 qps) makes Deployment rollouts in tests visibly slow.
    "--kube-api-qps=1000",
    "--kube-api-burst=1000",
  ];
  const gates = featureGatesFlag(featureGates);
  if (gates) args.push(gates);
  return { command: join(binDir, "kube-controller-manager"), args };
}

export function schedulerCommand(
  binDir: string,
  kubeconfigPath: string,
  port: number,
  featureGates: Readonly<Record<string, boolean>>,
  certDir: string,
): CommandLine {
  // No --config: with one, --kubeconfig would be ignored unless the file repeats it.
  const args = [...clientFlags(kubeconfigPath), ...servingFlags(port, certDir), "--leader-elect=false"];
  const gates = featureGatesFlag(featureGates);
  if (gates) args.push(gates);
  return { command: join(binDir, "kube-scheduler"), args };
}

export function kwokCommand(binDir: string, kubeconfigPath: string): CommandLine {
  return {
    command: join(binDir, "kwok"),
    args: [
      `--kubeconfig=${kubeconfigPath}`,
      "--manage-all-nodes=false",
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=${KWOK_NODE_ANNOTATION_VALUE}`,
      // Node and pod IPs are data only; loopback keeps anything that does dial a node on this host.
      `--node-ip=${LOOPBACK}`,
      `--cidr=${POD_CIDR}`,
      "--node-lease-duration-seconds=40",
      // kwok >= 0.8 has no built-in stages; build-tools.sh copies the canonical ones next to the binary.
      "-c",
      join(binDir, "kwok-stages.yaml"),
      // No --server-address: kwok then starts no kubelet-like server.
    ],
  };
}

// The self-signed serving certificate goes to certDir rather than the default /var/run/kubernetes.
function servingFlags(port: number, certDir: string): string[] {
  return [`--bind-address=${LOOPBACK}`, `--secure-port=${port}`, `--cert-dir=${certDir}`];
}

function clientFlags(kubeconfigPath: string): string[] {
  return [
    `--kubeconfig=${kubeconfigPath}`,
    `--authentication-kubeconfig=${kubeconfigPath}`,
    `--authorization-kubeconfig=${kubeconfigPath}`,
  ];
}

/** `--feature-gates=A=true,B=false`, or undefined for no gates (the release defaults). */
export function featureGatesFlag(gates: Readonly<Record<string, boolean>>): string | undefined {
  const entries = Object.entries(gates);
  if (entries.length === 0) return undefined;
  return `--feature-gates=${entries.map(([name, on]) => `${name}=${on}`).join(",")}`;
}
