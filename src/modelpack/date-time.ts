/**
 * The date-time rule of the reference config validator. It runs Go's `time.Time` JSON decoding
 * (strict RFC 3339: `parseRFC3339` in Go's time package) and then JSON Schema `format: date-time`
 * (santhosh-tekuri/jsonschema v5); a value must pass both, and Go is the stricter of the two:
 * uppercase `T` and `Z` only, offset `±HH:MM`, no leap second. Ajv's date-time is more lenient,
 * which is why this is hand-written.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

/** Whether `s` is a date-time the reference validator accepts (see the module comment). */
export function isStrictDateTime(s: string): boolean {
  return explainDateTime(s) === undefined;
}

/**
 * Why `s` is not an accepted date-time, as one clause for a message; undefined when it is valid.
 * Checks the calendar too: `2025-02-30` and `2023-02-29` are rejected, `2024-02-29` is not.
 */
export function explainDateTime(s: string): string | undefined {
  const m = DATE_TIME.exec(s);
  if (m === null) return syntaxProblem(s);
  const part = (i: number): string => m[i] ?? "00";
  const num = (i: number): number => Number(part(i));
  const month = num(2);
  const day = num(3);
  if (month < 1 || month > 12) return `month ${part(2)} does not exist`;
  if (day < 1 || day > daysIn(num(1), month)) return `day ${part(3)} does not exist in ${part(1)}-${part(2)}`;
  if (num(4) > 23) return `hour ${part(4)} is out of range (00-23)`;
  if (num(5) > 59) return `minute ${part(5)} is out of range (00-59)`;
  if (num(6) > 59) return `second ${part(6)} is out of range (00-59; leap seconds are not accepted)`;
  if (num(9) > 23) return `offset hour ${part(9)} is out of range (00-23)`;
  if (num(10) > 59) return `offset minute ${part(10)} is out of range (00-59)`;
  return undefined;
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const SHAPE = "the form YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or ±HH:MM";

function syntaxProblem(s: string): string {
  if (s === "") return "an empty string is not a date-time";
  if (/^\d{4}-\d{2}-\d{2}$/.test(s))
    return "a date alone is not enough; add a time and offset, e.g. T00:00:00Z";
  if (/^\d{4}-\d{2}-\d{2}[ t]/.test(s)) return "the date and the time must be separated by an uppercase T";
  if (/\dz$/.test(s)) return "UTC must be written as an uppercase Z";
  if (/T\d{2}:\d{2}:\d{2}(?:\.\d+)?[+-](?:\d{4}|\d{2})$/.test(s))
    return "the offset must be written ±HH:MM, with a colon";
  if (/T\d{2}:\d{2}:\d{2}(?:\.\d+)?$/.test(s)) return "the offset is missing; end with Z or ±HH:MM";
  if (/:\d{2},\d/.test(s)) return "fractional seconds must follow a period, not a comma";
  if (/:\d{2}\.(?!\d)/.test(s))
    return "a period must be followed by at least one digit of fractional seconds";
  return `it must have ${SHAPE}`;
}
