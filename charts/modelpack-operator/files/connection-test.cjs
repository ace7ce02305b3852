// `helm test`: the operator is Ready (GET /readyz through the metrics Service) and the webhook
// answers over TLS (GET /healthz through the webhook Service, its certificate verified against the
// webhook's CA and the Service's DNS name). Run by the operator image's node as `node -e`; no
// dependencies. Each check is retried every 2 s until TEST_TIMEOUT_SECONDS (default 60) pass.
// Environment: READYZ_URL (optional), WEBHOOK_URL, CA_FILE, TLS_SERVER_NAME (optional: the name the
// certificate must carry when WEBHOOK_URL's host is an address).
"use strict";
const http = require("node:http");
const https = require("node:https");
const fs = require("node:fs");

const env = process.env;
const deadline = Date.now() + Number(env.TEST_TIMEOUT_SECONDS || "60") * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** undefined when the URL answers 200, else what went wrong. */
function get(url, options) {
  return new Promise((resolve) => {
    const client = url.startsWith("https:") ? https : http;
    const request = client.get(url, { ...options, timeout: 5000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => {
        if (body.length < 2048) body += chunk;
      });
      response.on("end", () =>
        resolve(response.statusCode === 200 ? undefined : `HTTP ${response.statusCode}: ${body.trim().slice(0, 500)}`),
      );
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 5 s")));
    request.on("error", (err) => resolve(err.message));
  });
}

async function check(name, url, options, fix) {
  for (;;) {
    const problem = await get(url, options);
    if (problem === undefined) {
      console.log(`ok: ${name} (${url})`);
      return true;
    }
    if (Date.now() >= deadline) {
      console.error(`FAIL: ${name} (${url}): ${problem}. ${fix}`);
      return false;
    }
    await sleep(2000);
  }
}

async function main() {
  const pods = env.POD_HINT || "kubectl get pods";
  let passed = true;
  if (env.READYZ_URL) {
    passed =
      (await check(
        "the operator is ready",
        env.READYZ_URL,
        {},
        `No operator pod is Ready: see \`${pods}\` and their logs (/readyz waits for the caches to sync and the webhook configuration object).`,
      )) && passed;
  }
  let ca;
  try {
    ca = fs.readFileSync(env.CA_FILE || "", "utf8");
  } catch (err) {
    console.error(`FAIL: the webhook's CA (${env.CA_FILE}): ${err.message}. The webhook's Secret must hold ca.crt.`);
    process.exit(1);
  }
  passed =
    (await check(
      "the webhook answers over TLS",
      env.WEBHOOK_URL,
      { ca, ...(env.TLS_SERVER_NAME ? { servername: env.TLS_SERVER_NAME } : {}) },
      `The apiserver could not call the webhook either: see \`${pods}\` and their logs; a certificate error means the Secret's ca.crt does not sign the serving certificate (cert-manager: check the Certificate); a timeout may be a NetworkPolicy (networkPolicy.webhookFrom must admit this test pod too).`,
    )) && passed;
  process.exit(passed ? 0 : 1);
}

main();
