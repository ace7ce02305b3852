import { describe, expect, it } from "vitest";
import { validateConfig } from "./config.js";

const DIGEST = "sha256:1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef";
const DIGEST_2 = "sha256:abcdef1234567890abcdef1234567890abcdef1234567890abcdef1234567890";

/** First error as "code@path", the shape most assertions below check. */
function firstError(input: string | Uint8Array): string | undefined {
  const error = validateConfig(input).errors[0];
  return error === undefined ? undefined : `${error.code}@${error.path}`;
}

// ---------------------------------------------------------------------------------------------
// modelpack-spec.md §4.1: model-spec schema/config_test.go TestConfig, 27 cases in file order.
// The documents keep the Go test's member order and values; case 4 keeps its literal TAB.
// ---------------------------------------------------------------------------------------------
const MODELFS = `"modelfs": {"type": "layers", "diffIds": ["${DIGEST}"]}`;
const goCase = (descriptor: string, config: string | undefined, modelfs = MODELFS): string =>
  `{"descriptor": {${descriptor}},${config === undefined ? "" : ` "config": ${config},`} ${modelfs}}`;
const NAME_VERSION = `"name": "xyz-3-8B-Instruct", "version": "3.1"`;
const PARAM = `{"paramSize": "8b"}`;
const withCapabilities = (capabilities: string): string =>
  `{"paramSize": "8b", "capabilities": {${capabilities}}}`;

