/**
 * A small strict JSON parser for untrusted headers. JSON.parse silently keeps the last of two
 * duplicate keys, and the safetensors format must reject duplicate tensor names, so this
 * parser reports them; it also bounds nesting depth so a hostile header cannot blow the stack.
 */
export class JsonSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at character ${position}`);
    this.name = 'JsonSyntaxError';
  }
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Object keys in document order. A JS object lists integer-like keys ("0", "12") first
 * whatever their position, so each parsed object carries its own order under this symbol.
 */
const KEY_ORDER = Symbol('keyOrder');

export function keysInOrder(obj: { [key: string]: JsonValue }): string[] {
  const order = (obj as unknown as { [KEY_ORDER]?: Set<string> })[KEY_ORDER];
  return order ? [...order] : Object.keys(obj);
}

export interface StrictJsonOptions {
  /** Deepest allowed nesting of arrays and objects. */
  maxDepth?: number;
}

export function parseStrictJson(text: string, options: StrictJsonOptions = {}): JsonValue {
  const maxDepth = options.maxDepth ?? 64;
  let i = 0;
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const parseString = (): string => {
    i++; // opening quote
    let out = '';
    let start = i;
    while (true) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          fail('bad escape');
        }
        start = i;
        continue;
      }
      i++;
    }
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const parseValue = (depth: number): JsonValue => {
    ws();
    if (i >= text.length) fail('unexpected end of input');
    const c = text[i]!;
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      ws();
      if (c === '[') {
        const arr: JsonValue[] = [];
        if (text[i] === ']') { i++; return arr; }
        while (true) {
          arr.push(parseValue(depth + 1));
          ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === ']') { i++; return arr; }
          fail("expected ',' or ']'");
        }
      }
      const obj: { [key: string]: JsonValue } = Object.create(null) as { [key: string]: JsonValue };
      const keys = new Set<string>();
      Object.defineProperty(obj, KEY_ORDER, { value: keys, enumerable: false });
      if (text[i] === '}') { i++; return obj; }
      while (true) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const keyAt = i;
        const key = parseString();
        if (keys.has(key)) throw new JsonSyntaxError(`duplicate key ${JSON.stringify(key)}`, keyAt);
        keys.add(key);
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj[key] = parseValue(depth + 1);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail(`unexpected character ${JSON.stringify(c)}`);
    i += m![0].length;
    return Number(m![0]);
  };
  const value = parseValue(0);
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return value;
}
