/**
 * Splits an Ansible INI host line into words the way Ansible does, with Python's
 * `shlex.split(line, comments=True)` in POSIX mode:
 *
 * - words are separated by blanks; single quotes keep everything literally;
 * - inside double quotes a backslash escapes only `"` and `\`, and stays otherwise;
 * - outside quotes a backslash escapes any character;
 * - an unquoted `#` ends the line, even in the middle of a word (`a=b#c` is `a=b`);
 * - quotes join their word (`key="a b"` is the one word `key=a b`).
 */

export interface Word {
  text: string;
  /** 0-based offset in the line of the word's first character, quote included. */
  start: number;
}

export class ShellWordsError extends Error {
  override readonly name = 'ShellWordsError';
  constructor(
    message: string,
    /** 0-based offset where the unfinished quote or escape starts. */
    readonly offset: number,
  ) {
    super(message);
  }
}

const BLANK = /[ \t\r\n]/;

export function splitShellWords(line: string): Word[] {
  const words: Word[] = [];
  let word: Word | undefined;
  let i = 0;

  const add = (text: string, at: number): void => {
    word ??= { text: '', start: at };
    word.text += text;
  };

  while (i < line.length) {
    const char = line.charAt(i);
    if (BLANK.test(char) || char === '#') {
      if (word) words.push(word);
      word = undefined;
      if (char === '#') break;
      i += 1;
    } else if (char === '\\') {
      if (i + 1 >= line.length) throw new ShellWordsError('no character after the backslash', i);
      add(line.charAt(i + 1), i);
      i += 2;
    } else if (char === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new ShellWordsError('no closing quotation', i);
      add(line.slice(i + 1, end), i);
      i = end + 1;
    } else if (char === '"') {
      i = readDoubleQuoted(line, i, add);
    } else {
      add(char, i);
      i += 1;
    }
  }
  if (word) words.push(word);
  return words;
}

/** Reads a double-quoted part starting at `open`; returns the offset after its closing quote. */
function readDoubleQuoted(line: string, open: number, add: (text: string, at: number) => void): number {
  let text = '';
  for (let i = open + 1; i < line.length; i++) {
    const char = line.charAt(i);
    if (char === '"') {
      add(text, open);
      return i + 1;
    }
    const next = line.charAt(i + 1);
    if (char === '\\' && (next === '"' || next === '\\')) {
      text += next;
      i += 1;
    } else {
      text += char;
    }
  }
  throw new ShellWordsError('no closing quotation', open);
}
