/**
 * The real node's configuration files, as pure functions of its layout (no I/O): containerd's
 * config.toml and registry hosts, CRI-O's config and registries.conf, the kubelet's and
 * kube-proxy's configurations and the CNI network. Each setting that is not a default says why;
 * the measured reasons are in the project's reference notes on running a real node without Docker.
 */
import { join } from "node:path";

/** The node's network: everything lives in a network namespace the harness creates. */
export const NODE_NETWORK = {
  /** The node bridge's address inside the namespace: node InternalIP, apiserver, registry, kubelet. */
  nodeAddress: "198.18.0.1",
  /** Pods get addresses from here (RFC 2544 benchmarking space: never routed on a real network). */
  podSubnet: "198.18.0.0/24",
  podRangeStart: "198.18.0.16",
  bridge: "mpo0",
  /** The veth pair joining the namespace to the host: host end, namespace end. */
  hostLink: "mpo-host",
  nodeLink: "mpo-node",
  hostLinkAddress: "198.18.255.1",
  nodeLinkAddress: "198.18.255.2",
  linkPrefix: 30,
  /** The harness's Service range (components.ts): ClusterIPs work inside the namespace only. */
  serviceSubnet: "10.0.0.0/24",
  registryPort: 5000,
} as const;

export type RuntimeName = "containerd" | "cri-o";

/** Where every file of one real node lives, below its private folder. */
export interface NodeLayout {
  readonly dir: string;
  readonly netnsPath: string;
  readonly runtimeSocket: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly containerdConfig: string;
  readonly certsDir: string;
  readonly crioRoot: string;
  readonly crioRunRoot: string;
  readonly crioConfig: string;
  readonly registriesConf: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly kubeProxyConfig: string;
  readonly podLogs: string;
  readonly cniBin: string;
  readonly cniConf: string;
  readonly cniData: string;
  readonly registryDir: string;
  readonly runcRoot: string;
  readonly logs: string;
}

export function nodeLayout(dir: string): NodeLayout {
  return {
    dir,
    netnsPath: join(dir, "netns", "node"),
    runtimeSocket: join(dir, "run", "runtime.sock"),
    containerdRoot: join(dir, "containerd", "root"),
    containerdState: join(dir, "containerd", "state"),
    containerdConfig: join(dir, "containerd", "config.toml"),
    certsDir: join(dir, "containerd", "certs.d"),
    crioRoot: join(dir, "crio", "storage"),
    crioRunRoot: join(dir, "crio", "run"),
    crioConfig: join(dir, "crio", "crio.conf"),
    registriesConf: join(dir, "crio", "registries.conf"),
    kubeletRoot: join(dir, "kubelet"),
    kubeletConfig: join(dir, "kubelet-config.yaml"),
    kubeProxyConfig: join(dir, "kube-proxy-config.yaml"),
    podLogs: join(dir, "pod-logs"),
    cniBin: join(dir, "cni", "bin"),
    cniConf: join(dir, "cni", "net.d"),
    cniData: join(dir, "cni", "data"),
    registryDir: join(dir, "registry"),
    runcRoot: join(dir, "runc"),
    logs: join(dir, "logs"),
  };
}

/**
 * The shims' sockets: containerd caps their folder at 42 characters, so it cannot live below a
 * temporary folder; this fixed path is created on start and removed on stop.
 */
export const SHIM_SOCKET_DIR = "/run/modelpack-node-shims";

export interface ContainerdSettings {
  readonly pauseImage: string;
  readonly runc: string;
}

/** containerd 2.4's config.toml (version 3). */
export function containerdConfig(layout: NodeLayout, settings: ContainerdSettings): string {
  const q = JSON.stringify;
  return `version = 3
root = ${q(layout.containerdRoot)}
state = ${q(layout.containerdState)}
# NRI and tracing would open sockets and exporters at fixed paths; the node needs neither.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(layout.runtimeSocket)}
[ttrpc]
  address = ${q(`${layout.runtimeSocket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(layout.dir, "containerd", "opt"))}
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = ${q(SHIM_SOCKET_DIR)}