const REFERENCE_CASES: readonly (readonly [string, string, boolean, string | undefined])[] = [
  ["0: config is missing", goCase(NAME_VERSION, undefined), false, "config.schema.required@config"],
  [
    "1: version is a number",
    goCase(`"name": "xyz-3-8B-Instruct", "version": 3.1`, PARAM),
    false,
    "config.schema.type@descriptor.version",
  ],
  [
    "2: revision is a number",
    goCase(`${NAME_VERSION}, "revision": 1234567890`, PARAM),
    false,
    "config.schema.type@descriptor.revision",
  ],
  [
    "3: createdAt is not RFC 3339",
    goCase(`${NAME_VERSION}, "createdAt": "2025/01/01T00:00:00Z"`, PARAM),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "4: authors is not an array",
    goCase(`${NAME_VERSION},\n\t"authors": "John Doe"`, PARAM),
    false,
    "config.schema.type@descriptor.authors",
  ],
  [
    "5: licenses is not an array",
    goCase(`${NAME_VERSION}, "licenses": "Apache-2.0"`, PARAM),
    false,
    "config.schema.type@descriptor.licenses",
  ],
  [
    "6: docURL is an array",
    goCase(`${NAME_VERSION}, "docURL": ["https://example.com/doc"]`, PARAM),
    false,
    "config.schema.type@descriptor.docURL",
  ],
  [
    "7: sourceURL is an array",
    goCase(`${NAME_VERSION}, "sourceURL": ["https://github.com/xyz/xyz3"]`, PARAM),
    false,
    "config.schema.type@descriptor.sourceURL",
  ],
  [
    "8: datasetsURL is not an array",
    goCase(
      `${NAME_VERSION}, "sourceURL": "https://github.com/xyz/xyz3", "datasetsURL": "https://example.com/dataset"`,
      PARAM,
    ),
    false,
    "config.schema.type@descriptor.datasetsURL",
  ],
  [
    "9: paramSize is a number",
    goCase(NAME_VERSION, `{"paramSize": 8000000}`),
    false,
    "config.schema.type@config.paramSize",
  ],
  [
    "10: precision is a number",
    goCase(NAME_VERSION, `{"precision": 16}`),
    false,
    "config.schema.type@config.precision",
  ],
  [
    "11: type is not layers",
    goCase(NAME_VERSION, PARAM, `"modelfs": {"type": "layer", "diffIds": ["${DIGEST}"]}`),
    false,
    "config.schema.enum@modelfs.type",
  ],
  [
    "12: diffIds is not an array",
    goCase(NAME_VERSION, PARAM, `"modelfs": {"type": "layers", "diffIds": "${DIGEST}"}`),
    false,
    "config.schema.type@modelfs.diffIds",
  ],
  [
    "13: diffIds is empty",
    goCase(NAME_VERSION, PARAM, `"modelfs": {"type": "layers", "diffIds": []}`),
    false,
    "config.schema.min-items@modelfs.diffIds",
  ],
  [
    "14: inputTypes is not an array",
    goCase(NAME_VERSION, withCapabilities(`"inputTypes": "text"`)),
    false,
    "config.schema.type@config.capabilities.inputTypes",
  ],
  [
    "15: outputTypes is not an array",
    goCase(NAME_VERSION, withCapabilities(`"outputTypes": "text"`)),
    false,
    "config.schema.type@config.capabilities.outputTypes",
  ],
  [
    "16: inputTypes element not a modality",
    goCase(NAME_VERSION, withCapabilities(`"inputTypes": ["img"]`)),
    false,
    "config.schema.enum@config.capabilities.inputTypes[0]",
  ],
  [
    "17: knowledgeCutoff is a date only",
    goCase(
      NAME_VERSION,
      withCapabilities(`"inputTypes": ["text"], "outputTypes": ["text"], "knowledgeCutoff": "2025-01-01"`),
    ),
    false,
    "config.schema.date-time@config.capabilities.knowledgeCutoff",
  ],
  [
    "18: reasoning is not boolean",
    goCase(
      NAME_VERSION,
      withCapabilities(`"inputTypes": ["text"], "outputTypes": ["text"], "reasoning": "true"`),
    ),
    false,
    "config.schema.type@config.capabilities.reasoning",
  ],
  [
    "19: toolUsage is not boolean",
    goCase(
      NAME_VERSION,
      withCapabilities(`"inputTypes": ["text"], "outputTypes": ["text"], "toolUsage": "true"`),
    ),
    false,
    "config.schema.type@config.capabilities.toolUsage",
  ],
  [
    "20: reward is not boolean",
    goCase(
      NAME_VERSION,
      withCapabilities(`"inputTypes": ["text"], "outputTypes": ["text"], "reward": "true"`),
    ),
    false,
    "config.schema.type@config.capabilities.reward",
  ],
  [
    "21: languages is not an array",
    goCase(
      NAME_VERSION,
      withCapabilities(`"inputTypes": ["text"], "outputTypes": ["text"], "languages": "en"`),
    ),
    false,
    "config.schema.type@config.capabilities.languages",
  ],
  [
    "22: language code is not two letters",
    goCase(
      NAME_VERSION,
      withCapabilities(`"inputTypes": ["text"], "outputTypes": ["text"], "languages": ["fra"]`),
    ),
    false,
    "config.schema.pattern@config.capabilities.languages[0]",
  ],
  [
    "23: unknown field in capabilities",
    goCase(NAME_VERSION, withCapabilities(`"inputTypes": ["text"], "unknownField": true`)),
    false,
    "config.schema.additional-property@config.capabilities.unknownField",
  ],
  ["24: minimal", goCase(`"name": "xyz-3-8B-Instruct"`, PARAM), true, undefined],
  [
    "25: every field",
    goCase(
      `"createdAt": "2025-01-01T00:00:00Z", "authors": ["xyz@xyz.com"], "vendor": "XYZ Corp.", "family": "xyz3",
       "name": "xyz-3-8B-Instruct", "version": "3.1", "title": "XYZ 3 8B Instruct",
       "description": "xyz is a large language model.", "docURL": "https://www.xyz.com/get-started/",
       "sourceURL": "https://github.com/xyz/xyz3", "datasetsURL": ["https://example.com/dataset"],
       "revision": "1234567890", "licenses": ["Apache-2.0"]`,
      `{"architecture": "transformer", "format": "safetensors", "paramSize": "8b", "precision": "float16",
        "quantization": "gptq", "capabilities": {"inputTypes": ["text"], "outputTypes": ["text"],
        "knowledgeCutoff": "2024-05-21T00:00:00Z", "reasoning": true, "toolUsage": false}}`,
      `"modelfs": {"type": "layers", "diffIds": ["${DIGEST}", "${DIGEST_2}"]}`,
    ),
    true,
    undefined,
  ],
  [
    "26: multimodal",
    goCase(
      `"name": "xyz-vl-7B"`,
      `{"architecture": "transformer", "paramSize": "7b", "capabilities": {"inputTypes": ["text", "image"], "outputTypes": ["text", "image", "embedding"]}}`,
    ),
    true,
    undefined,
  ],
];

