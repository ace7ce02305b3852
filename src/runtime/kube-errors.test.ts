import { describe, expect, it } from "vitest";
import {
  isConflict,
  isNotFound,
  isResourceVersionUnavailable,
  KubeApiError,
  kubeApiErrorFromResponse,
  kubeApiErrorFromStatus,
} from "./kube-errors.js";

describe("Kubernetes API errors", () => {
  it("take the code from the Status reason, else from the HTTP status", () => {
    const conflict = kubeApiErrorFromResponse(
      "PUT /x",
      409,
      JSON.stringify({
        kind: "Status",
        code: 409,
        reason: "Conflict",
        message: "the object has been modified",
      }),
    );
    expect(conflict).toMatchObject({
      code: "Conflict",
      status: 409,
      message: "PUT /x: the object has been modified",
    });
    expect(isConflict(conflict)).toBe(true);
    expect(kubeApiErrorFromResponse("GET /y", 404, "")).toMatchObject({
      code: "NotFound",
      message: "GET /y: HTTP 404",
    });
    expect(isNotFound(kubeApiErrorFromResponse("GET /y", 404, "not json"))).toBe(true);
    expect(kubeApiErrorFromResponse("GET /z", 502, "bad gateway")).toMatchObject({
      code: "InternalError",
      message: "GET /z: bad gateway",
    });
  });

  it("say when a resourceVersion is gone or ahead, so the informer re-lists", () => {
    const expired = kubeApiErrorFromStatus("WATCH /p", {
      code: 410,
      reason: "Expired",
      message: "too old resource version: 5 (9)",
    });
    const gone = kubeApiErrorFromResponse("GET /p", 410, "{}");
    const tooLarge = kubeApiErrorFromStatus("GET /p", {
      code: 504,
      reason: "Timeout",
      message: "Too large resource version: 99, current: 10",
      details: { causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }] },
    });
    const timeout = kubeApiErrorFromStatus("GET /p", { code: 504, reason: "Timeout", message: "slow" });
    expect([expired, gone, tooLarge].map(isResourceVersionUnavailable)).toEqual([true, true, true]);
    expect(tooLarge.code).toBe("ResourceVersionTooLarge");
    expect(isResourceVersionUnavailable(timeout)).toBe(false);
    expect(isResourceVersionUnavailable(new Error("too old resource version"))).toBe(false);
  });

  it("carry the server's retry-after", () => {
    expect(kubeApiErrorFromStatus("GET /p", { code: 429, details: { retryAfterSeconds: 4 } })).toMatchObject({
      code: "TooManyRequests",
      retryAfterSeconds: 4,
    });
    expect(kubeApiErrorFromResponse("GET /p", 503, "", 2)).toMatchObject({
      code: "ServiceUnavailable",
      retryAfterSeconds: 2,
    });
    expect(new KubeApiError("Unreachable", "x")).toMatchObject({ name: "KubeApiError", status: 0 });
  });
});
