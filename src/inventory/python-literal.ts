/**
 * Ansible reads INI variable values with Python's `ast.literal_eval` and keeps
 * the text as a string when that fails. This reads the same literals: numbers,
 * strings (with adjacent-string joining), `True`, `False`, `None`, lists, tuples
 * (as lists) and dicts. Byte strings, sets and complex numbers are not read, so
 * they stay strings; so do integers beyond 2^53, which JavaScript cannot hold exactly.
 */

class NotALiteral extends Error {}

const ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\u0007',
  b: '\b',
  f: '\f',
  v: '\v',
  '\n': '',
};

/** A dict key as the text Python would print; lists and dicts cannot be keys. */
function dictKey(key: unknown): string {
  if (typeof key === 'string' || typeof key === 'number') return String(key);
  if (typeof key === 'boolean') return key ? 'True' : 'False';
  if (key === null) return 'None';
  throw new NotALiteral();
}

class Reader {
  private i = 0;
  constructor(private readonly text: string) {}

  read(): unknown {
    const value = this.expression();
    this.skipBlanks(true);
    if (this.i < this.text.length) throw new NotALiteral();
    return value;
  }

  /** Python allows a trailing comment after the literal; `literal_eval('1 # x')` is 1. */
  private skipBlanks(allowComment = false): void {
    while (/\s/.test(this.peek())) this.i++;
    if (allowComment && this.peek() === '#') this.i = this.text.length;
  }

  private peek(): string {
    return this.text.charAt(this.i);
  }

  private expression(): unknown {
    this.skipBlanks();
    const char = this.peek();
    if (char === '-' || char === '+') {
      this.i++;
      const value = this.expression();
      if (typeof value !== 'number') throw new NotALiteral();
      return char === '-' ? -value : value;
    }
    if (char === '[') return this.sequence(']');
    if (char === '(') return this.sequence(')');
    if (char === '{') return this.dict();
    if (/[0-9.]/.test(char)) return this.number();
    return this.wordOrString();
  }

  private wordOrString(): unknown {
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.i))?.[0] ?? '';
    const quote = this.text.charAt(this.i + word.length);
    if (/^[rRuU]?$/.test(word) && (quote === "'" || quote === '"')) return this.strings();
    this.i += word.length;
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    throw new NotALiteral();
  }

  /** One or more adjacent string literals, joined as Python joins them. */
  private strings(): string {
    let value = '';
    do {
      value += this.string();
      this.skipBlanks();
    } while (/^[rRuU]?['"]/.test(this.text.slice(this.i, this.i + 2)));
    return value;
  }

  private string(): string {
    const raw = /[rR]/.test(this.peek());
    if (/[rRuU]/.test(this.peek())) this.i++;
    const quote = this.text.startsWith(this.peek().repeat(3), this.i) ? this.peek().repeat(3) : this.peek();
    this.i += quote.length;

    let value = '';
    while (!this.text.startsWith(quote, this.i)) {
      const char = this.peek();
      if (char === '' || (char === '\n' && quote.length === 1)) throw new NotALiteral();
      if (char !== '\\') {
        value += char;
        this.i++;
      } else if (raw) {
        value += this.text.slice(this.i, this.i + 2);
        this.i += 2;
      } else {
        value += this.escape();
      }
    }
    this.i += quote.length;
    return value;
  }

  private escape(): string {
    const next = this.text.charAt(this.i + 1);
    const simple = ESCAPES[next];
    if (simple !== undefined) {
      this.i += 2;
      return simple;
    }
    const sized = { x: 2, u: 4, U: 8 }[next];
    const octal = /^[0-7]{1,3}/.exec(this.text.slice(this.i + 1))?.[0];
    const hex = sized === undefined ? undefined : this.text.slice(this.i + 2, this.i + 2 + sized);
    if (hex !== undefined && sized !== undefined && new RegExp(`^[0-9A-Fa-f]{${sized}}$`).test(hex)) {
      this.i += 2 + sized;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    if (octal) {
      this.i += 1 + octal.length;
      return String.fromCharCode(parseInt(octal, 8));
    }
    if (sized !== undefined || next === 'N') throw new NotALiteral();
    // Python keeps an unknown escape as written.
    this.i += 1;
    return '\\';
  }

  private number(): number {
    const rest = this.text.slice(this.i);
    const match =
      /^0[xX](?:_?[0-9A-Fa-f])+|^0[oO](?:_?[0-7])+|^0[bB](?:_?[01])+/.exec(rest) ??
      /^(?:[0-9](?:_?[0-9])*)?(?:\.(?:[0-9](?:_?[0-9])*)?)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?/.exec(rest);
    const text = match?.[0] ?? '';
    if (text === '' || text === '.' || /^[jJ0-9A-Za-z_]/.test(rest.slice(text.length)))
      throw new NotALiteral();
    this.i += text.length;

    const digits = text.replace(/_/g, '');
    if (/^0[xXoObB]/.test(digits)) return this.exactInteger(Number(digits));
    if (/^[0-9]+$/.test(digits)) {
      // Python 3 refuses leading zeros in a decimal integer (`010`), except for zero itself.
      if (/^0+[1-9]/.test(digits)) throw new NotALiteral();
      return this.exactInteger(Number(digits));
    }
    return Number(digits);
  }

  private exactInteger(value: number): number {
    if (!Number.isSafeInteger(value)) throw new NotALiteral();
    return value;
  }

  private sequence(close: string): unknown {
    this.i++;
    const items: unknown[] = [];
    let sawComma = false;
    for (;;) {
      this.skipBlanks();
      if (this.peek() === close) break;
      if (items.length > 0 && !sawComma) throw new NotALiteral();
      items.push(this.expression());
      this.skipBlanks();
      sawComma = this.peek() === ',';
      if (sawComma) this.i++;
    }
    this.i++;
    // `(x)` is x itself, not a tuple; `(x,)` is a tuple.
    if (close === ')' && items.length === 1 && !sawComma) return items[0];
    return items;
  }

  private dict(): Record<string, unknown> {
    this.i++;
    const entries: Record<string, unknown> = {};
    let first = true;
    for (;;) {
      this.skipBlanks();
      if (this.peek() === '}') break;
      if (!first) {
        if (this.peek() !== ',') throw new NotALiteral();
        this.i++;
        this.skipBlanks();
        if (this.peek() === '}') break;
      }
      first = false;
      const key = dictKey(this.expression());
      this.skipBlanks();
      if (this.peek() !== ':') throw new NotALiteral();
      this.i++;
      entries[key] = this.expression();
    }
    this.i++;
    return entries;
  }
}

/** The value of `text` read as a Python literal, or `text` itself when it is not one. */
export function parsePythonValue(text: string): unknown {
  try {
    return new Reader(text).read();
  } catch (err) {
    if (err instanceof NotALiteral) return text;
    throw err;
  }
}
