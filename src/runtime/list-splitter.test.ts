import { describe, expect, it } from "vitest";
import { ListSplitError, ListSplitter } from "./list-splitter.js";

function split(chunks: readonly string[]): { items: unknown[]; envelope: unknown } {
  const items: unknown[] = [];
  const splitter = new ListSplitter((json) => items.push(JSON.parse(json)));
  for (const chunk of chunks) splitter.write(chunk);
  return { items, envelope: JSON.parse(splitter.envelope()) };
}

const tricky = {
  kind: "PodList",
  apiVersion: "v1",
  metadata: { resourceVersion: "42", continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ" },
  items: [
    { metadata: { name: "a", annotations: { note: 'braces } { ] [ and "quotes" \\ and \\" too' } } },
    { metadata: { name: "b", labels: { items: "x" } }, spec: { items: [{ items: [] }], s: "]}" } },
    { metadata: { name: "ç-unicode-✓", annotations: { '"items"': "[" } } },
    {},
  ],
  trailer: { items: ["not", "these"] },
};

describe("ListSplitter", () => {
  it("splits a list into its items and an envelope with items: []", () => {
    const { items, envelope } = split([JSON.stringify(tricky)]);
    expect(items).toStrictEqual(tricky.items);
    expect(envelope).toStrictEqual({ ...tricky, items: [] });
  });

  it("gives the same result whatever the chunk boundaries (every split point, and one character at a time)", () => {
    const text = JSON.stringify(tricky, null, 1);
    for (let at = 0; at <= text.length; at++) {
      expect(split([text.slice(0, at), text.slice(at)]).items).toStrictEqual(tricky.items);
    }
    const one = split([...text]);
    expect(one.items).toStrictEqual(tricky.items);
    expect(one.envelope).toStrictEqual({ ...tricky, items: [] });
  });

  it.each([
    ["an empty list", '{"metadata":{"resourceVersion":"1"},"items":[]}', 0],
    ["a null items", '{"metadata":{"resourceVersion":"1"},"items":null}', 0],
    ["no items key", '{"metadata":{"resourceVersion":"1"}}', 0],
    ["items before metadata", '{"items":[{"a":1},{"b":2}],"metadata":{"resourceVersion":"1"}}', 2],
    ["whitespace everywhere", ' { "items" : [ { "a" : 1 } ,\n { } ] , "metadata" : { } } ', 2],
  ])("handles %s", (_case, text, count) => {
    expect(split([text]).items).toHaveLength(count);
  });

  it.each([
    ["a top-level array", "[]"],
    ["an item that is a string", '{"items":["a"]}'],
    ["an item that is a number", '{"items":[1]}'],
    ["an item that is an array", '{"items":[[]]}'],
    ["unbalanced brackets", '{"items":[]}}'],
  ])("refuses %s", (_case, text) => {
    expect(() => split([text])).toThrow(ListSplitError);
  });

  it("refuses a body that ends inside a value", () => {
    const splitter = new ListSplitter(() => undefined);
    splitter.write('{"items":[{"a":"b');
    expect(() => splitter.envelope()).toThrow(/ended inside a value/);
  });
});
