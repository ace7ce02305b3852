import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  isValidAnnotationKey,
  podAnnotationsFor,
  podDigestAnnotation,
  podModelDigest,
  podModelDigests,
  podNameAnnotation,
} from "./annotations.js";
import { shortHash } from "./names.js";

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;
const withAnnotations = (annotations?: Record<string, string>): V1Pod => ({
  metadata: { name: "p", ...(annotations !== undefined && { annotations }) },
});

describe("podDigestAnnotation", () => {
  const long = `${"m".repeat(40)}.${"n".repeat(40)}`;
  const dotAtCut = `${"m".repeat(45)}.${"n".repeat(40)}`;
  it.each([
    ["a short name is kept", "llama3-8b", "modelpack.dev/model.llama3-8b", undefined],
    ["dots are allowed in keys", "llama3.1-8b", "modelpack.dev/model.llama3.1-8b", undefined],
    ["57 characters fit", "x".repeat(57), `modelpack.dev/model.${"x".repeat(57)}`, undefined],
    [
      "58 characters are hashed",
      "x".repeat(58),
      `modelpack.dev/model.${"x".repeat(46)}-${shortHash("x".repeat(58))}`,
      `modelpack.dev/name.${"x".repeat(46)}-${shortHash("x".repeat(58))}`,
    ],
    [
      "the cut part drops a trailing dot",
      dotAtCut,
      `modelpack.dev/model.${"m".repeat(45)}-${shortHash(dotAtCut)}`,
      `modelpack.dev/name.${"m".repeat(45)}-${shortHash(dotAtCut)}`,
    ],
    [
      "the cut part may contain dots",
      long,
      `modelpack.dev/model.${"m".repeat(40)}.${"n".repeat(5)}-${shortHash(long)}`,
      `modelpack.dev/name.${"m".repeat(40)}.${"n".repeat(5)}-${shortHash(long)}`,
    ],
    [
      "a 253-character name",
      "y".repeat(253),
      `modelpack.dev/model.${"y".repeat(46)}-${shortHash("y".repeat(253))}`,
      `modelpack.dev/name.${"y".repeat(46)}-${shortHash("y".repeat(253))}`,
    ],
  ])("%s", (_, name, key, nameKey) => {
    expect(podDigestAnnotation(name)).toBe(key);
    expect(podNameAnnotation(name)).toBe(nameKey);
    expect(isValidAnnotationKey(key)).toBe(true);
    if (nameKey !== undefined) expect(isValidAnnotationKey(nameKey)).toBe(true);
  });

  it("writes the companion only for shortened names", () => {
    expect(podAnnotationsFor("llama", DIGEST_A)).toEqual({ "modelpack.dev/model.llama": DIGEST_A });
    const long = "z".repeat(80);
    expect(podAnnotationsFor(long, DIGEST_A)).toEqual({
      [podDigestAnnotation(long)]: DIGEST_A,
      [podNameAnnotation(long) ?? ""]: long,
    });
  });
});

describe("isValidAnnotationKey", () => {
  it.each([
    ["modelpack.dev/model.x", true],
    ["plain", true],
    [`modelpack.dev/${"a".repeat(63)}`, true],
    [`modelpack.dev/${"a".repeat(64)}`, false],
    ["modelpack.dev/", false],
    ["modelpack.dev/-x", false],
    ["Modelpack.dev/x", false],
    [`${"a".repeat(254)}/x`, false],
    ["a/b/c", false],
  ])("%s → %s", (key, expected) => expect(isValidAnnotationKey(key)).toBe(expected));
});

describe("podModelDigests", () => {
  it("reads back every ModelDeployment and digest, long names included", () => {
    const long = `long-${"q".repeat(90)}`;
    const pod = withAnnotations({
      ...podAnnotationsFor("llama", DIGEST_A),
      ...podAnnotationsFor("mistral.v2", DIGEST_B),
      ...podAnnotationsFor(long, DIGEST_B),
      "other.example/annotation": "x",
      "modelpack.dev/unrelated": "y",
    });
    expect(podModelDigests(pod)).toEqual(
      new Map([
        ["llama", DIGEST_A],
        ["mistral.v2", DIGEST_B],
        [long, DIGEST_B],
      ]),
    );
    expect(podModelDigest(pod, long)).toBe(DIGEST_B);
    expect(podModelDigest(pod, "llama")).toBe(DIGEST_A);
    expect(podModelDigest(pod, "absent")).toBeUndefined();
  });

  it.each([
    ["no metadata", { spec: { containers: [] } } satisfies V1Pod],
    ["no annotations", withAnnotations()],
    ["an empty digest", withAnnotations({ "modelpack.dev/model.llama": "" })],
    [
      "a shortened key whose companion names another ModelDeployment",
      withAnnotations({
        [podDigestAnnotation("w".repeat(70))]: DIGEST_A,
        [podNameAnnotation("w".repeat(70)) ?? ""]: "other",
      }),
    ],
  ])("is empty for %s", (_, pod) => expect(podModelDigests(pod).size).toBe(0));
});