describe("validateConfig: reference cases (config_test.go TestConfig)", () => {
  it("has all 27 cases", () => {
    expect(REFERENCE_CASES).toHaveLength(27);
    expect(REFERENCE_CASES[4]?.[1]).toContain('\n\t"authors"');
  });

  it.each(REFERENCE_CASES)("case %s", (_name, input, valid, error) => {
    const result = validateConfig(input);
    expect(result.valid).toBe(valid);
    expect(firstError(input)).toBe(error);
    expect(result.errors).toHaveLength(valid ? 0 : 1);
    expect(result.config !== undefined).toBe(valid);
    expect(result.legacy).toBeUndefined();
    // Byte input gives the same verdict.
    expect(validateConfig(new TextEncoder().encode(input)).valid).toBe(valid);
  });
});

// docs/config.md example on main, reconstructed from v0.0.7's example (fetched) with the changes
// modelpack-spec.md §4.1 lists for main: no `embedding`, `format: "pt"`, `reward: false`,
// `languages: ["en", "zh"]`.
const DOCS_EXAMPLE = `{
  "descriptor": {
    "createdAt": "2025-01-01T00:00:00Z",
    "authors": ["xyz@xyz.com"],
    "vendor": "XYZ Corp.",
    "family": "xyz3",
    "name": "xyz-3-8B-Instruct",
    "version": "3.1",
    "title": "XYZ 3 8B Instruct",
    "description": "xyz is a large language model.",
    "docURL": "https://www.xyz.com/get-started/",
    "sourceURL": "https://github.com/xyz/xyz3",
    "revision": "1234567890",
    "licenses": ["Apache-2.0"]
  },
  "config": {
    "architecture": "transformer",
    "format": "pt",
    "paramSize": "8b",
    "precision": "fp16",
    "quantization": "gptq",
    "capabilities": {
      "inputTypes": ["text"],
      "outputTypes": ["text", "image"],
      "knowledgeCutoff": "2024-05-21T00:00:00Z",
      "reasoning": true,
      "toolUsage": false,
      "reward": false,
      "languages": ["en", "zh"]
    }
  },
  "modelfs": {
    "type": "layers",
    "diffIds": ["${DIGEST}", "${DIGEST_2}"]
  }
}`;

describe("validateConfig: docs example", () => {
  it("is valid and parses into the typed config", () => {
    const result = validateConfig(DOCS_EXAMPLE);
    expect(result.valid).toBe(true);
    expect(result.errors).toEqual([]);
    expect(result.config?.config.capabilities?.languages).toEqual(["en", "zh"]);
    expect(result.config?.modelfs.diffIds).toEqual([DIGEST, DIGEST_2]);
    // "fp16" is the docs' own example but not in the docs' precision list: a warning only.
    expect(result.warnings.map((w) => w.code)).toEqual(["config.lint.precision"]);
  });
});

// ---------------------------------------------------------------------------------------------
// modelpack-spec.md §4.2: differential cases, every variant of every row.
// ---------------------------------------------------------------------------------------------
type Doc = {
  descriptor: Record<string, unknown>;
  config: Record<string, unknown>;
  modelfs: Record<string, unknown>;
} & Record<string, unknown>;
const base = (): Doc => ({
  descriptor: { name: "m" },
  config: {},
  modelfs: { type: "layers", diffIds: [DIGEST] },
});
const variant = (change: (doc: Doc) => void): string => {
  const doc = base();
  change(doc);
  return JSON.stringify(doc);
};
const createdAt = (value: unknown): string => variant((d) => (d.descriptor["createdAt"] = value));
const capabilities = (value: Record<string, unknown>): string =>
  variant((d) => (d.config["capabilities"] = value));

