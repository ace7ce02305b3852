/**
 * The HTTPS admission server as a Runnable, the Node adapter of handler.ts: POST /mutate-pods and
 * GET /healthz over TLS 1.2+.
 *
 * Guarantees:
 * - Bodies over the handler's limit are refused with 413 as soon as the declared length or the
 *   bytes read exceed it, without buffering the rest; the connection is then closed.
 * - A bad request never stops the server: every failure becomes an answer (handler.ts), and a
 *   failure while answering is logged and the socket closed.
 * - Certificate hot reload: when the source publishes new certificates, new TLS connections use
 *   them (`setSecureContext`); open connections finish with the old ones; nothing restarts.
 *   Certificates that fail `checkCertificates` are logged and ignored (the old ones stay).
 * - Idle keep-alive connections are kept longer (120 s) than Go's HTTP client keeps them (90 s),
 *   so the apiserver always closes first and never sends a review on a socket being closed.
 * - Bounded against a client that opens connections and sends little or nothing (defaults in
 *   DEFAULT_SERVER_LIMITS): at most `maxConnections` (256) open connections, further ones are
 *   closed at once; a TLS handshake must finish in 10 s, request headers in 10 s, a whole request
 *   in 30 s; and the bodies being read on all connections together are at most
 *   `maxInFlightBytes` (32 MiB): a request whose declared length, or whose bytes as they arrive,
 *   would go over is answered 503 Overloaded (the apiserver applies the failurePolicy) and its
 *   connection closed. So the server's memory stays bounded (about maxInFlightBytes plus ~50 KiB
 *   per connection) whatever clients do; the chart's optional NetworkPolicy limits who may try.
 * - On stop: no new connections, in-flight reviews get `shutdownGraceMs` (default 5 s) to finish,
 *   then every socket is closed. Runs on every replica (no leader election).
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SecureContextOptions } from "node:tls";
import type { Logger } from "../runtime/logger.js";
import { whenAborted, type Runnable } from "../runtime/runnable.js";
import { checkCertificates, type CertificateSource, type ServingCertificates } from "./certificate-source.js";
import { WebhookRequestError } from "./errors.js";
import { errorAnswer, tooLarge, type AdmissionHandler, type HttpAnswer } from "./handler.js";

/** Options of `createWebhookServer`. */
export interface WebhookServerOptions {
  readonly handler: AdmissionHandler;
  readonly certificates: CertificateSource;
  readonly logger: Logger;
  /** Default `0.0.0.0` (in a pod the apiserver dials the pod IP); tests pass `127.0.0.1`. */
  readonly host?: string;
  /** Default 9443 (controller-runtime's webhook port); 0 picks a free port, see `address()`. */
  readonly port?: number;
  /** How long in-flight requests may take to finish on stop. Default 5000 ms. */
  readonly shutdownGraceMs?: number;
  /** Connection, time and memory limits; defaults DEFAULT_SERVER_LIMITS. */
  readonly limits?: Partial<ServerLimits>;
}

/** What bounds the server's connections and memory. */
export interface ServerLimits {
  /** Open connections (TCP); more are closed as they arrive. */
  readonly maxConnections: number;
  /** Request bodies being read on all connections together; over it: 503 Overloaded. */
  readonly maxInFlightBytes: number;
  /** A TLS handshake must finish within this. */
  readonly handshakeTimeoutMs: number;
  /** Request headers must arrive within this (also bounds a connection that sends nothing). */
  readonly headersTimeoutMs: number;
  /** A whole request must arrive within this. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  readonly keepAliveTimeoutMs: number;
}

/** The defaults: room for a busy apiserver (a few connections each) and bounded memory. */
export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 256,
  maxInFlightBytes: 32 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 120_000,
};

/** The admission server. */
export interface WebhookServer extends Runnable {
  /** The bound address once listening; rejects if binding failed. */
  address(): Promise<{ host: string; port: number }>;
  /** The certificates new connections get (after the last successful reload). */
  servingCertificates(): ServingCertificates | undefined;
  needLeaderElection(): boolean;
}

const TLS_MIN_VERSION = "TLSv1.2";

/** Creates the server; it binds when started, once the certificate source has certificates. */
export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  return new WebhookServerImpl(options);
}

class WebhookServerImpl implements WebhookServer {
  readonly name = "webhook-server";
  readonly #options: WebhookServerOptions;
  readonly #logger: Logger;
  readonly #address: Promise<{ host: string; port: number }>;
  #resolveAddress!: (address: { host: string; port: number }) => void;
  #rejectAddress!: (err: unknown) => void;
  #serving: ServingCertificates | undefined;
  #started = false;
  readonly #limits: ServerLimits;
  /** Body bytes reserved by requests being read (declared lengths, or bytes so far). */
  #inFlightBytes = 0;

