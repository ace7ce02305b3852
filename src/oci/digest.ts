import { createHash, type Hash } from "node:crypto";
import { DIGEST_GRAMMAR, REGISTERED_DIGEST_ALGORITHMS } from "../oci-spec.js";
import { DigestMismatchError, RegistryError } from "./errors.js";

/** Digest algorithms we can verify (the registered ones); others pass the grammar but cannot be trusted by us. */
type Algorithm = "sha256" | "sha512";

/** Whether a string follows the OCI digest grammar (any algorithm). */
export function isDigest(value: string): boolean {
  return DIGEST_GRAMMAR.test(value);
}

function algorithmOf(digest: string, what: string): Algorithm {
  const [algorithm, encoded] = digest.split(":", 2);
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    throw new RegistryError(
      "InvalidResponse",
      `${what}: digest algorithm "${algorithm ?? ""}" cannot be verified (supported: sha256, sha512)`,
    );
  }
  const rule = REGISTERED_DIGEST_ALGORITHMS.get(algorithm);
  if (encoded === undefined || rule === undefined || !rule.pattern.test(encoded)) {
    throw new RegistryError(
      "InvalidResponse",
      `${what}: "${digest}" is not a well-formed ${algorithm} digest`,
    );
  }
  return algorithm;
}

/** The sha256 digest of bytes, as `sha256:<hex>`. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Throws DigestMismatchError unless `bytes` hash to `expected`. */
export function verifyBytes(bytes: Uint8Array, expected: string, what: string): void {
  const algorithm = algorithmOf(expected, what);
  const actual = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
  if (actual !== expected) throw new DigestMismatchError(what, expected, actual);
}

/**
 * Hashes a stream incrementally. Feed every chunk with `update`, then call `verify` once the
 * stream ended: it checks both the byte count and the digest.
 */
export class DigestVerifier {
  readonly #hash: Hash;
  readonly #algorithm: Algorithm;
  #bytes = 0;

  constructor(
    readonly expected: string,
    readonly expectedSize: number | undefined,
    readonly what: string,
  ) {
    this.#algorithm = algorithmOf(expected, what);
    this.#hash = createHash(this.#algorithm);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The digest algorithm, e.g. `sha256`. */
  get algorithm(): string {
    return this.#algorithm;
  }

  /** Hashes a chunk; throws TooLarge once the bytes exceed the declared size. */
  update(chunk: Uint8Array): void {
    this.#count(chunk.byteLength);
    this.#hash.update(chunk);
  }

  #count(bytes: number): void {
    this.#bytes += bytes;
    if (this.expectedSize !== undefined && this.#bytes > this.expectedSize) {
      throw new RegistryError(
        "TooLarge",
        `${this.what}: more than the ${this.expectedSize} bytes its descriptor declares; refusing the rest`,
      );
    }
  }

  /** Throws unless the bytes seen match the declared size and digest. */
  verify(): void {
    this.verifyDigest(`${this.#algorithm}:${this.#hash.digest("hex")}`);
  }

  /** Throws unless the bytes counted match the declared size and `actual` (`algorithm:hex`) the digest. */
  verifyDigest(actual: string): void {
    if (this.expectedSize !== undefined && this.#bytes !== this.expectedSize) {
      throw new RegistryError(
        "InvalidResponse",
        `${this.what}: received ${this.#bytes} bytes but the descriptor declares ${this.expectedSize}`,
        { retryable: true },
      );
    }
    if (actual !== this.expected) throw new DigestMismatchError(this.what, this.expected, actual);
  }
}
