/**
 * Tiny runtime schema helpers: each message type is declared once as a schema, and its TS type
 * is inferred from it, so the validator and the type cannot drift apart. Schemas never throw out
 * of {@link validate}: a failure comes back as a value with the path that failed.
 */

/** A failure inside a schema: caught by {@link validate}, never escapes it. */
class SchemaViolation extends Error {
  readonly path: string;
  readonly expected: string;
  constructor(path: string, expected: string) {
    super(`${path}: expected ${expected}`);
    this.path = path;
    this.expected = expected;
  }
}

/** A runtime validator for values of type `T`. */
export interface Schema<T> {
  /** Returns the (possibly narrowed copy of the) value, or throws a private violation. */
  readonly check: (value: unknown, path: string) => T;
  /** Whether the property may be absent when used inside {@link obj}. */
  readonly optional: boolean;
}

/** The TS type a schema validates. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

function fail(path: string, expected: string): never {
  throw new SchemaViolation(path, expected);
}

/** Result of {@link validate}. */
export type Validation<T> = { ok: true; value: T } | { ok: false; path: string; expected: string };

/** Validates `value` against `schema`; never throws. */
export function validate<T>(schema: Schema<T>, value: unknown, path = '$'): Validation<T> {
  try {
    return { ok: true, value: schema.check(value, path) };
  } catch (err) {
    if (err instanceof SchemaViolation)
      return { ok: false, path: err.path, expected: err.expected };
    // A RangeError from pathological input (deep nesting) is still just bad input.
    return { ok: false, path, expected: 'a well-formed value' };
  }
}

/** A string of `minLength`..`maxLength` UTF-16 code units, optionally matching `pattern`. */
export function str(opts: { min?: number; max?: number; pattern?: RegExp } = {}): Schema<string> {
  const min = opts.min ?? 0;
  const max = opts.max ?? 65536;
  const what = `a string of ${min}..${max} characters${opts.pattern ? ` matching ${String(opts.pattern)}` : ''}`;
  return {
    optional: false,
    check(v, path) {
      if (typeof v !== 'string' || v.length < min || v.length > max) fail(path, what);
      if (opts.pattern && !opts.pattern.test(v)) fail(path, what);
      return v;
    },
  };
}

/** An integer in `min`..`max`. */
export function int(opts: { min?: number; max?: number } = {}): Schema<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return {
    optional: false,
    check(v, path) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        fail(path, `an integer in ${min}..${max}`);
      }
      return v;
    },
  };
}

/** A finite number in `min`..`max` (fractions allowed). */
export function num(opts: { min?: number; max?: number } = {}): Schema<number> {
  const min = opts.min ?? -Number.MAX_VALUE;
  const max = opts.max ?? Number.MAX_VALUE;
  return {
    optional: false,
    check(v, path) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
        fail(path, `a number in ${min}..${max}`);
      }
      return v;
    },
  };
}

/** Exactly one of the given integer literals. */
export function intOneOf<const L extends readonly number[]>(values: L): Schema<L[number]> {
  const set: ReadonlySet<unknown> = new Set(values);
  return {
    optional: false,
    check(v, path) {
      if (!set.has(v)) fail(path, `one of ${values.join('|')}`);
      return v as L[number];
    },
  };
}

/** A boolean. */
export function bool(): Schema<boolean> {
  return {
    optional: false,
    check(v, path) {
      if (typeof v !== 'boolean') fail(path, 'a boolean');
      return v;
    },
  };
}

/** Exactly one of the given string literals. */
export function oneOf<const L extends readonly string[]>(values: L): Schema<L[number]> {
  const set: ReadonlySet<unknown> = new Set(values);
  return {
    optional: false,
    check(v, path) {
      if (!set.has(v)) fail(path, `one of ${values.join('|')}`);
      return v as L[number];
    },
  };
}

/** `null` or a value of `inner`. */
export function nullable<T>(inner: Schema<T>): Schema<T | null> {
  return {
    optional: false,
    check: (v, path) => (v === null ? null : inner.check(v, path)),
  };
}

/** An optional property inside {@link obj}: absent or `undefined` is accepted. */
export function optional<T>(inner: Schema<T>): OptionalSchema<T | undefined> {
  return {
    optional: true,
    check: (v, path) => (v === undefined ? undefined : inner.check(v, path)),
  };
}

/** An array of at most `max` items of `item`. */
export function arr<T>(item: Schema<T>, opts: { max?: number } = {}): Schema<T[]> {
  const max = opts.max ?? 10_000;
  return {
    optional: false,
    check(v, path) {
      if (!Array.isArray(v) || v.length > max) fail(path, `an array of at most ${max} items`);
      return v.map((x, i) => item.check(x, `${path}[${i}]`));
    },
  };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K]['optional'] extends true ? K : never;
}[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The object type a shape describes; optional schemas become optional properties. */
export type InferShape<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
    [K in OptionalKeys<S>]?: Infer<S[K]>;
  }
>;

/** Marks a schema whose `optional` flag is statically true. */
type OptionalSchema<T> = Schema<T> & { readonly optional: true };

/**
 * A plain object with the given properties. Unknown properties are ignored and not copied (a
 * newer peer may add fields), so the result holds only what the schema knows.
 */
export function obj<S extends Shape>(shape: S): Schema<InferShape<S>> {
  const keys = Object.keys(shape);
  return {
    optional: false,
    check(v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'an object');
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const s = shape[k] as Schema<unknown>;
        const val = Object.hasOwn(src, k) ? src[k] : undefined;
        const checked = s.check(val, `${path}.${k}`);
        if (checked !== undefined) out[k] = checked;
      }
      return out as InferShape<S>;
    },
  };
}

/**
 * A union discriminated by the string property `key`: `variants[value]` validates the whole
 * object.
 */
export function tagged<K extends string, V extends Record<string, Schema<object>>>(
  key: K,
  variants: V,
): Schema<{ [T in keyof V]: Infer<V[T]> & { [P in K]: T } }[keyof V]> {
  return {
    optional: false,
    check(v, path) {
      if (typeof v !== 'object' || v === null) fail(path, 'an object');
      const tag = (v as Record<string, unknown>)[key];
      if (typeof tag !== 'string' || !Object.hasOwn(variants, tag)) {
        fail(`${path}.${key}`, `one of ${Object.keys(variants).join('|')}`);
      }
      const inner = (variants[tag] as Schema<object>).check(v, path);
      return { ...inner, [key]: tag } as never;
    },
  };
}

export type { OptionalSchema };
