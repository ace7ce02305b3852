import {
  DOCKER_MANIFEST_LIST_MEDIA_TYPE as DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V2_MEDIA_TYPE as DOCKER_MANIFEST_V2,
  OCI_INDEX_MEDIA_TYPE as OCI_INDEX,
  OCI_MANIFEST_MEDIA_TYPE as OCI_MANIFEST,
} from "../oci-spec.js";

/** Manifest media types the registry client asks for and understands (defined in ../oci-spec.ts). */
export { DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST };

/** The Accept header for manifest requests: without an OCI type, some registries refuse OCI content. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST].join(", ");

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}
