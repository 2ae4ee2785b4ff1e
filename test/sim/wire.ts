/**
 * What SshPool puts on the wire, read back by the simulator: every exec is
 * `exec sh -c WRAPPER rollbook-exec STDIN_BYTES COMMAND MARKER`
 * (src/ssh/exec.ts), and the replay keys on COMMAND. The wrapper's words and
 * their order are taken from the pool's own `wrapCommand`, so a change to the
 * wrapper text needs no change here.
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
  /** The marker of the wrapper's exit status trailer on stderr; null for an unwrapped line. */
  marker: string | null;
}

// A reference line with recognisable arguments tells where each one goes, so
// the parser follows the pool's wrapper as it changes.
const SAMPLE = { command: 'sim-sample-command', stdinBytes: '4242', marker: 'sim-sample-marker' };
const REFERENCE =
  splitQuotedWords(wrapCommand(SAMPLE.command, Number(SAMPLE.stdinBytes), SAMPLE.marker)) ?? [];
const AT = {
  command: REFERENCE.indexOf(SAMPLE.command),
  stdinBytes: REFERENCE.indexOf(SAMPLE.stdinBytes),
  marker: REFERENCE.indexOf(SAMPLE.marker),
};
const FIXED = new Set([AT.command, AT.stdinBytes, AT.marker]);

export function unwrapCommand(line: string): WireCommand {
  const words = splitQuotedWords(line);
  const wrapped =
    words !== null &&
    words.length === REFERENCE.length &&
    REFERENCE.every((word, i) => FIXED.has(i) || words[i] === word) &&
    /^\d+$/.test(words[AT.stdinBytes] ?? '');
  if (!wrapped) return { command: line, stdinBytes: 0, marker: null };
  return {
    command: words[AT.command] ?? '',
    stdinBytes: Number(words[AT.stdinBytes]),
    marker: words[AT.marker] ?? null,
  };
}

/** The last stderr line the pool's wrapper writes after the command: the marker and the exit status. */
export function exitTrailer(marker: string, exitCode: number): string {
  return `\n${marker}${exitCode}\n`;
}
