/**
 * A small strict JSON reader for untrusted headers. JSON.parse silently keeps the last of two
 * duplicate keys, and the safetensors format must reject duplicate tensor names, so this
 * reader reports them; it bounds nesting depth so a hostile header cannot blow the stack, and
 * rejects a lone UTF-16 surrogate (`"\ud800"`), which serde_json (the reference reader) refuses.
 *
 * Cost stays a small multiple of the text: strings are decoded by the engine's JSON.parse
 * on their own slice (not built up escape by escape), and a caller that knows its schema
 * (the safetensors header) drives `JsonReader` directly instead of building a generic tree.
 */
export class JsonSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at character ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

/** A key repeated inside one object; `path` holds the keys of the objects around it (outermost first). */
export class JsonDuplicateKeyError extends JsonSyntaxError {
  constructor(readonly key: string, readonly path: readonly string[], position: number) {
    super(`duplicate key ${JSON.stringify(key)}${path.length ? ` inside ${path.map((k) => JSON.stringify(k)).join(' > ')}` : ''}`, position);
    this.name = 'JsonDuplicateKeyError';
  }
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Object keys in document order. A JS object lists integer-like keys ("0", "12") first
 * whatever their position, so each parsed object carries its own order under this symbol.
 */
const KEY_ORDER = Symbol('keyOrder');

export function keysInOrder(obj: { [key: string]: JsonValue }): string[] {
  const order = (obj as unknown as { [KEY_ORDER]?: string[] })[KEY_ORDER];
  return order ? [...order] : Object.keys(obj);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** A cursor over JSON text with one method per token; every failure is a JsonSyntaxError. */
export class JsonReader {
  pos = 0;
  /** Keys of the objects the cursor is inside (for error messages). */
  private readonly path: string[] = [];

  constructor(readonly text: string, private readonly maxDepth = 64) {}

  fail(message: string, at = this.pos): never {
    throw new JsonSyntaxError(message, at);
  }

  /** Skips whitespace and returns the next character ('' at the end). */
  peek(): string {
    const t = this.text;
    let i = this.pos;
    while (i < t.length) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
    this.pos = i;
    return t.charAt(i);
  }

  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(this.pos >= this.text.length ? `unexpected end of input, expected '${ch}'` : `expected '${ch}'`);
    this.pos++;
  }

  /** Consumes ch if it is next. */
  accept(ch: string): boolean {
    if (this.peek() !== ch) return false;
    this.pos++;
    return true;
  }

  atEnd(): boolean {
    return this.peek() === '';
  }

  string(): string {
    if (this.peek() !== '"') this.fail('expected a string');
    const t = this.text;
    const start = this.pos;
    let i = start + 1;
    let escaped = false;
    for (;;) {
      if (i >= t.length) this.fail('unterminated string', start);
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in string', i);
      if (c === 0x5c) {
        escaped = true;
        i += 2;
      } else {
        i++;
      }
    }
    this.pos = i + 1;
    if (!escaped) return t.slice(start + 1, i);
    let s: string;
    try {
      s = JSON.parse(t.slice(start, i + 1)) as string;
    } catch {
      return this.fail('bad escape in string', start);
    }
    if (LONE_SURROGATE.test(s)) this.fail('lone UTF-16 surrogate in string', start);
    return s;
  }

  /** A non-negative integer written as plain digits (no sign, fraction, exponent or leading zero). */
  unsignedInteger(): number {
    const t = this.text;
    const start = this.pos;
    if (this.peek() === '') this.fail('unexpected end of input, expected an integer');
    let i = this.pos;
    while (i < t.length && t.charCodeAt(i) >= 0x30 && t.charCodeAt(i) <= 0x39) i++;
    const digits = t.slice(this.pos, i);
    const next = t.charAt(i);
    if (!digits || next === '.' || next === 'e' || next === 'E' || (digits.length > 1 && digits[0] === '0')) {
      NUMBER.lastIndex = this.pos;
      const literal = NUMBER.exec(t)?.[0] ?? t.slice(this.pos, this.pos + 20);
      this.fail(`expected a non-negative integer written as plain digits, got ${JSON.stringify(literal)}`, start);
    }
    const v = Number(digits);
    if (!Number.isSafeInteger(v)) this.fail(`integer ${digits} is larger than 2^53`, start);
    this.pos = i;
    return v;
  }

  /**
   * Reads an object, calling onKey(key) with the cursor at the key's value (which onKey
   * must consume). Duplicate keys fail with JsonDuplicateKeyError. `seen` is the set of keys
   * so far (a caller that keeps its own may pass it).
   */
  object(onKey: (key: string) => void, seen: { has(k: string): boolean; add(k: string): unknown } = new Set<string>()): void {
    this.expect('{');
    this.enter();
    const depth = this.path.length;
    try {
      if (this.accept('}')) return;
      for (;;) {
        const at = this.peek() === '"' ? this.pos : this.fail('expected a string key');
        const key = this.string();
        if (seen.has(key)) throw new JsonDuplicateKeyError(key, [...this.path], at);
        seen.add(key);
        this.expect(':');
        this.path.push(key);
        onKey(key);
        this.path.pop();
        if (this.accept(',')) continue;
        if (this.accept('}')) return;
        this.fail(this.atEnd() ? "unexpected end of input, expected ',' or '}'" : "expected ',' or '}'");
      }
    } finally {
      this.path.length = depth;
      this.leave();
    }
  }

  /** Reads an array, calling onItem(index) with the cursor at each item (which onItem must consume). */
  array(onItem: (index: number) => void): void {
    this.expect('[');
    this.enter();
    try {
      if (!this.accept(']')) {
        for (let n = 0; ; n++) {
          onItem(n);
          if (this.accept(',')) continue;
          if (this.accept(']')) break;
          this.fail(this.atEnd() ? "unexpected end of input, expected ',' or ']'" : "expected ',' or ']'");
        }
      }
    } finally {
      this.leave();
    }
  }

  /** Any JSON value, as a plain tree (objects keep their key order for keysInOrder). */
  value(): JsonValue {
    const c = this.peek();
    if (c === '{') {
      const obj = Object.create(null) as { [key: string]: JsonValue };
      const order: string[] = [];
      Object.defineProperty(obj, KEY_ORDER, { value: order, enumerable: false });
      // A null-prototype object has no inherited keys, so it is its own duplicate check.
      this.object((key) => {
        order.push(key);
        obj[key] = this.value();
      }, { has: (k) => Object.prototype.hasOwnProperty.call(obj, k), add: () => undefined });
      return obj;
    }
    if (c === '[') {
      const arr: JsonValue[] = [];
      this.array(() => arr.push(this.value()));
      return arr;
    }
    if (c === '"') return this.string();
    const t = this.text;
    if (t.startsWith('true', this.pos)) { this.pos += 4; return true; }
    if (t.startsWith('false', this.pos)) { this.pos += 5; return false; }
    if (t.startsWith('null', this.pos)) { this.pos += 4; return null; }
    if (c === '') this.fail('unexpected end of input');
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(t);
    if (!m) this.fail(`unexpected character ${JSON.stringify(c)}`);
    this.pos += m![0].length;
    return Number(m![0]);
  }

  /** After the top-level value: only whitespace may follow. */
  end(): void {
    if (!this.atEnd()) this.fail('trailing characters after the JSON value');
  }

  private depth = 0;

  private enter(): void {
    if (this.depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`);
    this.depth++;
  }

  private leave(): void {
    this.depth--;
  }
}

export interface StrictJsonOptions {
  /** Deepest allowed nesting of arrays and objects. */
  maxDepth?: number;
}

export function parseStrictJson(text: string, options: StrictJsonOptions = {}): JsonValue {
  const reader = new JsonReader(text, options.maxDepth ?? 64);
  const value = reader.value();
  reader.end();
  return value;
}
