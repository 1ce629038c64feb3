// A small declarative validator: a schema is a record of fields, and the parsed value's type follows from it.
import { InvalidInput, type ErrorDetail } from "./errors";

interface NumberField {
  kind: "number";
  min: number;
  max: number;
  integer?: boolean;
  optional?: boolean;
}
interface StringField<T extends string = string> {
  kind: "string";
  maxLength: number;
  oneOf?: readonly T[];
  optional?: boolean;
}
interface TimestampField {
  kind: "timestamp";
  optional?: boolean;
}
type Field = NumberField | StringField | TimestampField;
export type Schema = Record<string, Field>;

type ValueOf<F extends Field> = F extends NumberField
  ? number
  : F extends StringField<infer T>
    ? T
    : F extends TimestampField
      ? Date
      : never;
type RequiredKeys<S extends Schema> = { [K in keyof S]: S[K]["optional"] extends true ? never : K }[keyof S];
type OptionalKeys<S extends Schema> = Exclude<keyof S, RequiredKeys<S>>;
export type Parsed<S extends Schema> = { [K in RequiredKeys<S>]: ValueOf<S[K]> } & { [K in OptionalKeys<S>]?: ValueOf<S[K]> };

export const number = (min: number, max: number): NumberField => ({ kind: "number", min, max });
export const integer = (min: number, max: number): NumberField => ({ kind: "number", min, max, integer: true });
export const text = (maxLength: number): StringField => ({ kind: "string", maxLength });
export const oneOf = <T extends string>(values: readonly T[]): StringField<T> => ({ kind: "string", maxLength: 64, oneOf: values });
export const timestamp = (): TimestampField => ({ kind: "timestamp" });
export const optional = <F extends Field>(field: F): F & { optional: true } => ({ ...field, optional: true });

export const latitude = () => number(-90, 90);
export const longitude = () => number(-180, 180);

/** Parses `input` against `schema`, collecting every problem into one 400 answer. Fields not in the schema are ignored. */
export function parse<S extends Schema>(schema: S, input: Record<string, unknown>): Parsed<S> {
  const details: ErrorDetail[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) {
    const raw = input[name];
    if (raw === undefined || raw === null) {
      if (!field.optional) details.push({ field: name, issue: "is required" });
      continue;
    }
    const issue = check(field, raw);
    if (issue) details.push({ field: name, issue });
    else out[name] = field.kind === "timestamp" ? new Date(raw as string) : raw;
  }
  if (details.length > 0) {
    const summary = details.map((d) => `${d.field} ${d.issue}`).join("; ");
    throw new InvalidInput("invalid_request", `Invalid request: ${summary}`, details);
  }
  return out as Parsed<S>;
}

// PostgreSQL text holds neither NUL nor half of a UTF-16 surrogate pair (JSON can carry both as \u escapes). Let
// through, such a string fails the insert of every row batched with it, which no retry can fix.
export const UNSTORABLE_TEXT = "must not contain NUL or an unpaired surrogate";

/** String.prototype.isWellFormed: in Node 20, but typed only by TypeScript's ES2024 lib, which would admit more than Node 20 has. */
type WellFormedCheck = { isWellFormed(): boolean };

export function isStorableText(text: string): boolean {
  return !text.includes("\u0000") && (text as unknown as WellFormedCheck).isWellFormed();
}

/** Query strings carry text; numeric fields are converted before parsing so the same schema applies. */
export function parseQuery<S extends Schema>(schema: S, query: Record<string, string>): Parsed<S> {
  const input: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(schema)) {
    const raw = query[name];
    if (raw === undefined || raw === "") continue;
    input[name] = field.kind === "number" && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
  }
  return parse(schema, input);
}

function check(field: Field, raw: unknown): string | undefined {
  switch (field.kind) {
    case "number":
      if (typeof raw !== "number" || !Number.isFinite(raw)) return "must be a number";
      if (field.integer && !Number.isInteger(raw)) return "must be an integer";
      if (raw < field.min || raw > field.max) return `must be between ${field.min} and ${field.max}`;
      return undefined;
    case "string":
      if (typeof raw !== "string") return "must be a string";
      if (field.oneOf && !field.oneOf.includes(raw)) return `must be one of ${field.oneOf.join(", ")}`;
      if (raw.trim() === "") return "must not be empty";
      if (raw.length > field.maxLength) return `must be at most ${field.maxLength} characters`;
      if (!isStorableText(raw)) return UNSTORABLE_TEXT;
      return undefined;
    case "timestamp":
      return typeof raw === "string" && isTimestamp(raw) ? undefined : "must be an ISO 8601 timestamp with a time zone";
  }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

// Date.parse would quietly roll 30 February over to March and read a zone-less time as local time.
function isTimestamp(text: string): boolean {
  const match = TIMESTAMP.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = match[8] === "Z" || (Number(match[9]) < 24 && Number(match[10]) < 60);
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60 && offsetOk;
}
