/**
 * What SshPool puts on the wire, read back by the simulator: every exec is
 * `exec sh -c WRAPPER rollbook-exec STDIN_BYTES COMMAND` (src/ssh/exec.ts), and
 * the replay keys on COMMAND. The wrapper's words are taken from the pool's own
 * `wrapCommand`, so a change to the wrapper needs no change here.
 */
import { wrapCommand } from '../../src/ssh/exec';

/**
 * Splits a command line built by src/shell/quote.ts into its words: blanks
 * separate words, single quotes keep everything literally, a backslash escapes
 * the next character. Returns null for an unterminated quote or escape.
 */
export function splitQuotedWords(line: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (ch === ' ') {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return null;
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (ch === '\\') {
      if (i + 1 >= line.length) return null;
      word = (word ?? '') + line.charAt(++i);
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

export interface WireCommand {
  /** The command the caller gave SshPool.exec, or the raw line when it came unwrapped. */
  command: string;
  /** Bytes of stdin the wrapper feeds the command before closing its stdin. */
  stdinBytes: number;
  /** Whether the line had the pool's wrapper. */
  wrapped: boolean;
}

/** The wrapper's fixed leading words: `exec sh -c WRAPPER rollbook-exec`. */
const WRAPPER_WORDS = (splitQuotedWords(wrapCommand('', 0)) ?? []).slice(0, 5);

export function unwrapCommand(line: string): WireCommand {
  const words = splitQuotedWords(line);
  const prefixMatches = words?.length === 7 && WRAPPER_WORDS.every((w, i) => words[i] === w);
  const count = words?.[5] ?? '';
  if (!words || !prefixMatches || !/^\d+$/.test(count)) {
    return { command: line, stdinBytes: 0, wrapped: false };
  }
  return { command: words[6] ?? '', stdinBytes: Number(count), wrapped: true };
}
