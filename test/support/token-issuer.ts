import { execFileSync } from "node:child_process";
import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A small token service implementing the distribution token spec for tests: it checks Basic
 * credentials and issues ES256 JWTs with the signing certificate in `x5c`, which a real registry
 * configured with `auth.token.rootcertbundle` verifies. Only the registry is real; this is the
 * auth server in front of it.
 */
export interface TokenIssuer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM of the signing certificate, for the registry's rootcertbundle. */
  readonly certPem: string;
  /** Number of tokens issued, per requested scope. */
  readonly issued: Map<string, number>;
  stop(): Promise<void>;
}

export async function startTokenIssuer(options: {
  username: string;
  password: string;
  service?: string;
  lifetimeSeconds?: number;
}): Promise<TokenIssuer> {
  const dir = mkdtempSync(join(tmpdir(), "mpo-token-"));
  let keyPem: string;
  let certPem: string;
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "k.pem",
        "-out",
        "c.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-token-issuer",
      ],
      { cwd: dir, stdio: "pipe" },
    );
    keyPem = readFileSync(join(dir, "k.pem"), "utf8");
    certPem = readFileSync(join(dir, "c.pem"), "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const key = createPrivateKey(keyPem);
  const x5c = new X509Certificate(certPem).raw.toString("base64");
  const service = options.service ?? "test-registry";
  const issuer = "test-token-issuer";
  const issued = new Map<string, number>();
  const b64url = (value: Buffer | string): string => Buffer.from(value).toString("base64url");

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const expected = "Basic " + Buffer.from(`${options.username}:${options.password}`).toString("base64");
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }));
      return;
    }
    const scopes = url.searchParams.getAll("scope");
    const access = scopes.flatMap((scope) => {
      const [type, name, actions] = scope.split(":");
      return type === "repository" && name !== undefined
        ? [{ type, name, actions: (actions ?? "").split(",") }]
        : [];
    });
    for (const scope of scopes) issued.set(scope, (issued.get(scope) ?? 0) + 1);
    const now = Math.floor(Date.now() / 1000);
    const lifetime = options.lifetimeSeconds ?? 300;
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c: [x5c] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: options.username,
        aud: service,
        exp: now + lifetime,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = sign("sha256", Buffer.from(`${header}.${claims}`), { key, dsaEncoding: "ieee-p1363" });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: lifetime }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPem,
    issued,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
