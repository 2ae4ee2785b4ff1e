import {
  AuthenticationFailedError,
  ChannelOpenError,
  CommandFailedError,
  CommandTimeoutError,
  HostKeyMismatchError,
  HostUnreachableError,
  SshError,
  STDERR_TAIL_BYTES,
  UnknownHostKeyError,
} from '../../src/ssh';
import { escapeControl, tailBytes } from '../../src/ssh/errors';

const failure = { command: "systemctl restart 'docker'", exitCode: 1, signal: null, durationMs: 812 };

describe('SSH errors', () => {
  it('are SshErrors with host, retryable and their class name', () => {
    const errors: SshError[] = [
      new HostUnreachableError('web-1', '10.0.0.1', 22, 'connection refused'),
      new AuthenticationFailedError('web-1', 'root', 'the server accepted none of the offered credentials'),
      new HostKeyMismatchError('web-1', '10.0.0.1', 'SHA256:abc', '/etc/rollbook/known_hosts'),
      new UnknownHostKeyError('web-1', '10.0.0.1', 'SHA256:abc', '/etc/rollbook/known_hosts'),
      new CommandFailedError('web-1', { ...failure, stderr: '' }),
      new CommandTimeoutError('web-1', 'sleep 30', 1000),
      new ChannelOpenError('web-1', 'session', 'open failed'),
    ];
    expect(errors.map((e) => [e.name, e.host, e.retryable])).toEqual([
      ['HostUnreachableError', 'web-1', true],
      ['AuthenticationFailedError', 'web-1', false],
      ['HostKeyMismatchError', 'web-1', false],
      ['UnknownHostKeyError', 'web-1', false],
      ['CommandFailedError', 'web-1', false],
      ['CommandTimeoutError', 'web-1', true],
      ['ChannelOpenError', 'web-1', true],
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(SshError);
      expect(e.message).not.toContain('\n');
    }
  });

  it('puts the reason first, then host and command', () => {
    const err = new CommandFailedError('web-1', { ...failure, stderr: 'Job for docker.service failed.\n' });
    expect(err.message).toBe(
      "command exited 1 on web-1: systemctl restart 'docker': Job for docker.service failed.",
    );
    expect(new CommandTimeoutError('web-1', 'sleep 30', 1000).message).toBe(
      'command timed out after 1000 ms and was killed on web-1: sleep 30',
    );
    const killed = new CommandFailedError('web-1', {
      ...failure,
      exitCode: null,
      signal: 'SIGKILL',
      stderr: '',
    });
    expect(killed.message).toBe("command killed by signal SIGKILL on web-1: systemctl restart 'docker'");
  });

  it('keeps a capped stderr tail with control characters escaped', () => {
    const stderr = `${'x'.repeat(5000)}\u001b[31mred\u0007\r\nlast line\n`;
    const err = new CommandFailedError('web-1', { ...failure, stderr });
    expect(Buffer.byteLength(err.stderrTail)).toBeLessThanOrEqual(STDERR_TAIL_BYTES + 64);
    expect(err.stderrTail.endsWith('\\x1b[31mred\\x07\nlast line\n')).toBe(true);
    expect([...err.message].filter((c) => c.charCodeAt(0) < 0x20)).toEqual([]);
    expect(err.message.length).toBeLessThan(1000);
    expect(err.message.endsWith('last line')).toBe(true);
  });

  it('lets the caller mark a command failure as retryable', () => {
    expect(new CommandFailedError('web-1', { ...failure, stderr: '' }, true).retryable).toBe(true);
  });

  it('names host, fingerprint, file and the fix for a changed host key, without fixing it', () => {
    const err = new HostKeyMismatchError('web-1', '[10.0.0.1]:2222', 'SHA256:abc', '/tmp/known hosts');
    expect(err.message).toBe(
      'host key changed: web-1 ([10.0.0.1]:2222) presented SHA256:abc, which /tmp/known hosts does not accept; ' +
        "if the change is expected, remove the old entry with ssh-keygen -R '[10.0.0.1]:2222' -f '/tmp/known hosts'",
    );
    const revoked = new HostKeyMismatchError('web-1', '10.0.0.1', 'SHA256:abc', '/kh', true);
    expect(revoked.message).toMatch(/^host key is revoked: web-1/);
  });

  it('points an unknown host at the accept-new policy', () => {
    const err = new UnknownHostKeyError('web-1', '10.0.0.1', 'SHA256:abc', '/kh');
    expect(err.message).toBe(
      'unknown host key: web-1 (10.0.0.1) presented SHA256:abc, which is not in /kh; ' +
        'add it, or use the accept-new host key policy to record it on first use',
    );
  });
});

describe('text helpers', () => {
  it('cuts a tail at a character boundary', () => {
    expect(tailBytes('ééé', 3)).toBe('é');
    expect(tailBytes('short', 100)).toBe('short');
  });

  it('escapes C0, DEL and C1 controls but keeps tab and newline', () => {
    expect(escapeControl('a\tb\nc\u0000d\u007fe\u009bf\r\n')).toBe('a\tb\nc\\x00d\\x7fe\\x9bf\n');
  });
});
