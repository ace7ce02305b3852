import { describe, expect, it } from "vitest";
import { checkTarget } from "./check-target.js";
import {
  DEFAULT_PULL_RESOURCES,
  initContainerPieces,
  pullArgs,
  pullSecretOfConfigPath,
} from "./init-container.js";
import type { CheckedTarget } from "./pieces.js";
import type { InitContainerSettings, MountTarget } from "./types.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const IMAGE = `registry.example.com/modelpack/operator@sha256:${"f".repeat(64)}`;
const settings: InitContainerSettings = { image: IMAGE, plainHttpRegistries: ["localhost:5000"] };
const checked = (overrides: Partial<MountTarget> = {}): CheckedTarget => {
  const result = checkTarget(
    {
      name: "llama",
      namespace: "serving",
      pinnedReference: `registry.example.com/models/llama@${DIGEST}`,
      digest: DIGEST,
      strategy: "InitContainer",
      mountPath: "/models/llama",
      pullSecrets: [],
      sizeBytes: 2 * 1024 ** 3,
      ...overrides,
    },
    settings,
  );
  if (!("target" in result)) throw new Error(result.problems.join("; "));
  return result.target;
};

describe("initContainerPieces", () => {
  it("builds the emptyDir, the locked-down pull container and the read-only mount", () => {
    expect(initContainerPieces(checked(), settings)).toEqual({
      volumes: [
        { volume: { name: "modelpack-model-llama", emptyDir: { sizeLimit: "2560Mi" } }, role: "its model" },
      ],
      initContainer: {
        name: "modelpack-pull-llama",
        image: IMAGE,
        args: [
          "pull",
          `registry.example.com/models/llama@${DIGEST}`,
          "--dest",
          "/modelpack/volume/model",
          "--state-file",
          "/modelpack/volume/.modelpack-pull.json",
          "--world-readable",
          "--max-bytes",
          "2560Mi",
        ],
        volumeMounts: [{ name: "modelpack-model-llama", mountPath: "/modelpack/volume" }],
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
        securityContext: {
          runAsNonRoot: true,
          runAsUser: 65532,
          runAsGroup: 0,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          privileged: false,
          capabilities: { drop: ["ALL"] },
          seccompProfile: { type: "RuntimeDefault" },
        },
      },
      mount: { name: "modelpack-model-llama", mountPath: "/models/llama", readOnly: true, subPath: "model" },
      imagePullSecrets: [],
    });
  });

  it("mounts each pull secret read-only with only its docker config, and the CA bundle", () => {
    const pieces = initContainerPieces(checked({ pullSecrets: ["regcred", "other.creds"] }), {
      ...settings,
      caBundleConfigMap: "modelpack-ca-bundle",
      imagePullPolicy: "IfNotPresent",
    });
    expect(pieces.volumes.map((v) => v.volume)).toEqual([
      { name: "modelpack-model-llama", emptyDir: { sizeLimit: "2560Mi" } },
      {
        name: "modelpack-secret-regcred",
        secret: {
          secretName: "regcred",
          items: [{ key: ".dockerconfigjson", path: "config.json" }],
          defaultMode: 0o440,
        },
      },
      {
        name: expect.stringMatching(/^modelpack-secret-other-creds-[0-9a-f]{10}$/),
        secret: {
          secretName: "other.creds",
          items: [{ key: ".dockerconfigjson", path: "config.json" }],
          defaultMode: 0o440,
        },
      },
      {
        name: "modelpack-ca",
        configMap: {
          name: "modelpack-ca-bundle",
          items: [{ key: "ca.crt", path: "ca.crt" }],
          defaultMode: 0o444,
        },
      },
    ]);
    const otherVolume = pieces.volumes[2]?.volume.name ?? "";
    expect(pieces.initContainer?.imagePullPolicy).toBe("IfNotPresent");
    expect(pieces.initContainer?.volumeMounts).toEqual([
      { name: "modelpack-model-llama", mountPath: "/modelpack/volume" },
      {
        name: "modelpack-secret-regcred",
        mountPath: "/modelpack/registry-config/regcred",
        readOnly: true,
      },
      { name: otherVolume, mountPath: "/modelpack/registry-config/other.creds", readOnly: true },
      { name: "modelpack-ca", mountPath: "/modelpack/ca", readOnly: true },
    ]);
    expect(pieces.initContainer?.args).toEqual([
      "pull",
      `registry.example.com/models/llama@${DIGEST}`,
      "--dest",
      "/modelpack/volume/model",
      "--state-file",
      "/modelpack/volume/.modelpack-pull.json",
      "--world-readable",
      "--max-bytes",
      "2560Mi",
      "--ca-file",
      "/modelpack/ca/ca.crt",
      "--registry-config",
      "/modelpack/registry-config/regcred/config.json",
      "--registry-config",
      "/modelpack/registry-config/other.creds/config.json",
    ]);
  });

  it.each([
    ["the whole model", undefined, "model"],
    ["a folder", "weights", "model/weights"],
    ["a file", "./a/model.safetensors", "model/a/model.safetensors"],
  ])("shows %s at the same path as an image volume would", (_, subPath, expected) => {
    const pieces = initContainerPieces(checked(subPath === undefined ? {} : { subPath }), settings);
    expect(pieces.mount).toEqual({
      name: "modelpack-model-llama",
      mountPath: "/models/llama",
      readOnly: true,
      subPath: expected,
    });
  });

  it("takes requests and limits from the settings, each defaulting on its own", () => {
    const only = initContainerPieces(checked(), {
      ...settings,
      resources: { requests: { cpu: "1", memory: "1Gi" } },
    });
    expect(only.initContainer?.resources).toEqual({
      requests: { cpu: "1", memory: "1Gi" },
      limits: DEFAULT_PULL_RESOURCES.limits,
    });
    const none = initContainerPieces(checked(), { ...settings, resources: { requests: {}, limits: {} } });
    expect(none.initContainer?.resources).toEqual({ requests: {}, limits: {} });
  });

  it("gives every call its own objects", () => {
    const a = initContainerPieces(checked(), settings);
    const b = initContainerPieces(checked(), settings);
    expect(a.initContainer?.securityContext).not.toBe(b.initContainer?.securityContext);
    expect(a.initContainer?.resources?.requests).not.toBe(DEFAULT_PULL_RESOURCES.requests);
  });
});

