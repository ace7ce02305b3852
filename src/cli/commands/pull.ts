import { resolve } from "node:path";
import { RegistryClient } from "../../oci/client.js";
import { parseReference } from "../../oci/reference.js";
import { pull } from "../../puller/puller.js";
import { formatBytes, issueLine } from "../format.js";
import { EXIT, print, type CliIo } from "../io.js";
import { createProgressReporter } from "../progress.js";
import { registryClientOptions, type RegistryFlags } from "../registry-options.js";

export interface PullCommandOptions extends RegistryFlags {
  readonly reference: string;
  readonly dest: string;
  readonly concurrency: number;
  /** `--connections`: the most connections per large file. */
  readonly connections: number;
  readonly output: "text" | "json";
  readonly stateFile?: string;
  readonly worldReadable?: boolean;
  /** `--max-bytes`, parsed. */
  readonly maxBytes?: number;
  readonly maxExpansionRatio?: number;
  readonly maxEntries?: number;
}

/**
 * `pull REFERENCE --dest DIR`: downloads and verifies every file of a model into DIR.
 * Exit 0 only when every file is verified; errors are thrown to the caller's exit-code mapping.
 */
export async function pullCommand(options: PullCommandOptions, io: CliIo): Promise<number> {
  const ref = parseReference(options.reference);
  const client = new RegistryClient(
    await registryClientOptions(options, ref.registry, io.env, (l) => print(io.stderr, l)),
  );
  const progress = createProgressReporter(io.stderr as NodeJS.WriteStream);
  const started = Date.now();
  try {
    const result = await pull({
      client,
      reference: ref,
      dest: resolve(options.dest),
      concurrency: options.concurrency,
      connections: options.connections,
      ...(options.stateFile !== undefined && { stateFile: resolve(options.stateFile) }),
      ...(options.worldReadable === true && { worldReadable: true }),
      ...(options.maxBytes !== undefined && { maxBytes: options.maxBytes }),
      ...(options.maxExpansionRatio !== undefined && { maxExpansionRatio: options.maxExpansionRatio }),
      ...(options.maxEntries !== undefined && { maxEntries: options.maxEntries }),
      ...(io.signal !== undefined && { signal: io.signal }),
      onProgress: (p) => progress.update(p),
      onEvent: (event) => {
        if (event.type === "manifest")
          for (const w of event.warnings) print(io.stderr, issueLine("warning", w));
        if (event.type === "lock-wait")
          print(io.stderr, `waiting for another pull into ${resolve(options.dest)}: lock ${event.holder}`);
        if (event.type === "layer-retry")
          print(io.stderr, `retrying layer ${event.digest} (attempt ${event.attempt + 1}): ${event.error}`);
      },
    });
    progress.done();
    const seconds = (Date.now() - started) / 1000;
    if (options.output === "json") {
      print(
        io.stdout,
        JSON.stringify(
          {
            pinnedReference: result.pinnedReference,
            digest: result.digest,
            dest: resolve(options.dest),
            files: result.files,
            bytesDownloaded: result.bytesDownloaded,
            seconds,
          },
          null,
          2,
        ),
      );
    } else {
      const skipped = result.files.filter((f) => f.skipped).length;
      print(
        io.stdout,
        `Pulled ${result.pinnedReference} into ${resolve(options.dest)}: ${result.files.length} files verified` +
          `${skipped > 0 ? ` (${skipped} already present)` : ""}, ${formatBytes(result.bytesDownloaded)} downloaded in ${seconds.toFixed(1)}s`,
      );
    }
    return EXIT.ok;
  } finally {
    await client.close();
  }
}
