import { parse } from 'yaml';

import { formatIpv4, nextFreeAddress, parseIpv4, parseSubnet } from '../../src/fleet/addresses';
import { parseAuditLog } from '../../src/fleet/audit';
import { LocalCommandError, tail } from '../../src/fleet/errors';
import { renderInventory, renderKnownHosts } from '../../src/fleet/files';
import type { FleetHost } from '../../src/fleet/types';

const host = (name: string, address: string): FleetHost => ({
  name,
  address,
  port: 22,
  user: 'root',
  container: `rollbook-t-${name}`,
  kind: 'sshd',
});

describe('fleet addresses', () => {
  it('round-trips IPv4 text and numbers', () => {
    expect(formatIpv4(parseIpv4('172.18.0.10'))).toBe('172.18.0.10');
    expect(() => parseIpv4('172.18.0.256')).toThrow(/not an IPv4 address/);
    expect(() => parseIpv4('1.2.3')).toThrow(/not an IPv4 address/);
  });

  it('gives the lowest free address from offset 10, skipping used ones', () => {
    const subnet = parseSubnet('172.18.0.0/16');
    expect(nextFreeAddress(subnet, new Set())).toBe('172.18.0.10');
    expect(nextFreeAddress(subnet, new Set(['172.18.0.10', '172.18.0.11']))).toBe('172.18.0.12');
  });

  it('uses the network address even when the subnet text has host bits set', () => {
    expect(nextFreeAddress(parseSubnet('192.168.16.77/20'), new Set())).toBe('192.168.16.10');
  });

  it('refuses a full subnet and a prefix a fleet cannot use', () => {
    const subnet = parseSubnet('10.0.0.0/28');
    const used = new Set(Array.from({ length: 16 }, (_, i) => `10.0.0.${i}`));
    expect(() => nextFreeAddress(subnet, used)).toThrow(/no free address/);
    expect(() => parseSubnet('10.0.0.0/30')).toThrow(/outside/);
  });
});

describe('fleet audit log', () => {
  it('decodes escaped backslashes, newlines and carriage returns', () => {
    const text = '1796295808.303957 echo a\\nb\\r\\nc "x\\\\n"\n1796295809.5 \n';
    expect(parseAuditLog(text)).toEqual([
      { atMs: 1796295808304, command: 'echo a\nb\r\nc "x\\n"' },
      { atMs: 1796295809500, command: '' },
    ]);
  });

  it('skips lines that are not entries', () => {
    expect(parseAuditLog('garbage\n\n12 true\n')).toEqual([{ atMs: 12000, command: 'true' }]);
  });
});

describe('fleet files', () => {
  it('writes known_hosts as address, key type and key, dropping the comment', () => {
    const text = renderKnownHosts([{ address: '172.18.0.10', publicKey: 'ssh-ed25519 AAAAkey root@h1\n' }]);
    expect(text).toBe('172.18.0.10 ssh-ed25519 AAAAkey\n');
    expect(() => renderKnownHosts([{ address: 'x', publicKey: 'ssh-ed25519' }])).toThrow(/malformed/);
  });

  it('writes an inventory with shared defaults, one entry per host and group fleet', () => {
    const text = renderInventory([host('h1', '172.18.0.10'), host('h2', '172.18.0.11')], '/abs/id_ed25519');
    expect(parse(text)).toEqual({
      defaults: { user: 'root', port: 22, credential: { type: 'key-file', path: '/abs/id_ed25519' } },
      hosts: { h1: { address: '172.18.0.10' }, h2: { address: '172.18.0.11' } },
      groups: { fleet: { hosts: ['h1', 'h2'] } },
    });
    expect(text).toContain('h1: { address: 172.18.0.10 }');
  });
});

describe('fleet errors', () => {
  it('puts the docker verb, target, exit code and stderr tail on one line', () => {
    const error = new LocalCommandError({
      file: 'docker',
      args: ['network', 'create', '--label', 'x', 'rollbook-t'],
      target: 'rollbook-t',
      exitCode: 1,
      signal: null,
      stderr: 'Error response from daemon:\nPool overlaps\n',
      durationMs: 12,
      timedOut: false,
    });
    expect(error.message).toBe(
      'docker network create failed for rollbook-t (exit 1): Error response from daemon: | Pool overlaps',
    );
  });

  it('caps output and escapes control characters', () => {
    expect(tail('a\u001b[31mb')).toBe('a\\x1b[31mb');
    expect(tail('x'.repeat(500), 10)).toBe(`…${'x'.repeat(10)}`);
  });
});