[plugins."io.containerd.cri.v1.runtime"]
  # Pod network namespaces under the state folder, not /var/run/netns.
  netns_mounts_under_state_dir = true
  # The node may lack CAP_SYS_RESOURCE (VMs drop it): a negative oom_score_adj (the sandbox's -998)
  # is then refused and every sandbox fails with runc's "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = ${q(settings.runc)}
        Root = ${q(layout.runcRoot)}
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [${q(layout.cniBin)}]
    conf_dir = ${q(layout.cniConf)}

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    # The upstream pause image is out of reach: a static pause built from our own module.
    sandbox = ${q(settings.pauseImage)}
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = ${q(layout.certsDir)}

[plugins."io.containerd.grpc.v1.cri"]
  # The kubelet's logs/exec/port-forward stream server: loopback of the node's namespace.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.transfer.v1.local"]
  config_path = ${q(layout.certsDir)}
`;
}

/**
 * `certs.d/<host:port>/hosts.toml` for a plain-HTTP registry. No `skip_verify`: with it containerd
 * tries HTTPS first.
 */
export function containerdHostsToml(hostPort: string): string {
  return `server = "http://${hostPort}"

[host."http://${hostPort}"]
  capabilities = ["pull", "resolve"]
`;
}

export interface CrioSettings {
  readonly pauseImage: string;
  /** The runtime wrapper (see runtime-wrapper.ts) that execs `runc`. */
  readonly runtimePath: string;
  readonly conmon: string;
  readonly pinns: string;
}

/** CRI-O 1.36's configuration: every path under the node's folder, NRI and metrics off. */
export function crioConfig(layout: NodeLayout, settings: CrioSettings): string {
  const q = JSON.stringify;
  const run = join(layout.dir, "crio", "var");
  return `[crio]
root = ${q(layout.crioRoot)}
runroot = ${q(layout.crioRunRoot)}
log_dir = ${q(join(run, "log"))}
version_file = ${q(join(run, "version"))}
version_file_persist = ${q(join(run, "version-persist"))}
clean_shutdown_file = ${q(join(run, "clean.shutdown"))}
storage_driver = "overlay"

[crio.api]
listen = ${q(layout.runtimeSocket)}
stream_address = "127.0.0.1"
stream_port = "0"

