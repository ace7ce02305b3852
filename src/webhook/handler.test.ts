import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../runtime/logger.js";
import { INIT_SETTINGS, modelDeployment, pod, podReview, storeOf } from "../../test/webhook/fixtures.js";
import { createAdmissionHandler, MUTATE_PODS_PATH, type AdmissionHandlerOptions } from "./handler.js";
import { createWebhookMetrics } from "./metrics.js";

const url = `https://127.0.0.1${MUTATE_PODS_PATH}`;
const post = (
  body: string,
  headers: Record<string, string> = { "content-type": "application/json" },
): Request => new Request(url, { method: "POST", body, headers });

function setup(options: Partial<AdmissionHandlerOptions> = {}) {
  const registry = new Registry();
  const handler = createAdmissionHandler({
    store: storeOf([modelDeployment({ name: "llama", matchLabels: { app: "llama" } })]),
    settings: INIT_SETTINGS,
    logger: silentLogger(),
    metrics: createWebhookMetrics({ registry }),
    ...options,
  });
  const count = async (result: string): Promise<number> => {
    const metric = await registry.getSingleMetric("modelpack_admission_requests_total")?.get();
    return metric?.values.find((v) => v.labels.result === result)?.value ?? NaN;
  };
  return { handler, count, registry };
}

describe("the admission handler (web-standard fetch)", () => {
  it("answers a review with an AdmissionReview and counts it", async () => {
    const { handler, count } = setup();
    const response = await handler.fetch(post(JSON.stringify(podReview(pod()))));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = (await response.json()) as { response: { allowed: boolean; patchType: string } };
    expect(body.response).toMatchObject({ allowed: true, patchType: "JSONPatch" });
    expect(await count("patched")).toBe(1);
    expect(await count("allowed")).toBe(0);
  });

  it.each([
    ["not JSON", "{nope", 400, /the body is not JSON/],
    [
      "JSON but not a review",
      JSON.stringify({ hello: "world" }),
      400,
      /not an admission.k8s.io\/v1 AdmissionReview \(at apiVersion/,
    ],
    [
      "a v1beta1 review",
      JSON.stringify({ ...podReview(pod()), apiVersion: "admission.k8s.io/v1beta1" }),
      400,
      /at apiVersion/,
    ],
    [
      "a review without a uid",
      JSON.stringify({
        ...podReview(pod()),
        request: { kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE" },
      }),
      400,
      /request.uid/,
    ],
    ["an empty body", "", 400, /not JSON/],
  ])("answers %s with 400 and counts an error", async (_, body, status, message) => {
    const { handler, count } = setup();
    const response = await handler.fetch(post(body));
    expect(response.status).toBe(status);
    expect(await response.text()).toMatch(message);
    expect(await count("error")).toBe(1);
  });

  it("writes one log line per refused request, with the code and the reason", async () => {
    const lines: string[] = [];
    const { handler } = setup({
      logger: createLogger({ destination: { write: (line: string) => lines.push(line) } }),
    });
    await handler.fetch(post("{nope"));
    const logged = lines.map((line) => JSON.parse(line));
    expect(logged).toEqual([
      expect.objectContaining({
        level: "warn",
        msg: "admission request refused",
        code: "MalformedReview",
        status: 400,
      }),
    ]);
    expect(logged[0].reason).toMatch(/the body is not JSON/);
  });

  it("refuses a body over the limit with 413, by declared length and by bytes read", async () => {
    const { handler, count } = setup({ maxBodyBytes: 1024 });
    const big = JSON.stringify(podReview(pod()));
    expect((await handler.fetch(post(big))).status).toBe(413);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("x".repeat(200)));
        controller.close();
      },
    });
    const streamed = new Request(url, {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect((await handler.fetch(streamed)).status).toBe(413);
    expect(await count("error")).toBe(2);
  });

  it("refuses a Content-Type other than JSON with 415", async () => {
    const { handler } = setup();
    expect((await handler.fetch(post("{}", { "content-type": "text/yaml" }))).status).toBe(415);
    expect(
      (
        await handler.fetch(
          post(JSON.stringify(podReview(pod())), { "content-type": "application/json; charset=utf-8" }),
        )
      ).status,
    ).toBe(200);
  });

  it("answers 503 until the ModelDeployment cache synced", async () => {
    let synced = false;
    const { handler } = setup({ hasSynced: () => synced });
    expect((await handler.fetch(post(JSON.stringify(podReview(pod()))))).status).toBe(503);
    synced = true;
    expect((await handler.fetch(post(JSON.stringify(podReview(pod()))))).status).toBe(200);
  });

  it("answers 500 without details when the planner throws, and keeps answering", async () => {
    let fail = true;
    const { handler, count } = setup({
      planMounts: () => {
        if (fail) throw new Error("planner bug");
        return { allowed: true, patch: [] };
      },
    });
    const response = await handler.fetch(post(JSON.stringify(podReview(pod()))));
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("planner bug");
    fail = false;
    expect((await handler.fetch(post(JSON.stringify(podReview(pod()))))).status).toBe(200);
    expect(await count("error")).toBe(1);
    expect(await count("allowed")).toBe(1);
  });

  it("routes /healthz, 404 and 405", async () => {
    const { handler, count } = setup();
    expect((await handler.fetch(new Request("https://127.0.0.1/healthz"))).status).toBe(200);
    expect((await handler.fetch(new Request("https://127.0.0.1/other"))).status).toBe(404);
    expect((await handler.fetch(new Request(url))).status).toBe(405);
    expect(
      (await handler.fetch(new Request("https://127.0.0.1/healthz", { method: "POST", body: "x" }))).status,
    ).toBe(405);
    expect(await count("error")).toBe(0);
  });

  it("counts denials and registers every series at zero", async () => {
    const { handler, count, registry } = setup({
      store: storeOf([modelDeployment({ name: "llama", matchLabels: { app: "llama" }, status: undefined })]),
    });
    expect(await count("denied")).toBe(0);
    const response = await handler.fetch(post(JSON.stringify(podReview(pod()))));
    expect(((await response.json()) as { response: { allowed: boolean } }).response.allowed).toBe(false);
    expect(await count("denied")).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain('modelpack_admission_duration_seconds_count{result="denied"} 1');
    expect(text).toContain('modelpack_admission_duration_seconds_count{result="error"} 0');
  });
});
