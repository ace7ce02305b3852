/**
 * The operator's registry CA bundle (`run --ca-file`), copied into a ConfigMap in each namespace
 * whose ModelDeployments pull with the InitContainer strategy: a pod can only mount ConfigMaps of
 * its own namespace, and the pull init container must trust the same registries the operator
 * does. Written with server-side apply under the operator's field manager, so a second operator
 * replica or a re-apply changes nothing, and re-checked every `refreshMs` (someone may delete it).
 */
import type { Clock } from "../runtime/clock.js";
import { FIELD_MANAGER } from "../runtime/kube-client.js";
import { CA_KEY } from "../mount/init-container.js";
import type { ControllerKubeApi } from "./kube-api.js";

/** The ConfigMap the init containers mount (`InitContainerSettings.caBundleConfigMap`). */
export const CA_BUNDLE_CONFIGMAP = "modelpack-ca-bundle";
const DEFAULT_REFRESH_MS = 10 * 60_000;

/** Publishes the CA bundle into namespaces on demand. */
export class CaBundlePublisher {
  readonly #kube: Pick<ControllerKubeApi, "applyConfigMap">;
  readonly #pem: string;
  readonly #clock: Clock;
  readonly #refreshMs: number;
  /** Namespace → when the ConfigMap was last applied. */
  readonly #published = new Map<string, number>();

  constructor(options: {
    kube: Pick<ControllerKubeApi, "applyConfigMap">;
    pem: string;
    clock: Clock;
    refreshMs?: number;
  }) {
    this.#kube = options.kube;
    this.#pem = options.pem;
    this.#clock = options.clock;
    this.#refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  }

  /**
   * Makes sure `namespace` has the ConfigMap with the current bundle; an API call at most once
   * per `refreshMs` per namespace. Throws the API error (e.g. Forbidden: see the RBAC in deploy/).
   */
  async ensure(namespace: string, signal?: AbortSignal): Promise<void> {
    const last = this.#published.get(namespace);
    if (last !== undefined && this.#clock.now() - last < this.#refreshMs) return;
    await this.#kube.applyConfigMap(
      namespace,
      CA_BUNDLE_CONFIGMAP,
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: CA_BUNDLE_CONFIGMAP,
          namespace,
          labels: {
            "app.kubernetes.io/managed-by": FIELD_MANAGER,
            "app.kubernetes.io/component": "ca-bundle",
          },
        },
        data: { [CA_KEY]: this.#pem },
      },
      signal,
    );
    this.#published.set(namespace, this.#clock.now());
  }
}
