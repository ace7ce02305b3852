/**
 * References and whether a ModelDeployment may name them. The unit test checks the TypeScript
 * side (zod: parseReference plus the registry-host rule), the CRD test checks the apiserver's CEL
 * on the same table, so together they show the two agree.
 *
 * `parses` is parseReference's own verdict: the cases where it is true but `valid` is false are
 * short names, which parseReference expands to docker.io and a ModelDeployment must not use.
 */
export interface ReferenceCase {
  readonly reference: string;
  readonly valid: boolean;
  readonly parses: boolean;
  readonly why: string;
}

const SHA256 = "sha256:" + "0123456789abcdef".repeat(4);
const SHA512 = "sha512:" + "0123456789abcdef".repeat(8);

export const REFERENCE_CASES: readonly ReferenceCase[] = [
  {
    reference: "registry.example.com/models/llama3-8b:v1",
    valid: true,
    parses: true,
    why: "host, path, tag",
  },
  { reference: `registry.example.com/models/llama3-8b@${SHA256}`, valid: true, parses: true, why: "digest" },
  { reference: `registry.example.com/m:v1@${SHA256}`, valid: true, parses: true, why: "tag and digest" },
  { reference: `r.io/m@${SHA512}`, valid: true, parses: true, why: "sha512 digest" },
  { reference: "r.io/m@blake3:abcDEF012=_-", valid: true, parses: true, why: "another algorithm" },
  { reference: "localhost/m", valid: true, parses: true, why: "localhost without port" },
  { reference: "localhost:5000/m:v1", valid: true, parses: true, why: "localhost with port" },
  { reference: "127.0.0.1:5000/a/b/c:v1", valid: true, parses: true, why: "IPv4 host, nested path" },
  { reference: "[::1]:5000/m", valid: true, parses: true, why: "IPv6 host" },
  { reference: "Registry.Example.com/m", valid: true, parses: true, why: "host names are case-insensitive" },
  { reference: "r.io/a_b/c__d/e-f/g.h:V_1.0-x", valid: true, parses: true, why: "every separator" },
  { reference: "docker.io/ai/smollm2:360M", valid: true, parses: true, why: "Docker Hub, written out" },
  { reference: `r.io/m:${"t".repeat(128)}`, valid: true, parses: true, why: "128-character tag" },
  { reference: "ubuntu", valid: false, parses: true, why: "short name" },
  { reference: "ai/smollm2", valid: false, parses: true, why: "Docker Hub namespace without host" },
  { reference: "myhost/m", valid: false, parses: true, why: "a single label is a namespace, not a host" },
  { reference: "LOCALHOST/m", valid: false, parses: true, why: "only lowercase localhost is a host" },
  { reference: "", valid: false, parses: false, why: "empty" },
  { reference: " r.io/m", valid: false, parses: false, why: "leading whitespace" },
  { reference: "https://r.io/m", valid: false, parses: false, why: "URL scheme" },
  { reference: "r.io/Model", valid: false, parses: false, why: "uppercase repository" },
  { reference: "r.io/m:", valid: false, parses: false, why: "empty tag" },
  { reference: "r.io/m:.bad", valid: false, parses: false, why: "tag starts with '.'" },
  { reference: `r.io/m:${"t".repeat(129)}`, valid: false, parses: false, why: "129-character tag" },
  { reference: "r.io/m@sha256:abc", valid: false, parses: false, why: "short sha256" },
  { reference: `r.io/m@${SHA256.toUpperCase()}`, valid: false, parses: false, why: "uppercase digest" },
  { reference: "r.io/m@notadigest", valid: false, parses: false, why: "digest without algorithm" },
  { reference: "r.io/a//b", valid: false, parses: false, why: "empty path component" },
  { reference: "r.io/-a", valid: false, parses: false, why: "path component starts with '-'" },
  { reference: "r.io/", valid: false, parses: false, why: "no repository" },
  { reference: "bad_host.io:x/m", valid: false, parses: false, why: "bad host and port" },
  { reference: "a.b_c/m", valid: false, parses: false, why: "'_' in a host" },
  { reference: `r.io/${"a".repeat(251)}`, valid: false, parses: false, why: "256-character name" },
  { reference: `r.io/${"a".repeat(250)}`, valid: true, parses: true, why: "255-character name" },
];