  constructor(options: WebhookServerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: "webhook-server" });
    this.#limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
    this.#address = new Promise((resolve, reject) => {
      this.#resolveAddress = resolve;
      this.#rejectAddress = reject;
    });
    this.#address.catch(() => undefined); // observed through start() as well
  }

  address(): Promise<{ host: string; port: number }> {
    return this.#address;
  }

  servingCertificates(): ServingCertificates | undefined {
    return this.#serving;
  }

  needLeaderElection(): boolean {
    return false;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error("the webhook server was already started");
    this.#started = true;
    let server: Server;
    try {
      const initial = checkCertificates(await this.#options.certificates.ready(signal));
      this.#serving = initial;
      const limits = this.#limits;
      server = createServer(
        {
          ...secureContext(initial),
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          headersTimeout: limits.headersTimeoutMs,
          handshakeTimeout: limits.handshakeTimeoutMs,
          // Checks the two timeouts above this often (Node's default 30 s would let them overrun).
          connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
        },
        (request, response) => this.#onRequest(request, response),
      );
      server.maxConnections = limits.maxConnections;
      // Node's headersTimeout does not cover a connection that never starts a request: close a
      // connection whose first request headers have not arrived within headersTimeoutMs.
      const firstRequest = new WeakMap<object, NodeJS.Timeout>();
      server.on("secureConnection", (socket) => {
        const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs).unref();
        firstRequest.set(socket, timer);
        socket.once("close", () => clearTimeout(timer));
      });
      server.on("request", (request: IncomingMessage) => {
        const timer = firstRequest.get(request.socket);
        if (timer === undefined) return;
        clearTimeout(timer);
        firstRequest.delete(request.socket);
      });
      let warnedFull = 0;
      server.on("drop", () => {
        const now = Date.now();
        if (now - warnedFull < 60_000) return;
        warnedFull = now;
        this.#logger.warn(
          { maxConnections: limits.maxConnections },
          "webhook server at its connection limit: new connections are closed",
        );
      });
      server.on("tlsClientError", (err) => this.#logger.debug({ err }, "TLS handshake failed"));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.#options.port ?? 9443, this.#options.host ?? "0.0.0.0", () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      this.#rejectAddress(err);
      if (signal.aborted && err === signal.reason) return;
      throw err;
    }
    server.on("error", (err) => this.#logger.error({ err }, "webhook server error"));
    const bound = server.address();
    if (bound === null || typeof bound === "string") throw new Error("the webhook server has no TCP address");
    this.#resolveAddress({ host: bound.address, port: bound.port });
    this.#logger.info({ host: bound.address, port: bound.port }, "serving admission reviews");

    const unsubscribe = this.#options.certificates.subscribe((next) => {
      try {
        checkCertificates(next);
        server.setSecureContext(secureContext(next));
        this.#serving = next;
        this.#logger.info("serving certificate reloaded");
      } catch (err) {
        this.#logger.error({ err }, "new serving certificate refused; keeping the current one");
      }
    });
    try {
      await whenAborted(signal);
    } finally {
      unsubscribe();
      await this.#close(server);
    }
    this.#logger.info("webhook server stopped");
  }

  async #close(server: Server): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const grace = new Promise<void>((resolve) =>
      setTimeout(resolve, this.#options.shutdownGraceMs ?? 5_000).unref(),
    );
    await Promise.race([closed, grace]);
    server.closeAllConnections();
    await closed;
  }

  #onRequest(request: IncomingMessage, response: ServerResponse): void {
    const startedAt = performance.now();
    const handler = this.#options.handler;
    try {
      const url = request.url ?? "/";
      const query = url.indexOf("?");
      const route = handler.route(request.method, query < 0 ? url : url.slice(0, query));
      if (route === "healthz") {
        send(response, { status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n" });
        return;
      }
    } catch (err) {
      request.resume();
      send(response, errorAnswer(err, this.#logger));
      return;
    }
    const limit = handler.maxBodyBytes;
    const declared = Number(request.headers["content-length"]);
    if (declared > limit) {
      refuse(request, response, handler.fail(tooLarge(limit), startedAt));
      return;
    }
    // Memory held for this request's body: its declared length up front, else its bytes as they come.
    let reserved = 0;
    const reserve = (bytes: number): boolean => {
      if (this.#inFlightBytes + bytes > this.#limits.maxInFlightBytes) return false;
      this.#inFlightBytes += bytes;
      reserved += bytes;
      return true;
    };
    const release = (): void => {
      this.#inFlightBytes -= reserved;
      reserved = 0;
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const overloaded = (): void => {
      refused = true;
      chunks.length = 0;
      release();
      this.#logger.warn(
        { maxInFlightBytes: this.#limits.maxInFlightBytes, inFlightBytes: this.#inFlightBytes },
        "admission request refused: too many bytes in flight",
      );
      refuse(
        request,
        response,
        handler.fail(
          new WebhookRequestError(
            "Overloaded",
            `the webhook is reading ${this.#limits.maxInFlightBytes} bytes of admission requests already (its limit); the apiserver applies the webhook's failurePolicy, retry shortly`,
          ),
          startedAt,
        ),
      );
    };
    if (Number.isInteger(declared) && declared > 0 && !reserve(declared)) {
      overloaded();
      return;
    }
    request.once("close", release);
    request.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        chunks.length = 0;
        release();
        refuse(request, response, handler.fail(tooLarge(limit), startedAt));
        return;
      }
      if (size > reserved && !reserve(size - reserved)) {
        overloaded();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => {
      if (refused) return;
      const body =
        chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks, size).toString("utf8");
      chunks.length = 0;
      release();
      send(response, handler.review(body, request.headers["content-type"], startedAt));
    });
    request.on("error", (err) => {
      this.#logger.debug({ err }, "admission request aborted by the client");
    });
  }
}

function secureContext(certificates: ServingCertificates): SecureContextOptions {
  return { cert: certificates.certPem, key: certificates.keyPem, minVersion: TLS_MIN_VERSION };
}

function send(response: ServerResponse, answer: HttpAnswer, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(answer.status, {
    "content-type": answer.contentType,
    "content-length": Buffer.byteLength(answer.body),
    ...headers,
  });
  response.end(answer.body);
}

/** Answers before the body was read, then discards what the client still sends and closes. */
function refuse(request: IncomingMessage, response: ServerResponse, answer: HttpAnswer): void {
  send(response, answer, { connection: "close" });
  request.resume();
}
