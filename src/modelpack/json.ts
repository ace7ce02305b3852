/**
 * A strict JSON parser that sees what JSON.parse hides: repeated object keys (JSON.parse keeps
 * the last one silently, the reference Go validator may reject the document) and invalid UTF-8.
 * It is hand-written because no maintained npm package rejects or reports duplicate keys with
 * their positions while also matching Go's encoding/json on the edges that decide parity:
 * keys compared after unescaping (`"a"` and `"\u0061"` are the same key), a leading BOM rejected,
 * lone surrogate escapes decoded to U+FFFD, numbers that overflow a float64 rejected, and a
 * nesting limit of 10000. It is iterative (an explicit stack), so deep input cannot overflow the
 * call stack, and it scans bytes once, so a few-MB manifest parses in milliseconds.
 */
import { Buffer } from "node:buffer";
import type { PathSegment } from "./issues.js";

/** Go's encoding/json nesting limit (maxNestingDepth); deeper input is rejected. */
export const DEFAULT_MAX_DEPTH = 10_000;

export interface JsonParseOptions {
  /**
   * `reject` (default): a repeated key in one object is a syntax error at the repeated key.
   * `collect`: the last value wins, as in Go's map decoding, and every overwritten occurrence is
   * reported in `duplicates` so a caller can apply its own policy.
   */
  readonly duplicateKeys?: "reject" | "collect";
  /**
   * `reject` (default): invalid UTF-8 inside a string (or a lone surrogate in string input) is an
   * error. `replace`: each invalid byte becomes U+FFFD, exactly as Go's encoding/json decodes it.
   * Outside strings any non-ASCII byte is a syntax error either way.
   */
  readonly invalidUtf8?: "reject" | "replace";
  /** Maximum number of nested objects and arrays; default DEFAULT_MAX_DEPTH. */
  readonly maxDepth?: number;
}

/** Where and why parsing failed. `offset` is a UTF-8 byte offset into the input. */
export interface JsonSyntaxError {
  readonly message: string;
  readonly offset: number;
}

/** One overwritten occurrence of a repeated key (only with `duplicateKeys: "collect"`). */
export interface DuplicateKey {
  /** Path of the object that holds the key. */
  readonly path: readonly PathSegment[];
  readonly key: string;
  /** Byte offset of the repeated key's opening quote. */
  readonly offset: number;
  /** The earlier value, which the later occurrence replaced. */
  readonly overwritten: unknown;
}

export type JsonParseResult =
  | {
      readonly ok: true;
      readonly value: unknown;
      /** Empty unless `duplicateKeys: "collect"` found repeated keys. */
      readonly duplicates: readonly DuplicateKey[];
      /** Byte offset of the first replaced invalid sequence (only with `invalidUtf8: "replace"`). */
      readonly invalidUtf8Offset?: number;
    }
  | { readonly ok: false; readonly error: JsonSyntaxError };

/**
 * Parses one JSON text (RFC 8259, with Go's encoding/json limits) from a string or UTF-8 bytes.
 * Never throws on bad input: the result says what is wrong and at which byte offset. Objects are
 * plain objects; a `__proto__` key becomes an own property, never the prototype.
 */
export function parseJson(input: string | Uint8Array, options: JsonParseOptions = {}): JsonParseResult {
  const replace = options.invalidUtf8 === "replace";
  let invalidUtf8Offset: number | undefined;
  let bytes: Uint8Array;
  if (typeof input === "string") {
    if (!input.isWellFormed()) {
      const offset = utf8Length(input.slice(0, firstLoneSurrogate(input)));
      if (!replace) return { ok: false, error: { message: "invalid text: lone UTF-16 surrogate", offset } };
      invalidUtf8Offset = offset;
    }
    bytes = new TextEncoder().encode(input);
  } else {
    bytes = input;
  }
  const parser = new Parser(bytes, {
    rejectDuplicates: (options.duplicateKeys ?? "reject") === "reject",
    replaceInvalidUtf8: replace,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
  });
  try {
    const value = parser.parse();
    const firstInvalid = invalidUtf8Offset ?? parser.invalidUtf8Offset;
    return firstInvalid === undefined
      ? { ok: true, value, duplicates: parser.duplicates }
      : { ok: true, value, duplicates: parser.duplicates, invalidUtf8Offset: firstInvalid };
  } catch (err) {
    if (err instanceof SyntaxFailure)
      return { ok: false, error: { message: err.message, offset: err.offset } };
    throw err;
  }
}

