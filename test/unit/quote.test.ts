import { execFileSync } from 'node:child_process';
import { UnquotableValueError, shellCommand, shellJoin, shellQuote } from '../../src/shell/quote';
import { HOSTILE_VALUES } from '../hostile-values';

/** Runs a command line through the local /bin/sh, which is the same POSIX shell rules a host applies. */
function viaShell(command: string): string {
  return execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8' });
}

describe('shellQuote', () => {
  it.each(HOSTILE_VALUES.map((v) => [JSON.stringify(v), v]))(
    'passes %s through sh as one literal word',
    (_, value) => {
      expect(viaShell(`printf '%s|' ${shellQuote(value)}`)).toBe(`${value}|`);
    },
  );

  it('leaves plain words unquoted so logs stay readable', () => {
    expect(shellQuote('/etc/apt/sources.list')).toBe('/etc/apt/sources.list');
    expect(shellQuote('docker.io=20.10.24+dfsg1')).toBe('docker.io=20.10.24+dfsg1');
  });

  it('quotes the empty string as an empty word instead of dropping it', () => {
    expect(shellQuote('')).toBe("''");
    expect(viaShell(`set -- ${shellQuote('')}; echo $#`)).toBe('1\n');
  });

  it('refuses a NUL byte, which no shell word can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(UnquotableValueError);
    expect(() => shellQuote('a\0b')).toThrow('NUL byte');
  });
});

describe('shellCommand', () => {
  it('keeps every argument a separate word', () => {
    const argv = ['printf', '%s\\n', ...HOSTILE_VALUES];
    expect(viaShell(shellCommand(argv))).toBe(HOSTILE_VALUES.map((v) => `${v}\n`).join(''));
  });

  it('refuses an empty argv', () => {
    expect(() => shellCommand([])).toThrow('the command is empty');
  });
});

describe('shellJoin', () => {
  it('groups each part so operators apply to whole commands', () => {
    const command = shellJoin('&&', [shellCommand(['true']), shellCommand(['echo', 'a; b'])]);
    expect(viaShell(command)).toBe('a; b\n');
    expect(viaShell(shellJoin('||', [shellCommand(['false']), shellCommand(['echo', 'fallback'])]))).toBe(
      'fallback\n',
    );
  });
});
