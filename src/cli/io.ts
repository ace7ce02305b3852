/** Where a command writes, and its environment: injected so tests run commands in-process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WriteStream | (NodeJS.WritableStream & { isTTY?: boolean });
  readonly env: NodeJS.ProcessEnv;
  /** What `-` reads (`validate --config -`). Default process.stdin. */
  readonly stdin?: NodeJS.ReadableStream;
  readonly signal?: AbortSignal;
}

/** Exit codes shared by the commands. */
export const EXIT = { ok: 0, invalid: 1, usage: 2, registry: 3 } as const;

export const print = (stream: NodeJS.WritableStream, text: string): void =>
  void stream.write(text.endsWith("\n") ? text : `${text}\n`);
