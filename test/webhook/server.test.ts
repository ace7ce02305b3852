/**
 * The webhook's HTTPS server on loopback, without an apiserver: answers, limits, errors that
 * never stop it, TLS settings, metrics, and certificate hot reload from a folder.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/runtime/clock.js";
import { silentLogger } from "../../src/runtime/logger.js";
import {
  createCertificateAuthority,
  createWebhook,
  issueServingCertificate,
} from "../../src/webhook/index.js";
import { waitFor } from "../harness/testing.js";
import {
  INIT_SETTINGS,
  modelDeployment,
  pod,
  podReview,
  storeOf,
  startInProcessWebhook,
  type InProcessWebhook,
} from "./fixtures.js";
import { httpsRequest } from "./https-client.js";

describe("the webhook HTTPS server", () => {
  let webhook: InProcessWebhook;
  const registry = new Registry();
  const post = (body: string, extra: { chunks?: number; headers?: Record<string, string> } = {}) =>
    httpsRequest(webhook.url, { caPem: webhook.caPem, body, ...extra });
  const stillServes = async (): Promise<void> => {
    const answer = await post(webhook.matchingReviewBody);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response.patchType).toBe("JSONPatch");
  };

  beforeAll(async () => {
    webhook = await startInProcessWebhook({ count: 50, registry });
  });
  afterAll(async () => {
    await webhook?.stop();
  });

  it("patches a pod that one of 50 ModelDeployments selects, and allows one that none selects", async () => {
    const patched = JSON.parse((await post(webhook.matchingReviewBody)).body);
    expect(patched.response).toMatchObject({ allowed: true, patchType: "JSONPatch" });
    const patch = JSON.parse(Buffer.from(patched.response.patch, "base64").toString("utf8"));
    expect(patch[0]).toMatchObject({
      op: "add",
      path: "/spec/volumes/-",
      value: { name: "modelpack-model-md-0" },
    });
    const allowed = JSON.parse((await post(webhook.unmatchedReviewBody)).body);
    expect(allowed.response).toEqual({ uid: expect.any(String), allowed: true });
  });

  it.each([
    ["malformed JSON", '{"apiVersion":', 400],
    [
      "a review of the wrong kind",
      JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "Pod", request: {} }),
      400,
    ],
    [
      "a review whose pod has no containers",
      JSON.stringify({
        ...podReview(pod()),
        request: { ...(podReview(pod()).request as object), object: { spec: {} } },
      }),
      400,
    ],
  ])("answers %s with %d and keeps serving", async (_, body, status) => {
    const answer = await post(body);
    expect(answer.status).toBe(status);
    await stillServes();
  });

  it("answers 413 to a 4 MiB body, declared or chunked, and keeps serving", async () => {
    const big = JSON.stringify({ ...podReview(pod()), padding: "x".repeat(4 * 1024 * 1024) });
    expect((await post(big)).status).toBe(413);
    const chunked = await post(big, { chunks: 64 }).catch((err: NodeJS.ErrnoException) => ({
      status: err.code,
    }));
    // The server answers 413 as soon as the limit is passed and closes; a client still uploading
    // may see the reset before it reads the answer.
    expect([413, "ECONNRESET", "EPIPE"]).toContain(chunked.status);
    await stillServes();
  });

  it("answers 415 to a body that is not JSON-typed, 404 and 405 elsewhere, and serves /healthz", async () => {
    expect(
      (await post(webhook.matchingReviewBody, { headers: { "content-type": "text/plain" } })).status,
    ).toBe(415);
    const base = webhook.url.replace("/mutate-pods", "");
    expect((await httpsRequest(`${base}/elsewhere`, { caPem: webhook.caPem, method: "GET" })).status).toBe(
      404,
    );
    expect((await httpsRequest(webhook.url, { caPem: webhook.caPem, method: "GET" })).status).toBe(405);
    const health = await httpsRequest(`${base}/healthz`, { caPem: webhook.caPem, method: "GET" });
    expect(health).toMatchObject({ status: 200, body: "ok\n" });
  });

  it("refuses TLS 1.1", async () => {
    await expect(
      httpsRequest(webhook.url, { caPem: webhook.caPem, body: "{}", maxVersion: "TLSv1.1" }),
    ).rejects.toThrow();
    await stillServes();
  });

  it("answers 200 concurrent reviews", async () => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        post(i % 2 === 0 ? webhook.matchingReviewBody : webhook.unmatchedReviewBody),
      ),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });

  it("counts requests by result and times them", async () => {
    const text = await registry.metrics();
    const count = (result: string): number =>
      Number(new RegExp(`modelpack_admission_requests_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1]);
    expect(count("patched")).toBeGreaterThanOrEqual(100);
    expect(count("allowed")).toBeGreaterThanOrEqual(100);
    expect(count("error")).toBeGreaterThanOrEqual(6);
    expect(count("denied")).toBe(0);
    expect(text).toMatch(/modelpack_admission_duration_seconds_bucket\{le="0.005",result="patched"\} \d+/);
  });
});

describe("certificates from a folder (cert-manager mode)", () => {
  const dir = mkdtempSync(join(tmpdir(), "webhook-certs-"));
  const ca = createCertificateAuthority({ now: Date.now(), validityMs: 3600_000 });
  const issue = () =>
    issueServingCertificate(ca, { ipAddresses: ["127.0.0.1"], now: Date.now(), validityMs: 3600_000 });
  const write = (pair: { certPem: string; keyPem: string }): void => {
    writeFileSync(join(dir, "tls.key"), pair.keyPem);
    writeFileSync(join(dir, "tls.crt"), pair.certPem);
    writeFileSync(join(dir, "ca.crt"), ca.certPem);
  };
  const stop = new AbortController();
  let running: Promise<void>;
  let url: string;
  const body = JSON.stringify(podReview(pod()));

  beforeAll(async () => {
    write(issue());
    const webhook = createWebhook({
      logger: silentLogger(),
      clock: systemClock,
      namespace: "modelpack-system",
      store: storeOf([modelDeployment({ name: "llama", matchLabels: { app: "llama" } })]),
      settings: INIT_SETTINGS,
      host: "127.0.0.1",
      port: 0,
      certificates: { mode: "directory", dir, pollMs: 500 },
    });
    running = webhook.start(stop.signal);
    url = `https://127.0.0.1:${(await webhook.address()).port}/mutate-pods`;
  });
  afterAll(async () => {
    stop.abort();
    await running;
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves a new certificate on new connections once the files change, without restarting", async () => {
    const before = await httpsRequest(url, { caPem: ca.certPem, body });
    expect(before.status).toBe(200);
    const next = issue();
    write(next);
    const serial = new X509Certificate(next.certPem).serialNumber;
    const after = await waitFor(
      "the new certificate to be served",
      async () => {
        const answer = await httpsRequest(url, { caPem: ca.certPem, body });
        return answer.serial === serial ? answer : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(after.status).toBe(200);
    expect(after.serial).not.toBe(before.serial);
  });

  it("keeps the current certificate when the files are half-written", async () => {
    const current = (await httpsRequest(url, { caPem: ca.certPem, body })).serial;
    writeFileSync(join(dir, "tls.crt"), "-----BEGIN CERTIFICATE-----\ntruncated");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const answer = await httpsRequest(url, { caPem: ca.certPem, body });
    expect(answer).toMatchObject({ status: 200, serial: current });
    write(issue());
  });
});
