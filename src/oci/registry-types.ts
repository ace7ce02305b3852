/** The data types the registry client hands out and takes (see client.ts). */
import type { RegistryErrorCode } from "./errors.js";

/** A content descriptor: enough to fetch and verify one blob or manifest. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A verified manifest: `bytes` hash to `digest`. `json` is parsed but not validated. */
export interface FetchedManifest {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
  readonly json: unknown;
  /** Set when the reference named an index and one of its manifests was chosen. */
  readonly index?: { readonly digest: string; readonly mediaType: string };
}

/** What a tag or digest points at. */
export interface ResolvedReference {
  readonly digest: string;
  readonly mediaType?: string;
  readonly size?: number;
}

/** One HTTP exchange with a registry, for metrics and logs. */
export interface RegistryRequestEvent {
  readonly registry: string;
  readonly operation: "ping" | "resolve" | "manifest" | "blob" | "token" | "push";
  /** `ok`, or the RegistryErrorCode of the failure. */
  readonly result: "ok" | RegistryErrorCode;
  readonly status?: number;
}

/** Picks the manifest to use from an index's entries; undefined means none fits. */
export type IndexSelector = (entries: readonly Descriptor[]) => Descriptor | undefined;
