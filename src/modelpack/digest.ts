/**
 * OCI digests in ModelPack documents: the grammar and the sha256/sha512 encoding rules are the
 * OCI image spec's, defined once in ../oci-spec.ts (shared with the registry client).
 */
export { explainDigest, isOciDigest } from "../oci-spec.js";