class SyntaxFailure extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

interface ObjectFrame {
  readonly kind: "object";
  readonly value: Record<string, unknown>;
  key: string;
}
interface ArrayFrame {
  readonly kind: "array";
  readonly value: unknown[];
}
type Frame = ObjectFrame | ArrayFrame;

interface ParserSettings {
  readonly rejectDuplicates: boolean;
  readonly replaceInvalidUtf8: boolean;
  readonly maxDepth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const SHORT_TEXT = 8;

const SIMPLE_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x22, '"'],
  [0x5c, "\\"],
  [0x2f, "/"],
  [0x62, "\b"],
  [0x66, "\f"],
  [0x6e, "\n"],
  [0x72, "\r"],
  [0x74, "\t"],
]);

class Parser {
  private pos = 0;
  readonly duplicates: DuplicateKey[] = [];
  invalidUtf8Offset: number | undefined;
  /** The decoded text of the last escape sequence (a field, not a tuple, to spare the GC). */
  private escaped = "";
  // A Buffer view of the same bytes: toString(enc, start, end) decodes a slice without allocating
  // a subarray per string, which halves parse time on large manifests. Only well-formed UTF-8
  // (validated while scanning) is ever decoded, so its non-fatal decoding is exact.
  private readonly text_: Buffer;

