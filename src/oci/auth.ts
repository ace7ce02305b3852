/** One `WWW-Authenticate` challenge: the scheme (lowercased) and its auth-params. */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 9110 §11.6.1) into its challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:m:pull"`.
 * Quoted strings may contain commas and backslash escapes. Unknown junk is skipped, never thrown.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  let current: { scheme: string; params: Record<string, string> } | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const token = readToken();
    if (token === "") {
      i++; // skip a character we do not understand
      continue;
    }
    skipSpace();
    if (header[i] === "=" && current !== undefined) {
      i++;
      skipSpace();
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        value = readToken();
      }
      current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
    }
  }
  return challenges;
}

/** The pull scope for a repository, as the distribution token spec writes it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** The pull and push scope for a repository (what an upload needs). */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** A bearer token and when it stops being usable. */
interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * Bearer tokens by (registry, scope). Tokens are dropped a little before they expire so a
 * request never goes out with a token that dies on the way.
 */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #now: () => number;
  readonly #maxEntries: number;

  /** Keeps at most `maxEntries` tokens (default 1,000), the oldest set going first. */
  constructor(now: () => number, maxEntries = 1_000) {
    this.#now = now;
    this.#maxEntries = maxEntries;
  }

  get(registry: string, scope: string): string | undefined {
    const key = `${registry} ${scope}`;
    const entry = this.#tokens.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }

  /** Stores a token valid for `expiresInSeconds` (the spec's default is 60 s). */
  set(registry: string, scope: string, token: string, expiresInSeconds: number): void {
    const lifetimeMs = Math.max(1, expiresInSeconds) * 1000;
    const margin = Math.min(10_000, lifetimeMs / 10);
    const key = `${registry} ${scope}`;
    this.#tokens.delete(key);
    this.#tokens.set(key, { token, expiresAt: this.#now() + lifetimeMs - margin });
    for (const old of this.#tokens.keys()) {
      if (this.#tokens.size <= this.#maxEntries) break;
      this.#tokens.delete(old);
    }
  }

  delete(registry: string, scope: string): void {
    this.#tokens.delete(`${registry} ${scope}`);
  }
}
