import { PullError } from "./errors.js";

/**
 * Limits that keep a hostile artifact from filling a disk: per archive layer, the bytes it may
 * expand to and the entries it may hold; per pull, the bytes it may write.
 *
 * Why 100× by default: real model files compress poorly (safetensors/GGUF weights 1.0–1.5×,
 * bf16 a little more), JSON tokenizers and configs 5–10× (up to ~12× with zstd -19), source and
 * docs 3–5×; a layer is dominated by its largest files, so 100× leaves a 10× margin over the most
 * compressible real content. A bomb reaches 1,000× with gzip and 10,000×+ with zstd, so it is
 * stopped after at most 100× its own size. Layers that expand to less than EXPANSION_FLOOR_BYTES
 * are never refused for their ratio (a small layer of zeros is not a threat to any disk).
 */
export const DEFAULT_MAX_EXPANSION_RATIO = 100;
/** An archive layer may always expand to this much, whatever its ratio. */
export const EXPANSION_FLOOR_BYTES = 64 * 1024 * 1024;
/**
 * Entries (files, folders, symlinks) per archive layer. Real layers hold one file (modctl) up to a
 * few thousand (a code or dataset folder); each entry costs a staging file and memory.
 */
export const DEFAULT_MAX_ENTRIES = 100_000;

export interface PullLimits {
  /** Bytes the pull may write in all (staged files of every layer); undefined = no cap. */
  readonly maxBytes?: number;
  /** Uncompressed / compressed bytes per archive layer. */
  readonly maxExpansionRatio: number;
  /** Entries per archive layer. */
  readonly maxEntries: number;
}

/** The decompressed bytes an archive layer of `compressedSize` may produce. */
export const expansionLimit = (compressedSize: number, ratio: number): number =>
  Math.max(compressedSize * ratio, EXPANSION_FLOOR_BYTES);

const BINARY: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Readonly<Record<string, number>> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/**
 * Parses a byte count written as a Kubernetes quantity: `1073741824`, `500M`, `10Gi`, `1.5Gi`,
 * `1e9`. Fractions round up to a whole byte (as Quantity.Value() does). Returns a reason string
 * for anything else: milli/micro/nano suffixes (no fraction of a byte), zero, negative, or more
 * than 2^53 bytes.
 */
export function parseByteQuantity(raw: string): number | { readonly invalid: string } {
  const match = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/.exec(
    raw.trim(),
  );
  if (match === null)
    return {
      invalid: `"${raw}" is not a byte size; write a Kubernetes quantity such as 10Gi, 500M or 1073741824`,
    };
  const [, number = "", exponent, suffix] = match;
  const factor = suffix !== undefined ? (BINARY[suffix] ?? DECIMAL[suffix] ?? 1) : 1;
  const value = Math.ceil(Number(`${number}${exponent ?? ""}`) * factor);
  if (!Number.isSafeInteger(value)) return { invalid: `"${raw}" is too large (at most 2^53 bytes)` };
  if (value < 1) return { invalid: `"${raw}" must be at least one byte` };
  return value;
}

/** `2684354560 bytes (2.5 GiB)`: exact, and readable. */
export function describeBytes(bytes: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = "";
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return unit === "" ? `${bytes} bytes` : `${bytes} bytes (${value.toFixed(1)} ${unit})`;
}

/**
 * The bytes a pull may still write. Layers take from it as they stage bytes (concurrently) and
 * give back what a failed attempt staged; the first take past the cap throws LimitExceeded.
 */
export class ByteBudget {
  private used = 0;

  constructor(
    private readonly max: number | undefined,
    /** How the cap was given, for messages (e.g. `--max-bytes 10Gi`). */
    private readonly source: string,
  ) {}

  take(bytes: number, what: string): void {
    this.used += bytes;
    if (this.max !== undefined && this.used > this.max) {
      throw new PullError(
        "LimitExceeded",
        `${what}: the pull would write more than ${describeBytes(this.max)} (${this.source}); ` +
          `stopped before writing the rest. If the model really is this large, raise --max-bytes ` +
          `(the init container passes its emptyDir's sizeLimit, derived from the artifact's declared size)`,
      );
    }
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}