  constructor(
    private readonly b: Uint8Array,
    private readonly settings: ParserSettings,
  ) {
    this.text_ = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  parse(): unknown {
    const b = this.b;
    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) {
      this.fail("a UTF-8 byte order mark (BOM) is not allowed before the JSON value", 0);
    }
    const stack: Frame[] = [];
    for (;;) {
      this.skipWhitespace();
      let value: unknown;
      const c = b[this.pos];
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (stack.length >= this.settings.maxDepth) {
          this.fail(`exceeded max depth of ${this.settings.maxDepth} nested objects and arrays`, this.pos);
        }
        this.pos++;
        this.skipWhitespace();
        if (c === OPEN_BRACE) {
          if (b[this.pos] === CLOSE_BRACE) {
            this.pos++;
            value = {};
          } else {
            const frame: ObjectFrame = { kind: "object", value: {}, key: "" };
            stack.push(frame);
            this.readKey(frame, stack);
            continue;
          }
        } else if (b[this.pos] === CLOSE_BRACKET) {
          this.pos++;
          value = [];
        } else {
          stack.push({ kind: "array", value: [] });
          continue;
        }
      } else {
        value = this.readScalar(c);
      }
      // Attach the finished value to its parent, closing every container that ends here.
      for (;;) {
        const top = stack.at(-1);
        this.skipWhitespace();
        const d = b[this.pos];
        if (top === undefined) {
          if (d !== undefined)
            this.fail(`invalid character ${describeByte(d)} after top-level value`, this.pos);
          return value;
        }
        if (top.kind === "array") {
          top.value.push(value);
          if (d === COMMA) {
            this.pos++;
            break;
          }
          if (d !== CLOSE_BRACKET) this.unexpected(d, "after array element");
        } else {
          setOwn(top.value, top.key, value);
          if (d === COMMA) {
            this.pos++;
            this.readKey(top, stack);
            break;
          }
          if (d !== CLOSE_BRACE) this.unexpected(d, "after object key:value pair");
        }
        this.pos++;
        stack.pop();
        value = top.value;
      }
    }
  }

  /** Reads `"key" :` into the frame and applies the duplicate-key policy. */
  private readKey(frame: ObjectFrame, stack: readonly Frame[]): void {
    this.skipWhitespace();
    const offset = this.pos;
    const c = this.b[offset];
    if (c !== QUOTE) this.unexpected(c, "looking for beginning of object key string");
    const key = this.readString();
    this.skipWhitespace();
    const d = this.b[this.pos];
    if (d !== COLON) this.unexpected(d, "after object key");
    this.pos++;
    if (Object.hasOwn(frame.value, key)) {
      if (this.settings.rejectDuplicates) this.fail(`duplicate object key ${JSON.stringify(key)}`, offset);
      this.duplicates.push({ path: pathOf(stack), key, offset, overwritten: frame.value[key] });
    }
    frame.key = key;
  }

  private readScalar(c: number | undefined): unknown {
    if (c === QUOTE) return this.readString();
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.readNumber();
    if (c === 0x74) return this.readLiteral("true", true);
    if (c === 0x66) return this.readLiteral("false", false);
    if (c === 0x6e) return this.readLiteral("null", null);
    return this.unexpected(c, "looking for beginning of value");
  }

  private readLiteral<T>(word: string, value: T): T {
    for (let k = 1; k < word.length; k++) {
      const c = this.b[this.pos + k];
      if (c !== word.charCodeAt(k)) {
        this.unexpected(c, `in literal ${word} (expecting '${word[k] ?? ""}')`, this.pos + k);
      }
    }
    this.pos += word.length;
    return value;
  }

  private readNumber(): number {
    const b = this.b;
    const start = this.pos;
    let i = start;
    if (b[i] === MINUS) i++;
    if (b[i] === ZERO) i++;
    else if (isDigit(b[i])) while (isDigit(b[i])) i++;
    else this.unexpected(b[i], "in numeric literal", i);
    if (b[i] === DOT) {
      i++;
      if (!isDigit(b[i])) this.unexpected(b[i], "after decimal point in numeric literal", i);
      while (isDigit(b[i])) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === PLUS || b[i] === MINUS) i++;
      if (!isDigit(b[i])) this.unexpected(b[i], "in exponent of numeric literal", i);
      while (isDigit(b[i])) i++;
    }
    this.pos = i;
    const text = this.text(start, i);
    const n = Number(text);
    // Go's decoder fails on numbers a float64 cannot hold; JSON.parse would give Infinity.
    if (!Number.isFinite(n)) this.fail(`number ${text} is out of range for a 64-bit float`, start);
    return n;
  }

  /** Reads a string literal starting at its opening quote; leaves pos after the closing quote. */
  private readString(): string {
    const b = this.b;
    const start = this.pos + 1;
    let i = start;
    // Fast path: printable ASCII without escapes, the common case for keys and media types.
    for (;;) {
      const c = b[i];
      if (c === QUOTE) {
        this.pos = i + 1;
        return this.text(start, i);
      }
      if (c === undefined || c === BACKSLASH || c < 0x20 || c >= 0x80) break;
      i++;
    }
    let out = "";
    let runStart = start;
    for (;;) {
      const c = b[i];
      if (c === undefined) return this.fail("unexpected end of JSON input", i);
      if (c === QUOTE) {
        this.pos = i + 1;
        return out + this.text(runStart, i);
      }
      if (c === BACKSLASH) {
        out += this.text(runStart, i);
        i = this.readEscape(i);
        out += this.escaped;
        runStart = i;
      } else if (c < 0x20) {
        this.unexpected(c, "in string literal", i);
      } else if (c < 0x80) {
        i++;
      } else {
        const length = utf8SequenceLength(b, i);
        if (length > 0) {
          i += length;
        } else {
          if (!this.settings.replaceInvalidUtf8) this.fail(`invalid UTF-8 byte ${hex(c)} in string`, i);
          this.invalidUtf8Offset ??= i;
          // Go replaces each invalid byte with its own U+FFFD (utf8.DecodeRune returns width 1).
          out += `${this.text(runStart, i)}\uFFFD`;
          i++;
          runStart = i;
        }
      }
    }
  }

  /** Decodes the escape at `i` (a backslash) into `escaped`; returns the index after it. */
  private readEscape(i: number): number {
    const e = this.b[i + 1];
    if (e === undefined) return this.fail("unexpected end of JSON input", i + 1);
    const simple = SIMPLE_ESCAPES.get(e);
    if (simple !== undefined) {
      this.escaped = simple;
      return i + 2;
    }
    if (e !== 0x75) return this.unexpected(e, "in string escape code", i + 1);
    const unit = this.readHex4(i + 2);
    if (unit < 0xd800 || unit > 0xdfff) {
      this.escaped = String.fromCharCode(unit);
      return i + 6;
    }
    // Surrogates: a valid high+low pair is one code point; anything else becomes U+FFFD, as in Go.
    if (unit < 0xdc00 && this.b[i + 6] === BACKSLASH && this.b[i + 7] === 0x75) {
      const low = this.readHex4(i + 8);
      if (low >= 0xdc00 && low <= 0xdfff) {
        this.escaped = String.fromCharCode(unit, low);
        return i + 12;
      }
    }
    this.escaped = "\uFFFD";
    return i + 6;
  }

  private readHex4(at: number): number {
    let value = 0;
    for (let k = at; k < at + 4; k++) {
      const digit = hexValue(this.b[k]);
      if (digit < 0) this.unexpected(this.b[k], "in \\u hexadecimal character escape", k);
      value = value * 16 + digit;
    }
    return value;
  }

  /** Text of b[start, end), which the scanner has already checked to be well-formed UTF-8. */
  private text(start: number, end: number): string {
    // Short ASCII runs (keys, media types) are cheaper to build in JS than to cross into native.
    if (end - start <= SHORT_TEXT) {
      let s = "";
      for (let k = start; k < end; k++) {
        const c = this.b[k] ?? 0;
        if (c >= 0x80) return this.text_.toString("utf8", start, end);
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.text_.toString("utf8", start, end);
  }

  private skipWhitespace(): void {
    const b = this.b;
    let c = b[this.pos];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = b[++this.pos];
  }

  private unexpected(c: number | undefined, context: string, at = this.pos): never {
    if (c === undefined) return this.fail("unexpected end of JSON input", at);
    return this.fail(`invalid character ${describeByte(c)} ${context}`, at);
  }

  private fail(message: string, offset: number): never {
    throw new SyntaxFailure(message, offset);
  }
}

/** Path of the object on top of the stack: keys of enclosing objects, indices of enclosing arrays. */
function pathOf(stack: readonly Frame[]): PathSegment[] {
  const path: PathSegment[] = [];
  for (let k = 0; k < stack.length - 1; k++) {
    const frame = stack[k];
    if (frame === undefined) continue;
    path.push(frame.kind === "object" ? frame.key : frame.value.length);
  }
  return path;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // Assigning "__proto__" would replace the prototype instead of adding a key.
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= ZERO && c <= NINE) return c - ZERO;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function isContinuation(c: number | undefined): boolean {
  return c !== undefined && c >= 0x80 && c <= 0xbf;
}

/** Length of the well-formed UTF-8 sequence at `i` (Unicode Table 3-7), or 0 when ill-formed. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i] ?? 0;
  const c1 = b[i + 1];
  if (c >= 0xc2 && c <= 0xdf) return isContinuation(c1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const low = c === 0xe0 ? 0xa0 : 0x80;
    const high = c === 0xed ? 0x9f : 0xbf;
    return c1 !== undefined && c1 >= low && c1 <= high && isContinuation(b[i + 2]) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const low = c === 0xf0 ? 0x90 : 0x80;
    const high = c === 0xf4 ? 0x8f : 0xbf;
    return c1 !== undefined && c1 >= low && c1 <= high && isContinuation(b[i + 2]) && isContinuation(b[i + 3])
      ? 4
      : 0;
  }
  return 0;
}

function describeByte(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte ${hex(c)}`;
}

function hex(c: number): string {
  return `0x${c.toString(16).toUpperCase().padStart(2, "0")}`;
}

function firstLoneSurrogate(s: string): number {
  for (let k = 0; k < s.length; k++) {
    const unit = s.charCodeAt(k);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = s.charCodeAt(k + 1);
      if (next >= 0xdc00 && next <= 0xdfff) k++;
      else return k;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return k;
    }
  }
  return s.length;
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}
