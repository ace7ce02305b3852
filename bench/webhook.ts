import { execFile } from "node:child_process";
import { createServer } from "node:https";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { selfSignedServingCertificates } from "../src/webhook/index.js";
import { startInProcessWebhook } from "../test/webhook/fixtures.js";

const run = promisify(execFile);
const LoadOutput = z.object({
  p50: z.number(),
  p99: z.number(),
  max: z.number(),
  throughput: z.number(),
  requests: z.number(),
});
/** Latencies and throughput seen by the load generator, and the server's own CPU per review. */
export type LoadResult = z.infer<typeof LoadOutput> & { readonly cpuMicrosPerReview: number };

async function load(
  url: string,
  caPem: string,
  body: string,
  options: { rate: number; seconds: number; concurrency: number },
): Promise<LoadResult> {
  // The servers run in this process: its CPU time over the run, per review, is what a review
  // costs the server, independent of how much CPU the load generator takes on a small machine.
  const before = process.cpuUsage();
  const { stdout } = await run(
    join(process.cwd(), "node_modules", ".bin", "tsx"),
    [join(import.meta.dirname, "webhook-load.ts"), JSON.stringify({ url, caPem, body, ...options })],
    { maxBuffer: 1 << 20 },
  );
  const cpu = process.cpuUsage(before);
  const output = LoadOutput.parse(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}"));
  return { ...output, cpuMicrosPerReview: (cpu.user + cpu.system) / output.requests };
}

/** A bare Node HTTPS server answering every review with a fixed "allowed": the baseline. */
async function startBareServer(): Promise<{ url: string; caPem: string; stop: () => Promise<void> }> {
  const certificates = selfSignedServingCertificates({ ipAddresses: ["127.0.0.1"] });
  const answer = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid: "fixed", allowed: true },
  });
  const server = createServer(
    { key: certificates.keyPem, cert: certificates.certPem, keepAliveTimeout: 120_000 },
    (req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(answer);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}/mutate-pods`,
    caPem: certificates.caPem,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * The admission webhook's HTTPS endpoint with 50 ModelDeployments in the namespace and a realistic
 * pod that one of them selects, against a bare Node HTTPS server with a fixed allow, both driven
 * by a load generator in another process: p50/p99 at 500 reviews/s and throughput at full speed.
 */
export async function benchWebhook(
  options: { seconds?: number; rate?: number; concurrency?: number } = {},
): Promise<{ webhook: LoadResult; unmatched: LoadResult; bare: LoadResult }> {
  const settings = {
    rate: options.rate ?? 500,
    seconds: options.seconds ?? 5,
    concurrency: options.concurrency ?? 16,
  };
  const webhook = await startInProcessWebhook({ count: 50 });
  const bare = await startBareServer();
  try {
    const bareResult = await load(bare.url, bare.caPem, webhook.matchingReviewBody, settings);
    const webhookResult = await load(webhook.url, webhook.caPem, webhook.matchingReviewBody, settings);
    // A pod no ModelDeployment selects: parsed and matched, answered with a plain allow.
    const unmatched = await load(webhook.url, webhook.caPem, webhook.unmatchedReviewBody, settings);
    return { webhook: webhookResult, unmatched, bare: bareResult };
  } finally {
    await webhook.stop();
    await bare.stop();
  }
}
