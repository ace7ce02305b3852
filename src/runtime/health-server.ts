/**
 * The probe and metrics endpoint as a Runnable, after controller-runtime's health probes and
 * metrics server: `/healthz` (the process is alive), `/readyz` (registered readiness checks pass,
 * e.g. informers synced) and `/metrics` (an injected prom-client Registry, never the global one).
 *
 * Guarantees:
 * - Binds `host:port` (default 127.0.0.1:8081; in a pod pass `0.0.0.0` or the pod IP so the
 *   kubelet can probe it); `start` rejects if it cannot bind. Port 0 picks a free port; `address()`
 *   tells which.
 * - A check passes when it returns true; false, a throw or no answer within `checkTimeoutMs` fail
 *   it. Checks run in parallel on every request; nothing is cached.
 * - Responses follow the apiserver's format: `ok`, or 503 with one `[+]name ok` / `[-]name failed`
 *   line per check (always with `?verbose`).
 * - Runs on every replica (no leader election) and closes every connection when stopped.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { describeError } from "../errors.js";
import { systemClock, type Clock } from "./clock.js";
import type { Logger } from "./logger.js";
import { whenAborted, type Runnable } from "./runnable.js";

/** Resolves (or returns) true when healthy. */
export type HealthCheck = () => boolean | Promise<boolean>;

/** Options of `createHealthServer`. */
export interface HealthServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 8081 (controller-runtime's probe port); 0 picks a free one. */
  port?: number;
  /** Served on `/metrics`; without it `/metrics` answers 404. */
  registry?: Registry;
  logger: Logger;
  healthChecks?: Record<string, HealthCheck>;
  readyChecks?: Record<string, HealthCheck>;
  /** How long one check may take. Default 5 s. */
  checkTimeoutMs?: number;
  clock?: Clock;
}

/** The probe and metrics server; a Runnable that needs no leader election. */
export interface HealthServer extends Runnable {
  /** Adds a liveness check (a failing one gets the pod restarted: use sparingly). */
  addHealthCheck(name: string, check: HealthCheck): void;
  /** Adds a readiness check, e.g. `() => informer.hasSynced()`. */
  addReadyCheck(name: string, check: HealthCheck): void;
  /** The bound address, once listening (rejects if binding failed). */
  address(): Promise<{ host: string; port: number }>;
  needLeaderElection(): boolean;
}

/** Creates the server; it binds when started. */
export function createHealthServer(options: HealthServerOptions): HealthServer {
  return new HealthServerImpl(options);
}

interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

class HealthServerImpl implements HealthServer {
  readonly name = "health-server";
  readonly #host: string;
  readonly #port: number;
  readonly #registry: Registry | undefined;
  readonly #logger: Logger;
  readonly #checkTimeoutMs: number;
  readonly #clock: Clock;
  readonly #health = new Map<string, HealthCheck>();
  readonly #ready = new Map<string, HealthCheck>();
  readonly #address: Promise<{ host: string; port: number }>;
  #resolveAddress!: (address: { host: string; port: number }) => void;
  #rejectAddress!: (err: unknown) => void;
  #started = false;

  constructor(options: HealthServerOptions) {
    this.#host = options.host ?? "127.0.0.1";
    this.#port = options.port ?? 8081;
    this.#registry = options.registry;
    this.#logger = options.logger.child({ component: "health-server" });
    this.#checkTimeoutMs = options.checkTimeoutMs ?? 5_000;
    this.#clock = options.clock ?? systemClock;
    for (const [name, check] of Object.entries(options.healthChecks ?? {})) this.addHealthCheck(name, check);
    for (const [name, check] of Object.entries(options.readyChecks ?? {})) this.addReadyCheck(name, check);
    this.#address = new Promise((resolve, reject) => {
      this.#resolveAddress = resolve;
      this.#rejectAddress = reject;
    });
    this.#address.catch(() => undefined); // observed through start() as well
  }

  addHealthCheck(name: string, check: HealthCheck): void {
    if (this.#health.has(name)) throw new Error(`health check "${name}" is already registered`);
    this.#health.set(name, check);
  }

  addReadyCheck(name: string, check: HealthCheck): void {
    if (this.#ready.has(name)) throw new Error(`ready check "${name}" is already registered`);
    this.#ready.set(name, check);
  }

  address(): Promise<{ host: string; port: number }> {
    return this.#address;
  }

  needLeaderElection(): boolean {
    return false;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error("the health server was already started");
    this.#started = true;
    const server = createServer((request, response) => {
      this.#handle(request, response).catch((err: unknown) => {
        this.#logger.error({ err, path: request.url }, "health endpoint failed");
        if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
        response.end("internal error\n");
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.#port, this.#host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      this.#rejectAddress(err);
      throw err;
    }
    const bound = server.address();
    if (bound === null || typeof bound === "string") throw new Error("the health server has no TCP address");
    const { address, port } = bound;
    this.#resolveAddress({ host: address, port });
    this.#logger.info({ host: address, port }, "serving health probes and metrics");
    await whenAborted(signal);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    this.#logger.info("health server stopped");
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (request.method !== "GET" && request.method !== "HEAD") {
      response
        .writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" })
        .end("method not allowed\n");
      return;
    }
    switch (url.pathname) {
      case "/healthz":
      case "/livez":
        return this.#respondChecks(response, "healthz", this.#health, url.searchParams.has("verbose"));
      case "/readyz":
        return this.#respondChecks(response, "readyz", this.#ready, url.searchParams.has("verbose"));
      case "/metrics":
        if (!this.#registry) break;
        response.writeHead(200, { "content-type": this.#registry.contentType });
        response.end(request.method === "HEAD" ? undefined : await this.#registry.metrics());
        return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }

  async #respondChecks(
    response: ServerResponse,
    endpoint: string,
    checks: ReadonlyMap<string, HealthCheck>,
    verbose: boolean,
  ): Promise<void> {
    const results = await Promise.all([...checks].map(([name, check]) => this.#run(name, check)));
    const ok = results.every((r) => r.ok);
    let body = "ok\n";
    if (!ok || verbose) {
      const lines = results.map((r) =>
        r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed${r.detail ? `: ${r.detail}` : ""}`,
      );
      body = `${lines.join("\n")}\n${ok ? `${endpoint} check passed` : `${endpoint} check failed`}\n`;
    }
    response.writeHead(ok ? 200 : 503, {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
    });
    response.end(body);
  }

  async #run(name: string, check: HealthCheck): Promise<CheckResult> {
    const stopTimer = new AbortController();
    const timeout = this.#clock.sleep(this.#checkTimeoutMs, stopTimer.signal).then(
      (): CheckResult => ({ name, ok: false, detail: `no answer within ${this.#checkTimeoutMs} ms` }),
      (): CheckResult => ({ name, ok: false }),
    );
    const result = Promise.resolve()
      .then(check)
      .then(
        (ok): CheckResult => ({ name, ok: ok === true }),
        (err: unknown): CheckResult => ({ name, ok: false, detail: describeError(err) }),
      );
    try {
      return await Promise.race([result, timeout]);
    } finally {
      stopTimer.abort();
    }
  }
}