describe("pullArgs --plain-http", () => {
  it.each([
    ["a listed registry with port", `localhost:5000/m@${DIGEST}`, ["localhost:5000"], true],
    ["the same host on another port", `localhost:5001/m@${DIGEST}`, ["localhost:5000"], false],
    ["a host listed with a port it does not use", `localhost/m@${DIGEST}`, ["localhost:5000"], false],
    ["Docker Hub by its canonical name", `index.docker.io/library/m@${DIGEST}`, ["docker.io"], true],
    ["an unlisted registry", `registry.example.com/m@${DIGEST}`, ["localhost:5000"], false],
  ])("%s → %s", (_, pinnedReference, plainHttpRegistries, expected) => {
    const args = pullArgs(checked({ pinnedReference }), { ...settings, plainHttpRegistries });
    expect(args.includes("--plain-http")).toBe(expected);
  });
});

describe("pullArgs --max-bytes: the puller writes no more than the emptyDir holds", () => {
  it.each([
    ["an empty model", 0, "256Mi"],
    ["a small model", 100 * 1024 ** 2, "356Mi"],
    ["a 15 GB model", 15_000_000_000, "18Gi"],
  ])("%s → %s, the volume's sizeLimit", (_, sizeBytes, expected) => {
    const pieces = initContainerPieces(checked({ sizeBytes }), settings);
    const args = pieces.initContainer?.args ?? [];
    expect(args[args.indexOf("--max-bytes") + 1]).toBe(expected);
    expect(pieces.volumes[0]?.volume.emptyDir?.sizeLimit).toBe(expected);
  });
});

describe("pullArgs --allowed-registries: the operator's allow-list holds in the pod too", () => {
  it.each<[string, readonly string[] | undefined, string[] | undefined]>([
    ["no allow-list", undefined, undefined],
    ["an empty allow-list", [], undefined],
    ["one registry", ["registry.example.com"], ["--allowed-registries", "registry.example.com"]],
    ["several", ["a.example", "b.example:5000"], ["--allowed-registries", "a.example,b.example:5000"]],
  ])("%s", (_, allowedRegistries, expected) => {
    const args = pullArgs(checked({}), {
      ...settings,
      ...(allowedRegistries !== undefined && { allowedRegistries }),
    });
    const at = args.indexOf("--allowed-registries");
    expect(at < 0 ? undefined : args.slice(at, at + 2)).toEqual(expected);
  });
});

describe("init container user: fixed, or left to the platform (OpenShift assigns UIDs)", () => {
  it("fixed by default: runAsUser 65532, runAsGroup 0", () => {
    const context = initContainerPieces(checked({}), settings).initContainer?.securityContext;
    expect(context).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 0 });
  });
  it("platform: no runAsUser or runAsGroup, still restricted", () => {
    const context = initContainerPieces(checked({}), { ...settings, user: "platform" }).initContainer
      ?.securityContext;
    expect(context).not.toHaveProperty("runAsUser");
    expect(context).not.toHaveProperty("runAsGroup");
    expect(context).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
  });
});

describe("pullSecretOfConfigPath", () => {
  it.each([
    ["/modelpack/registry-config/regcred/config.json", "regcred"],
    ["/modelpack/registry-config/other.creds/config.json", "other.creds"],
    ["/modelpack/registry-config/../etc/config.json", undefined],
    ["/home/me/.docker/config.json", undefined],
    ["/modelpack/registry-config/regcred/other.json", undefined],
  ])("%s → %s", (path, secret) => {
    expect(pullSecretOfConfigPath(path)).toBe(secret);
  });
});
