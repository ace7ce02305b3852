/**
 * What the Dockerfile's `runtime` stage declares, as data: the image config the builder writes.
 * test/shipping/image-build.test.ts parses the Dockerfile and compares it with this, so the two
 * cannot drift. Pure: no I/O.
 */

/** The image's user: the Dockerfile's `USER 65532:65532` (nonroot in /etc/passwd). */
export const RUNTIME_UID = 65532;
export const RUNTIME_GID = 65532;

/** ENTRYPOINT, with the same V8 flag as src/cli/bin.ts's shebang. */
export const ENTRYPOINT = ["node", "--max-semi-space-size=2", "/app/dist/src/cli/bin.js"] as const;
export const CMD = ["--help"] as const;
/** ENV, in the Dockerfile's order. */
export const ENV = ["NODE_ENV=production", "HOME=/home/nonroot", "PATH=/usr/local/bin"] as const;
export const WORKDIR = "/app";
/** EXPOSE: 8081 health/readiness/metrics, 9443 the admission webhook. */
export const EXPOSED_PORTS = ["8081/tcp", "9443/tcp"] as const;

/** The files the `rootfs` stage writes for UID/GID 65532. */
export const PASSWD = "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
export const GROUP = "nonroot:x:65532:\n";

/** What varies between builds of the same tree; everything else is fixed. */
export interface BuildFacts {
  /** package.json's version. */
  readonly version: string;
  /** The git commit (or "unknown"). */
  readonly revision: string;
  /** RFC 3339 time: SOURCE_DATE_EPOCH, else the Unix epoch (never the clock: reproducible). */
  readonly created: string;
  /** OCI platform of the Node binary. */
  readonly architecture: string;
  readonly os: string;
}

/** The Dockerfile's LABELs, with its ARGs VERSION, REVISION and CREATED filled in. */
export function imageLabels(facts: BuildFacts): Record<string, string> {
  return {
    "org.opencontainers.image.title": "modelpack-operator",
    "org.opencontainers.image.description":
      "Kubernetes operator that mounts CNCF ModelPack model artifacts from OCI registries into pods",
    "org.opencontainers.image.licenses": "Apache-2.0",
    "org.opencontainers.image.version": facts.version,
    "org.opencontainers.image.revision": facts.revision,
    "org.opencontainers.image.created": facts.created,
    "org.opencontainers.image.base.name": "scratch",
  };
}

/** An OCI image config (image-spec config.md) for `diffIds`, keys in a fixed order. */
export function imageConfig(facts: BuildFacts, diffIds: readonly string[]): Record<string, unknown> {
  return {
    created: facts.created,
    architecture: facts.architecture,
    os: facts.os,
    config: {
      User: `${RUNTIME_UID}:${RUNTIME_GID}`,
      ExposedPorts: Object.fromEntries(EXPOSED_PORTS.map((port) => [port, {}])),
      Env: [...ENV],
      Entrypoint: [...ENTRYPOINT],
      Cmd: [...CMD],
      WorkingDir: WORKDIR,
      Labels: imageLabels(facts),
    },
    rootfs: { type: "layers", diff_ids: [...diffIds] },
    history: diffIds.map((_, n) => ({
      created: facts.created,
      created_by: `modelpack-operator image builder: ${LAYER_NAMES[n] ?? "layer"}`,
    })),
  };
}

/** The layers, in order: what changes least goes first. */
export const LAYER_NAMES = [
  "base (node, its libraries, /etc, /home, /tmp)",
  "app/node_modules",
  "app/dist, app/package.json",
];

/** `process.arch` → the OCI platform architecture (image-spec: GOARCH values). */
export function ociArchitecture(arch: string): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
    ia32: "386",
  };
  const mapped = map[arch];
  if (mapped === undefined) throw new Error(`no OCI architecture for Node's process.arch "${arch}"`);
  return mapped;
}

/** SOURCE_DATE_EPOCH (seconds) as RFC 3339, else the Unix epoch; throws on a malformed value. */
export function createdTime(sourceDateEpoch: string | undefined): string {
  if (sourceDateEpoch === undefined || sourceDateEpoch === "")
    return new Date(0).toISOString().replace(".000Z", "Z");
  if (!/^\d+$/.test(sourceDateEpoch))
    throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970 (got "${sourceDateEpoch}")`);
  return new Date(Number(sourceDateEpoch) * 1000).toISOString().replace(".000Z", "Z");
}
