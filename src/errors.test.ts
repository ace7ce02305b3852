import { describe, expect, it } from "vitest";
import { OperatorError } from "./errors.js";
import { JsonPatchError } from "./mount/apply-json-patch.js";
import { ListSplitError } from "./runtime/list-splitter.js";
import { CertificateError } from "./webhook/certificate-source.js";
import { WebhookConfigurationError } from "./webhook/configuration.js";
import { WebhookOptionsError } from "./webhook/webhook.js";
import { CertificateRequestError } from "./webhook/x509.js";

describe("OperatorError is the base of every error class", () => {
  it.each([
    ["WebhookConfigurationError", new WebhookConfigurationError("m"), "InvalidWebhookConfiguration"],
    ["CertificateRequestError", new CertificateRequestError("m"), "InvalidCertificateRequest"],
    ["WebhookOptionsError", new WebhookOptionsError("m"), "InvalidWebhookOptions"],
    ["CertificateError", new CertificateError("m", { cause: "c" }), "InvalidCertificate"],
    ["ListSplitError", new ListSplitError("m"), "MalformedList"],
    ["JsonPatchError", new JsonPatchError("m"), "PatchDoesNotApply"],
  ] as const)("%s keeps its name and message and gets a code", (name, err, code) => {
    expect(err).toBeInstanceOf(OperatorError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(err.message).toBe("m");
    expect(err.code).toBe(code);
  });

  it("CertificateError keeps its cause", () => {
    expect(new CertificateError("m", { cause: "c" }).cause).toBe("c");
  });
});
