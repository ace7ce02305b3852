/**
 * Splits a Kubernetes list response (`{"kind":…,"metadata":{…},"items":[{…},{…}]}`), read as text
 * chunks while it streams in, into its items, each handed over as its own JSON text the moment it
 * is complete. The informer parses and projects one item at a time, so a page of 500 pods never
 * becomes one parse tree: each pod's tree dies young instead of being promoted with the page
 * (with whole pages parsed, a 20,000-pod list kept the operator's RSS over 300 MiB).
 *
 * Guarantees:
 * - Items are the elements of the top-level `items` array only; an `items` key anywhere else is
 *   ordinary text.
 * - `envelope()` is the rest of the object with `"items":[]`, for its metadata.
 * - Strings (with escapes, and `{`, `}`, `[`, `]`, `"` inside) and chunk boundaries anywhere,
 *   including inside a multi-byte character's decoding (the caller decodes), do not matter.
 * - It checks structure only as far as splitting needs; the caller parses each piece. A body that
 *   ends inside a value makes `envelope()` throw.
 */
import { OperatorError } from "../errors.js";

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/** Thrown on text that is not a JSON object with an `items` array of objects. */
export class ListSplitError extends OperatorError<"MalformedList"> {
  constructor(message: string) {
    super("MalformedList", message);
  }
}

/** A streaming splitter for one list response; feed it every chunk in order, then read `envelope()`. */
export class ListSplitter {
  readonly #onItem: (json: string) => void;
  /** Nesting depth after the characters consumed so far (1: inside the top-level object). */
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** The current depth-1 string (a key, or a string value) while it is read, and the last one read. */
  #string: string[] | undefined;
  #lastString = "";
  /** Inside the top-level `items` array (its elements are at depth 3 and deeper). */
  #inItems = false;
  /** Parts of the item being read (undefined between items). */
  #item: string[] | undefined;
  /** Parts of the envelope. */
  #envelope: string[] = [];

  constructor(onItem: (json: string) => void) {
    this.#onItem = onItem;
  }

  /** Consumes the next chunk of text; calls `onItem` for every item completed in it. */
  write(text: string): void {
    let envelopeFrom = this.#inItems ? -1 : 0;
    let itemFrom = this.#item !== undefined ? 0 : -1;
    let stringFrom = this.#string !== undefined ? 0 : -1;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === BACKSLASH) this.#escaped = true;
        else if (c === QUOTE) {
          this.#inString = false;
          if (stringFrom >= 0 && this.#string !== undefined) {
            this.#string.push(text.slice(stringFrom, i));
            this.#lastString = this.#string.join("");
            this.#string = undefined;
            stringFrom = -1;
          }
        }
        continue;
      }
      if (c === QUOTE) {
        if (this.#inItems && this.#depth === 2) throw new ListSplitError("a list item is not a JSON object");
        this.#inString = true;
        if (this.#depth === 1) {
          this.#string = [];
          stringFrom = i + 1;
        }
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.#depth++;
        if (this.#depth === 1 && c !== OPEN_BRACE) throw new ListSplitError("the list is not a JSON object");
        if (this.#depth === 2 && c === OPEN_BRACKET && this.#lastString === "items") {
          this.#inItems = true;
          this.#envelope.push(text.slice(envelopeFrom, i + 1));
          envelopeFrom = -1;
        } else if (this.#inItems && this.#depth === 3) {
          if (c !== OPEN_BRACE) throw new ListSplitError("a list item is not a JSON object");
          this.#item = [];
          itemFrom = i;
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.#depth--;
        if (this.#depth < 0) throw new ListSplitError("unbalanced brackets in the list");
        if (this.#inItems && this.#depth === 2 && this.#item !== undefined) {
          this.#item.push(text.slice(itemFrom, i + 1));
          const item = this.#item.length === 1 ? (this.#item[0] ?? "") : this.#item.join("");
          this.#item = undefined;
          itemFrom = -1;
          this.#onItem(item);
        } else if (this.#inItems && this.#depth === 1) {
          this.#inItems = false;
          envelopeFrom = i;
        }
      } else if (this.#inItems && this.#depth === 2 && c > 32 && c !== 44 /* , */) {
        throw new ListSplitError("a list item is not a JSON object");
      }
    }
    if (envelopeFrom >= 0) this.#envelope.push(text.slice(envelopeFrom));
    if (itemFrom >= 0) this.#item?.push(text.slice(itemFrom));
    if (stringFrom >= 0) this.#string?.push(text.slice(stringFrom));
  }

  /** The list without its items (`"items":[]`), once the whole body was written. Throws if it is incomplete. */
  envelope(): string {
    if (this.#depth !== 0 || this.#inString) throw new ListSplitError("the list ended inside a value");
    return this.#envelope.join("");
  }
}
