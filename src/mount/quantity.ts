/**
 * The emptyDir size limit of the InitContainer strategy, from the model's size.
 *
 * Rule: `limit = size + max(size / 4, 256 MiB)`, rounded up to a whole `Mi` below 10 GiB and to a
 * whole `Gi` from there (so rounding adds at most 10%). Why this much headroom:
 * - `sizeBytes` counts the layers as stored; `tar+gzip`/`tar+zstd` layers grow when extracted
 *   (model weights compress by 10–20%, so a quarter covers them);
 * - files take whole filesystem blocks, which matters for models with many small files;
 * - the puller's own bookkeeping (its state file and per-layer staging) lives in the folder.
 * The staging files are renamed into place, never copied, so the peak is the final size.
 * A limit is not a request: an over-estimate costs nothing at scheduling time, while an
 * under-estimate gets the pod evicted, so the rule errs high.
 */

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** Headroom never below this, whatever the model's size. */
export const MIN_HEADROOM_BYTES = 256 * MiB;
/** Below this the limit is given in `Mi`, from here in `Gi`. */
const GI_THRESHOLD_BYTES = 10 * GiB;

/**
 * The `sizeLimit` quantity for a model of `sizeBytes`, per the module header's rule.
 * Throws RangeError unless `sizeBytes` is a non-negative safe integer (the planner checks first).
 */
export function emptyDirSizeLimit(sizeBytes: number): string {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new RangeError(`model size must be a non-negative integer number of bytes, got ${sizeBytes}`);
  }
  const limit = sizeBytes + Math.max(Math.ceil(sizeBytes / 4), MIN_HEADROOM_BYTES);
  return limit < GI_THRESHOLD_BYTES ? `${Math.ceil(limit / MiB)}Mi` : `${Math.ceil(limit / GiB)}Gi`;
}
