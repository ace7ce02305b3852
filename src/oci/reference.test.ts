import { describe, expect, it } from "vitest";
import { InvalidReferenceError } from "./errors.js";
import {
  formatReference,
  isLoopbackRegistry,
  parseReference,
  pinnedReference,
  registryEndpoint,
} from "./reference.js";

const D = "sha256:" + "a".repeat(64);

describe("parseReference normalises like the container ecosystem", () => {
  it.each([
    ["ubuntu", { registry: "docker.io", repository: "library/ubuntu", tag: "latest" }],
    ["ubuntu:24.04", { registry: "docker.io", repository: "library/ubuntu", tag: "24.04" }],
    ["org/model", { registry: "docker.io", repository: "org/model", tag: "latest" }],
    ["docker.io/ubuntu", { registry: "docker.io", repository: "library/ubuntu", tag: "latest" }],
    ["index.docker.io/org/m:v1", { registry: "docker.io", repository: "org/m", tag: "v1" }],
    ["localhost/m", { registry: "localhost", repository: "m", tag: "latest" }],
    ["localhost:5000/m:v1", { registry: "localhost:5000", repository: "m", tag: "v1" }],
    ["127.0.0.1:5000/a/b/c:v1", { registry: "127.0.0.1:5000", repository: "a/b/c", tag: "v1" }],
    [
      "registry.example.com/models/llama3-8b:v1",
      { registry: "registry.example.com", repository: "models/llama3-8b", tag: "v1" },
    ],
    [`registry.example.com/m@${D}`, { registry: "registry.example.com", repository: "m", digest: D }],
    [
      `registry.example.com/m:v1@${D}`,
      { registry: "registry.example.com", repository: "m", tag: "v1", digest: D },
    ],
    ["[::1]:5000/m", { registry: "[::1]:5000", repository: "m", tag: "latest" }],
    ["Registry.Example.com/m", { registry: "Registry.Example.com", repository: "m", tag: "latest" }],
    ["r.io/a_b/c__d/e-f/g.h:V_1.0-x", { registry: "r.io", repository: "a_b/c__d/e-f/g.h", tag: "V_1.0-x" }],
  ])("%s", (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each([
    ["", "empty"],
    [" r.io/m", "whitespace"],
    ["https://r.io/m", "URL scheme"],
    ["r.io/Model", "lowercase"],
    ["r.io/m:", "not a valid tag"],
    ["r.io/m:.bad", "not a valid tag"],
    ["r.io/m@sha256:abc", "64 lowercase hex"],
    ["r.io/m@notadigest", "not a digest"],
    ["r.io/a//b", "not a valid repository path component"],
    ["r.io/-a", "not a valid repository path component"],
    ["r.io/", "not a valid repository path component"],
    ["bad_host.io:x/m", "not a valid"],
    [`r.io/${"a".repeat(260)}`, "longer than 255"],
  ])("rejects %j (%s)", (input, message) => {
    expect(() => parseReference(input)).toThrow(InvalidReferenceError);
    expect(() => parseReference(input)).toThrow(message);
  });
});

describe("reference helpers", () => {
  it("formats, pins and finds endpoints", () => {
    const ref = parseReference("127.0.0.1:5000/m:v1");
    expect(formatReference(ref)).toBe("127.0.0.1:5000/m:v1");
    expect(pinnedReference(ref, D)).toBe(`127.0.0.1:5000/m@${D}`);
    expect(registryEndpoint("docker.io")).toBe("registry-1.docker.io");
    expect(registryEndpoint("r.io:443")).toBe("r.io:443");
  });

  it.each([
    ["localhost:5000", true],
    ["127.0.0.1:1234", true],
    ["[::1]:5000", true],
    ["r.io", false],
    ["10.0.0.1:5000", false],
  ])("isLoopbackRegistry(%s) = %s", (registry, expected) => {
    expect(isLoopbackRegistry(registry)).toBe(expected);
  });
});