const DIFFERENTIAL_CASES: readonly (readonly [string, string, boolean, string | undefined])[] = [
  [
    "empty descriptor and config, diffIds [x]",
    variant((d) => ((d.descriptor = {}), (d.modelfs["diffIds"] = ["x"]))),
    true,
    undefined,
  ],
  ['name ""', variant((d) => (d.descriptor["name"] = "")), false, "config.schema.min-length@descriptor.name"],
  [
    "createdAt lowercase t and z",
    createdAt("2025-01-01t00:00:00z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt lowercase z",
    createdAt("2025-01-01T00:00:00z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt lowercase t",
    createdAt("2025-01-01t00:00:00Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt space separator",
    createdAt("2025-01-01 00:00:00Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt offset +0800",
    createdAt("2025-01-01T00:00:00+0800"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt offset +08",
    createdAt("2025-01-01T00:00:00+08"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt leap second",
    createdAt("2016-12-31T23:59:60Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt without offset",
    createdAt("2025-01-01T00:00:00"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  ["createdAt nanoseconds +08:00", createdAt("2025-01-01T00:00:00.123456789+08:00"), true, undefined],
  ["createdAt -00:00", createdAt("2025-01-01T00:00:00-00:00"), true, undefined],
  ["createdAt year 0000", createdAt("0000-01-01T00:00:00Z"), true, undefined],
  [
    "createdAt Feb 30",
    createdAt("2025-02-30T00:00:00Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt hour 24",
    createdAt("2025-01-01T24:00:00Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt dot without digits",
    createdAt("2025-01-01T00:00:00.Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  [
    "createdAt comma fraction",
    createdAt("2025-01-01T00:00:00,5Z"),
    false,
    "config.schema.date-time@descriptor.createdAt",
  ],
  ["createdAt empty", createdAt(""), false, "config.schema.date-time@descriptor.createdAt"],
  [
    "duplicate key name:1 then name:x",
    `{"descriptor":{"name":1,"name":"x"},"config":{},"modelfs":{"type":"layers","diffIds":["${DIGEST}"]}}`,
    false,
    "config.json.duplicate-key@descriptor.name",
  ],
  ["createdAt null", createdAt(null), false, "config.schema.type@descriptor.createdAt"],
  ["config null", variant((d) => Reflect.set(d, "config", null)), false, "config.schema.type@config"],
  [
    "reasoning null",
    capabilities({ reasoning: null }),
    false,
    "config.schema.type@config.capabilities.reasoning",
  ],
  ["extra top-level key", variant((d) => (d["extra"] = 1)), false, "config.schema.additional-property@extra"],
  [
    "Descriptor key beside descriptor",
    variant((d) => (d["Descriptor"] = { name: "m" })),
    false,
    "config.schema.additional-property@Descriptor",
  ],
  [
    "Descriptor key instead of descriptor",
    JSON.stringify({ Descriptor: { name: "m" }, config: {}, modelfs: { type: "layers", diffIds: [DIGEST] } }),
    false,
    "config.schema.required@descriptor",
  ],
  [
    "capabilities.embedding",
    capabilities({ embedding: true }),
    false,
    "config.legacy@config.capabilities.embedding",
  ],
  [
    "capabilities.input_types",
    capabilities({ input_types: ["text"] }),
    false,
    "config.legacy@config.capabilities.input_types",
  ],
  [
    "modelfs.diff_ids",
    variant((d) => (d.modelfs = { type: "layers", diff_ids: [DIGEST] })),
    false,
    "config.legacy@modelfs.diff_ids",
  ],
  [
    'languages ["EN"]',
    capabilities({ languages: ["EN"] }),
    false,
    "config.schema.pattern@config.capabilities.languages[0]",
  ],
  ["languages []", capabilities({ languages: [] }), true, undefined],
  ["inputTypes []", capabilities({ inputTypes: [] }), true, undefined],
  ["capabilities {}", capabilities({}), true, undefined],
  ['inputTypes ["other"]', capabilities({ inputTypes: ["other"] }), true, undefined],
  [
    'inputTypes ["Text"]',
    capabilities({ inputTypes: ["Text"] }),
    false,
    "config.schema.enum@config.capabilities.inputTypes[0]",
  ],
  ['paramSize "foo"', variant((d) => (d.config["paramSize"] = "foo")), true, undefined],
  ['precision "fp16"', variant((d) => (d.config["precision"] = "fp16")), true, undefined],
  ['docURL "not a url"', variant((d) => (d.descriptor["docURL"] = "not a url")), true, undefined],
  ['licenses ["whatever"]', variant((d) => (d.descriptor["licenses"] = ["whatever"])), true, undefined],
  [
    'diffIds ["invalid-digest"]',
    variant((d) => (d.modelfs["diffIds"] = ["invalid-digest"])),
    true,
    undefined,
  ],
  ['diffIds ["x","x"]', variant((d) => (d.modelfs["diffIds"] = ["x", "x"])), true, undefined],
  [
    "diffIds [1]",
    variant((d) => (d.modelfs["diffIds"] = [1])),
    false,
    "config.schema.type@modelfs.diffIds[0]",
  ],
  ["vendor 1", variant((d) => (d.descriptor["vendor"] = 1)), false, "config.schema.type@descriptor.vendor"],
  [
    "datasetsURL [1]",
    variant((d) => (d.descriptor["datasetsURL"] = [1])),
    false,
    "config.schema.type@descriptor.datasetsURL[0]",
  ],
  [
    'knowledgeCutoff "2024-05-21"',
    capabilities({ knowledgeCutoff: "2024-05-21" }),
    false,
    "config.schema.date-time@config.capabilities.knowledgeCutoff",
  ],
  ["top-level []", "[]", false, "config.schema.type@"],
];

describe("validateConfig: differential cases (modelpack-spec.md §4.2)", () => {
  it.each(DIFFERENTIAL_CASES)("%s", (_name, input, valid, error) => {
    const result = validateConfig(input);
    expect(result.valid).toBe(valid);
    expect(firstError(input)).toBe(error);
  });
});

describe("validateConfig: warnings never change the verdict", () => {
  it.each([
    [
      "paramSize",
      variant((d) => (d.config["paramSize"] = "8 billion")),
      "config.lint.param-size",
      "config.paramSize",
    ],
    [
      "paramSize two decimals",
      variant((d) => (d.config["paramSize"] = "6.75B")),
      "config.lint.param-size",
      "config.paramSize",
    ],
    [
      "precision with space",
      variant((d) => (d.config["precision"] = "float16, int8")),
      "config.lint.precision",
      "config.precision",
    ],
    [
      "precision unknown",
      variant((d) => (d.config["precision"] = "mixed")),
      "config.lint.precision",
      "config.precision",
    ],
    [
      "diffId not a digest",
      variant((d) => (d.modelfs["diffIds"] = [DIGEST, "sha256:xyz"])),
      "config.lint.diff-id",
      "modelfs.diffIds[1]",
    ],
  ])("%s", (_name, input, code, path) => {
    const result = validateConfig(input);
    expect(result.valid).toBe(true);
    expect(result.warnings).toEqual([expect.objectContaining({ code, path })]);
  });

  it.each(["8b", "6.7B", "1.0t", "100m", "7K", "2Q"])("paramSize %s follows the grammar", (paramSize) => {
    expect(validateConfig(variant((d) => (d.config["paramSize"] = paramSize))).warnings).toEqual([]);
  });

  it.each(["float16", "bfloat16,float8_e4m3", "int8,uint8,bool"])(
    "precision %s is in the list",
    (precision) => {
      expect(validateConfig(variant((d) => (d.config["precision"] = precision))).warnings).toEqual([]);
    },
  );

  it("warns, without failing, about a repeated key whose earlier value Go can decode", () => {
    const input = `{"descriptor":{"name":"a","name":"b"},"config":{"capabilities":{"reasoning":null,"reasoning":true}},"modelfs":{"type":"layers","diffIds":["${DIGEST}"]}}`;
    const result = validateConfig(input);
    expect(result.valid).toBe(true);
    expect(result.config?.descriptor.name).toBe("b");
    expect(result.warnings.map((w) => `${w.code}@${w.path}`)).toEqual([
      "config.json.duplicate-key@descriptor.name",
      "config.json.duplicate-key@config.capabilities.reasoning",
    ]);
  });

  it("reads invalid UTF-8 as U+FFFD, like the reference validator, with a warning", () => {
    const text = JSON.stringify(base()).replace('"m"', '"m#"');
    const withBadByte = Uint8Array.from(new TextEncoder().encode(text), (b) => (b === 0x23 ? 0xff : b));
    const result = validateConfig(withBadByte);
    expect(result.valid).toBe(true);
    expect(result.config?.descriptor.name).toBe("m\uFFFD");
    expect(result.warnings.map((w) => w.code)).toEqual(["config.json.invalid-utf8"]);
  });
});

describe("validateConfig: repeated keys, as Go decodes them", () => {
  const doc = (descriptor: string): string =>
    `{"descriptor":${descriptor},"config":{},"modelfs":{"type":"layers","diffIds":["${DIGEST}"]}}`;

  it.each([
    ['{"name":1,"name":"x"}', false, "number 1 is not a string"],
    ['{"name":null,"name":"x"}', true, undefined],
    ['{"createdAt":"2025-01-01","createdAt":"2025-01-01T00:00:00Z"}', false, "not an RFC 3339 time"],
    ['{"createdAt":"2025-01-01T00:00:00Z","createdAt":"2025-01-02T00:00:00Z"}', true, undefined],
    ['{"authors":"x","authors":["x"]}', false, 'string "x" is not an array'],
    ['{"authors":[1],"authors":["x"]}', false, "number 1 is not a string"],
    ['{"name":"x","extra":1,"extra":2}', false, undefined], // schema rejects "extra"; Go ignores it
  ])("descriptor %s → valid %s", (descriptor, valid, goError) => {
    const result = validateConfig(doc(descriptor));
    expect(result.valid).toBe(valid);
    const duplicateError = result.errors.find((e) => e.code === "config.json.duplicate-key");
    if (goError === undefined) expect(duplicateError).toBeUndefined();
    else expect(duplicateError?.message).toContain(goError);
  });

  it("checks an overwritten object member by member, matching fields case-insensitively like Go", () => {
    const input = `{"descriptor":{"NAME":1},"descriptor":{"name":"x"},"config":{},"modelfs":{"type":"layers","diffIds":["${DIGEST}"]}}`;
    expect(firstError(input)).toBe("config.json.duplicate-key@descriptor");
  });

  it("accepts a valid document whose earlier duplicate object was itself well-typed", () => {
    const input = `{"config":{"paramSize":"1b"},"descriptor":{"name":"x"},"config":{},"modelfs":{"type":"layers","diffIds":["${DIGEST}"]}}`;
    const result = validateConfig(input);
    expect(result.valid).toBe(true);
    expect(result.config?.config).toEqual({});
  });
});

describe("validateConfig: messages", () => {
  it.each([
    [goCase(NAME_VERSION, undefined), "config is required but missing; it must be an object"],
    [goCase(`"name": "x", "version": 3.1`, PARAM), "descriptor.version must be a string, found number 3.1"],
    [
      goCase(NAME_VERSION, withCapabilities(`"inputTypes": ["img"]`)),
      'config.capabilities.inputTypes[0] is string "img"; it must be one of "text", "image", "audio", "video", "embedding", "other"',
    ],
    [
      goCase(NAME_VERSION, withCapabilities(`"languages": ["fra"]`)),
      'config.capabilities.languages[0] must match /^[a-z]{2}$/ (a two-letter lowercase ISO 639-1 language code such as "en"), found string "fra"',
    ],
    [
      createdAt("2016-12-31T23:59:60Z"),
      'descriptor.createdAt is string "2016-12-31T23:59:60Z": second 60 is out of range (00-59; leap seconds are not accepted); expected an RFC 3339 date-time such as "2025-01-01T00:00:00Z"',
    ],
    [
      capabilities({ toolusage: true }),
      "config.capabilities.toolusage is not allowed: config.capabilities is a closed object that accepts only inputTypes, outputTypes, knowledgeCutoff, reasoning, toolUsage, reward, languages; did you mean toolUsage?",
    ],
    [
      variant((d) => (d.descriptor["name"] = null)),
      "descriptor.name must be a string, found null (fields cannot be null; omit an optional field instead)",
    ],
    ["{", "the config is not valid JSON: unexpected end of JSON input (at byte 1)"],
    ["null", "the config must be an object, found null"],
  ])("%#", (input, message) => {
    expect(validateConfig(input).errors[0]?.message).toBe(message);
  });

  it("reports every problem, not just the first", () => {
    const input = JSON.stringify({
      descriptor: { name: "", vendor: 1 },
      config: { x: 1 },
      modelfs: { type: "layers", diffIds: [] },
    });
    expect(validateConfig(input).errors.map((e) => `${e.code}@${e.path}`)).toEqual([
      "config.schema.min-length@descriptor.name",
      "config.schema.type@descriptor.vendor",
      "config.schema.additional-property@config.x",
      "config.schema.min-items@modelfs.diffIds",
    ]);
  });

  it('quotes keys that are not identifiers: config["a.b"]', () => {
    expect(firstError(variant((d) => (d.config["a.b"] = 1)))).toBe(
      'config.schema.additional-property@config["a.b"]',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Legacy shapes, one per tag row of modelpack-spec.md §3.6.
// ---------------------------------------------------------------------------------------------

// docs/config.md at v0.0.6 (fetched from model-spec), verbatim in content.
const V006_DOCS_EXAMPLE = `{
  "descriptor": {"createdAt": "2025-01-01T00:00:00Z", "authors": ["xyz@xyz.com"], "vendor": "XYZ Corp.",
    "family": "xyz3", "name": "xyz-3-8B-Instruct", "version": "3.1", "title": "XYZ 3 8B Instruct",
    "description": "xyz is a large language model.", "docURL": "https://www.xyz.com/get-started/",
    "sourceURL": "https://github.com/xyz/xyz3", "revision": "1234567890", "licenses": ["Apache-2.0"]},
  "config": {"architecture": "transformer", "format": "pytorch", "paramSize": "8b", "precision": "fp16",
    "quantization": "gptq", "capabilities": {"input_types": ["text"], "output_types": ["text", "image"],
    "knowledge_cutoff": "2024-05-21T00:00:00Z", "reasoning": true, "tool_usage": false}},
  "modelfs": {"type": "layers", "diff_ids": ["${DIGEST}", "${DIGEST_2}"]}
}`;

// docs/config.md at v0.0.7 (fetched from model-spec), verbatim in content.
const V007_DOCS_EXAMPLE = `{
  "descriptor": {"createdAt": "2025-01-01T00:00:00Z", "authors": ["xyz@xyz.com"], "vendor": "XYZ Corp.",
    "family": "xyz3", "name": "xyz-3-8B-Instruct", "version": "3.1", "title": "XYZ 3 8B Instruct",
    "description": "xyz is a large language model.", "docURL": "https://www.xyz.com/get-started/",
    "sourceURL": "https://github.com/xyz/xyz3", "revision": "1234567890", "licenses": ["Apache-2.0"]},
  "config": {"architecture": "transformer", "format": "pytorch", "paramSize": "8b", "precision": "fp16",
    "quantization": "gptq", "capabilities": {"inputTypes": ["text"], "outputTypes": ["text", "image"],
    "knowledgeCutoff": "2024-05-21T00:00:00Z", "reasoning": true, "toolUsage": false, "embedding": false,
    "reward": false}},
  "modelfs": {"type": "layers", "diffIds": ["${DIGEST}", "${DIGEST_2}"]}
}`;

const legacyDoc = (config: Record<string, unknown>, modelfs: Record<string, unknown>): string =>
  JSON.stringify({ descriptor: { name: "m" }, config, modelfs });

const LEGACY_CASES: readonly (readonly [string, string, string, readonly string[]])[] = [
  [
    "v0.0.1: parameterSize number, puantization, diff_ids",
    legacyDoc({ parameterSize: 8000000000, puantization: "awq" }, { type: "layers", diff_ids: [DIGEST] }),
    "v0.0.1",
    ["modelfs.diff_ids to modelfs.diffIds", "config.parameterSize", "config.puantization"],
  ],
  [
    "v0.0.2-v0.0.3: paramSize string, puantization, diff_ids",
    legacyDoc({ paramSize: "8b", puantization: "gptq" }, { type: "layers", diff_ids: [DIGEST] }),
    "v0.0.2-v0.0.3",
    ["modelfs.diffIds", "config.quantization"],
  ],
  [
    "v0.0.4-v0.0.5: quantization, diff_ids (v0.0.6 without capabilities looks the same)",
    legacyDoc({ paramSize: "8b", quantization: "gptq" }, { type: "layers", diff_ids: [DIGEST] }),
    "v0.0.4-v0.0.6",
    ["rename modelfs.diff_ids to modelfs.diffIds"],
  ],
  [
    "v0.0.6: snake_case capabilities, diff_ids (the v0.0.6 docs example)",
    V006_DOCS_EXAMPLE,
    "v0.0.6",
    [
      "input_types to config.capabilities.inputTypes",
      "tool_usage to config.capabilities.toolUsage",
      "diffIds",
    ],
  ],
  [
    "v0.0.7: capabilities.embedding (the v0.0.7 docs example)",
    V007_DOCS_EXAMPLE,
    "v0.0.7",
    ["remove config.capabilities.embedding", 'lists "embedding" in config.capabilities.outputTypes'],
  ],
  [
    "diff_ids alone",
    legacyDoc({}, { type: "layers", diff_ids: [DIGEST] }),
    "v0.0.6 or earlier",
    ["follows ModelPack spec v0.0.6 or earlier (it uses modelfs.diff_ids)"],
  ],
  [
    "keys of incompatible versions",
    legacyDoc({ capabilities: { embedding: true } }, { type: "layers", diff_ids: [DIGEST] }),
    "mixed",
    ["modelfs.diff_ids: v0.0.6 or earlier", "config.capabilities.embedding: v0.0.7"],
  ],
];

describe("validateConfig: legacy shapes (modelpack-spec.md §3.6)", () => {
  it.each(LEGACY_CASES)("%s", (_name, input, specVersion, mentions) => {
    const result = validateConfig(input);
    expect(result.valid).toBe(false);
    expect(result.legacy?.specVersion).toBe(specVersion);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.code).toBe("config.legacy");
    expect(result.errors[0]?.message).toBe(result.legacy?.message);
    for (const mention of mentions) expect(result.legacy?.message).toContain(mention);
  });

  it("keeps errors the legacy shape does not explain", () => {
    const input = JSON.stringify({
      descriptor: { name: "" },
      config: {},
      modelfs: { type: "layers", diff_ids: [DIGEST] },
    });
    expect(validateConfig(input).errors.map((e) => `${e.code}@${e.path}`)).toEqual([
      "config.legacy@modelfs.diff_ids",
      "config.schema.min-length@descriptor.name",
    ]);
  });

  it("does not flag a current config", () => {
    expect(validateConfig(DOCS_EXAMPLE).legacy).toBeUndefined();
  });
});
