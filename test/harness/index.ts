/**
 * The Kubernetes control-plane test harness: a real etcd + kube-apiserver (and optionally
 * kube-controller-manager, kube-scheduler and kwok fake nodes) on 127.0.0.1, with a throwaway PKI.
 *
 * Guarantees: everything binds loopback on free ports; no component outlives the test process
 * unless started `persistent` (the `harness up` CLI); failures name the component and its log.
 * Usage: `const cp = await startControlPlane(); … await cp.stop();` — see control-plane.ts.
 */
export type { ComponentInfo } from "./component-set.js";
export {
  startControlPlane,
  type ControlPlane,
  type FullControlPlane,
  type StartControlPlaneOptions,
} from "./control-plane.js";
export { COMPONENT_NAMES, KWOK_NODE_ANNOTATION, type ComponentName } from "./components.js";
export { HarnessError, type HarnessErrorCode } from "./errors.js";
export { defaultFakeNodeTemplate, fakeNodeManifest, isNodeReady, type FakeNodeTemplate } from "./nodes.js";
export {
  issueServingCertificate,
  type CertificateAuthority,
  type ServingCertificate,
  type ServingCertificateRequest,
} from "./pki.js";
export { ensureTools, TOOL_FILES, type EnsureToolsOptions, type ToolName } from "./tools.js";
export {
  DEFAULT_KUBERNETES_VERSION,
  KUBERNETES_VERSIONS,
  controlPlaneTools,
  kubernetesTools,
  parseKubernetesVersion,
  type KubernetesVersion,
} from "./versions.js";