[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
conmon_cgroup = "pod"
container_exits_dir = ${q(join(run, "exits"))}
container_attach_socket_dir = ${q(join(run, "attach"))}
namespaces_dir = ${q(join(run, "ns"))}
pinns_path = ${q(settings.pinns)}
hooks_dir = [${q(join(run, "hooks"))}]
cdi_spec_dirs = [${q(join(run, "cdi"))}]
decryption_keys_path = ${q(join(run, "keys"))}
irqbalance_config_file = ${q(join(run, "irqbalance"))}
# Host-network pods then need no sandbox process at all.
drop_infra_ctr = true

[crio.runtime.runtimes.runc]
runtime_path = ${q(settings.runtimePath)}
runtime_type = "oci"
runtime_root = ${q(layout.runcRoot)}
monitor_path = ${q(settings.conmon)}

[crio.image]
pause_image = ${q(settings.pauseImage)}
# Test-only: accept any image (signatures are not what the node tests are about).
signature_policy = ${q(join(layout.dir, "crio", "policy.json"))}
short_name_mode = "disabled"
# Otherwise CRI-O creates /etc/crio/auth.
namespaced_auth_dir = ${q(join(run, "auth"))}
oci_artifact_mount_support = true

[crio.network]
network_dir = ${q(layout.cniConf)}
plugin_dirs = [${q(layout.cniBin)}]

[crio.nri]
enable_nri = false

[crio.metrics]
enable_metrics = false
`;
}

export const CRIO_SIGNATURE_POLICY = `{"default":[{"type":"insecureAcceptAnything"}]}\n`;

/** containers-registries.conf(5): the listed registries are plain HTTP. */
export function crioRegistriesConf(hostPorts: readonly string[]): string {
  return hostPorts.map((h) => `[[registry]]\nlocation = "${h}"\ninsecure = true\n`).join("\n");
}

/** The CNI network: a bridge in the node's namespace, host-local addresses, state in our folder. */
export function cniConfig(layout: NodeLayout): string {
  return (
    JSON.stringify(
      {
        cniVersion: "1.0.0",
        name: "modelpack-node",
        plugins: [
          {
            type: "bridge",
            bridge: NODE_NETWORK.bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              dataDir: layout.cniData,
              ranges: [
                [
                  {
                    subnet: NODE_NETWORK.podSubnet,
                    rangeStart: NODE_NETWORK.podRangeStart,
                    gateway: NODE_NETWORK.nodeAddress,
                  },
                ],
              ],
              routes: [{ dst: "0.0.0.0/0" }],
            },
          },
          { type: "loopback" },
        ],
      },
      null,
      2,
    ) + "\n"
  );
}

export interface KubeletSettings {
  readonly kubeconfigPath: string;
  readonly featureGates: Readonly<Record<string, boolean>>;
  /** The cgroup the node's pods live under (removed on stop). */
  readonly cgroupRoot: string;
}

/** KubeletConfiguration: a single node in a shared VM, on cgroup v1 or v2, with cgroupfs. */
export function kubeletConfig(layout: NodeLayout, settings: KubeletSettings): string {
  return (
    JSON.stringify(
      {
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        address: NODE_NETWORK.nodeAddress,
        healthzBindAddress: "127.0.0.1",
        healthzPort: 10248,
        readOnlyPort: 0,
        // The harness apiserver has no kubelet client certificate: the kubelet is reachable only
        // inside the node's namespace and from this host's route to it.
        authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
        authorization: { mode: "AlwaysAllow" },
        containerRuntimeEndpoint: `unix://${layout.runtimeSocket}`,
        imageServiceEndpoint: `unix://${layout.runtimeSocket}`,
        podLogsDir: layout.podLogs,
        cgroupDriver: "cgroupfs",
        cgroupRoot: settings.cgroupRoot,
        failCgroupV1: false,
        failSwapOn: false,
        // A shared disk must not make the node evict pods or delete images.
        evictionHard: { "nodefs.available": "1%", "imagefs.available": "1%", "memory.available": "50Mi" },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        // The kubelet would otherwise refuse to start when the kernel's values differ.
        protectKernelDefaults: false,
        makeIPTablesUtilChains: false,
        serializeImagePulls: false,
        resolvConf: "",
        staticPodPath: "",
        featureGates: { ImageVolume: true, ...settings.featureGates },
        nodeStatusReportFrequency: "10s",
        nodeStatusUpdateFrequency: "2s",
        syncFrequency: "5s",
        fileCheckFrequency: "5s",
        volumeStatsAggPeriod: "0s",
        shutdownGracePeriod: "0s",
        registerNode: true,
      },
      null,
      2,
    ) + "\n"
  );
}

/** kube-proxy in iptables mode inside the node's namespace; it leaves the host's conntrack alone. */
export function kubeProxyConfig(kubeconfigPath: string, nodeName: string): string {
  return (
    JSON.stringify(
      {
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        mode: "iptables",
        clientConnection: { kubeconfig: kubeconfigPath },
        hostnameOverride: nodeName,
        bindAddress: NODE_NETWORK.nodeAddress,
        healthzBindAddress: "127.0.0.1:10256",
        metricsBindAddress: "127.0.0.1:10249",
        clusterCIDR: NODE_NETWORK.podSubnet,
        // Pod → ClusterIP → pod on the same bridge: the reply must come back through the DNAT.
        iptables: { masqueradeAll: true, syncPeriod: "5s", minSyncPeriod: "0s" },
        // 0 leaves these global (host-wide) conntrack sysctls as they are.
        conntrack: {
          maxPerCore: 0,
          min: 0,
          tcpEstablishedTimeout: "0s",
          tcpCloseWaitTimeout: "0s",
        },
      },
      null,
      2,
    ) + "\n"
  );
}
