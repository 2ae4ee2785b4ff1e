import {
  hostAddressSchema,
  hostNameSchema,
  isHostAddress,
  isHostName,
  isIPv6Address,
  isPort,
  isUserName,
  portSchema,
  userNameSchema,
} from '../../src/validate';

const messageOf = (result: { error?: { issues: { message: string }[] } }): string | undefined =>
  result.error?.issues[0]?.message;

describe('host names', () => {
  it.each(['web1', 'web-1.example.com', 'db_primary', '10.0.0.1', '_ops', 'ungrouped'])(
    'accepts %s',
    (name) => {
      expect(isHostName(name)).toBe(true);
      expect(hostNameSchema.safeParse(name).success).toBe(true);
    },
  );

  it.each(['', '-web', '.hidden', '..', 'web 1', 'web;1', 'web:22', 'wéb', 'a/b', 'x'.repeat(254)])(
    'refuses %j',
    (name) => {
      expect(isHostName(name)).toBe(false);
    },
  );

  it('refuses "all", which names the group of every host', () => {
    expect(isHostName('all')).toBe(false);
    expect(messageOf(hostNameSchema.safeParse('all'))).toBe(
      'expected a host name other than "all", which names every host',
    );
  });
});

describe('host addresses', () => {
  it.each([
    'example.com',
    'web-01.eu.example.com',
    'localhost',
    '10.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '2001:db8::10',
    '2001:db8:0:0:0:0:0:1',
    'fe80::1%eth0',
    '::ffff:192.0.2.1',
    `${'a'.repeat(63)}.example.com`,
  ])('accepts %s', (address) => {
    expect(isHostAddress(address)).toBe(true);
  });

  it.each([
    '',
    '-h.example.com',
    'web_1.example.com',
    'host-.example.com',
    'a..b',
    'example.com.',
    `${'a'.repeat(64)}.example.com`,
    '256.1.1.1',
    '10.0.0',
    '010.0.0.1',
    '1.2.3.4.5',
    '2001:db8::1::2',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '[::1]',
    'fe80::1%eth0;id',
    'host name',
    'h$(id)',
  ])('refuses %j', (address) => {
    expect(isHostAddress(address)).toBe(false);
  });

  it('tells IPv6 literals apart from other strings with colons', () => {
    expect(isIPv6Address('2001:db8::1')).toBe(true);
    expect(isIPv6Address('web:22')).toBe(false);
    expect(isIPv6Address('12345::1')).toBe(false);
  });

  it('says what it expected and what it received', () => {
    expect(messageOf(hostAddressSchema.safeParse('a;b'))).toBe(
      'expected a DNS name or an IPv4/IPv6 address, received "a;b"',
    );
    expect(messageOf(hostAddressSchema.safeParse(7))).toBe(
      'expected a DNS name or an IPv4/IPv6 address, received 7',
    );
  });
});

describe('ports and users', () => {
  it('accepts integer ports from 1 to 65535 only', () => {
    expect([1, 22, 65535].every(isPort)).toBe(true);
    expect([0, 65536, 22.5, -1, Number.NaN, '22'].some(isPort)).toBe(false);
    expect(messageOf(portSchema.safeParse(65536))).toBe(
      'expected an integer port from 1 to 65535, received 65536',
    );
  });

  it('accepts POSIX-style user names of at most 32 characters', () => {
    expect(['root', 'deploy', '_svc', 'ci-runner.2'].every(isUserName)).toBe(true);
    expect(['Root', '1user', '', 'a b', '-x', 'u'.repeat(33)].some(isUserName)).toBe(false);
    expect(messageOf(userNameSchema.safeParse('x;y'))).toBe(
      'expected a user name matching [a-z_][a-z0-9_.-]* of at most 32 characters, received "x;y"',
    );
  });

  it('caps and escapes long or control-character values in messages', () => {
    expect(messageOf(userNameSchema.safeParse(`a\n${'b'.repeat(60)}`))).toBe(
      `expected a user name matching [a-z_][a-z0-9_.-]* of at most 32 characters, received "a\\n${'b'.repeat(38)}…"`,
    );
  });
});
