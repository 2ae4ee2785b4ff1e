import { homedir } from 'node:os';
import { join } from 'node:path';

import { InventoryError, loadInventory, parseInventory } from '../../src/inventory';

const fixtures = join(__dirname, '../fixtures/inventory');
const fixture = (name: string): string => join(fixtures, name);

const fromIni = (text: string, file = '/srv/inventory/hosts') =>
  parseInventory(text, { file, format: 'ansible-ini' });

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof InventoryError) return err.problems;
    throw err;
  }
  throw new Error('expected an InventoryError, but the inventory loaded');
}

describe('Ansible INI import of the fixture', () => {
  it('expands ranges, zero-padded and lettered, in file order', async () => {
    const { hosts } = await loadInventory(fixture('hosts'));

    expect(Object.keys(hosts)).toEqual([
      'jump.example.com',
      'web01.example.com',
      'web02.example.com',
      'web03.example.com',
      'web-canary.example.com',
      'db-a.example.com',
      'db-b.example.com',
      'db-c.example.com',
      'db-x.example.com',
    ]);
  });

  it('maps ansible_host, ansible_port, host:port, ansible_user and key files onto host fields', async () => {
    const { hosts } = await loadInventory(fixture('hosts'));

    expect(hosts['jump.example.com']).toMatchObject({
      address: 'jump.example.com',
      port: 2200,
      user: 'root',
      credential: { type: 'key-file', path: join(homedir(), '.ssh/id_ed25519') },
    });
    expect(hosts['web-canary.example.com']).toMatchObject({
      port: 2222,
      user: 'deploy',
      credential: { type: 'key-file', path: join(fixtures, 'keys/web_ed25519') },
    });
    expect(hosts['db-b.example.com']).toMatchObject({
      address: '10.0.1.5',
      user: 'ops',
      credential: { type: 'secret', name: 'db-key' },
    });
  });

  it('removes mapped connection variables from vars and keeps the rest', async () => {
    const { hosts } = await loadInventory(fixture('hosts'));

    expect(hosts['web-canary.example.com']?.vars).toEqual({
      role: 'web',
      ntp_server: 'ntp.example.com',
      datacenter: 'dc1',
      http_port: 8080,
      note: 'canary host',
    });
  });

  it('applies all, then parent group, then child group, then host variables', async () => {
    const { hosts } = await loadInventory(fixture('hosts'));

    expect(hosts['jump.example.com']?.vars.role).toBe('all');
    expect(hosts['web01.example.com']?.vars.role).toBe('web');
    expect(hosts['db-a.example.com']?.vars.role).toBe('db');
    expect(hosts['db-x.example.com']?.vars.role).toBe('db-host');
    expect(hosts['web01.example.com']?.user).toBe('ops');
  });

  it('builds children, ungrouped and all as Ansible does', async () => {
    const { groups, hosts } = await loadInventory(fixture('hosts'));

    expect(groups.dc1?.children).toEqual(['web', 'db']);
    expect(groups.ungrouped?.hosts).toEqual(['jump.example.com']);
    expect(groups.all?.children).toEqual(['ungrouped', 'dc1']);
    expect(hosts['db-a.example.com']?.groups).toEqual(['all', 'dc1', 'db']);
  });

  it('drops ansible_password with a warning and keeps the value nowhere', async () => {
    const inventory = await loadInventory(fixture('hosts'));

    expect(inventory.warnings).toEqual([
      `${fixture('hosts')}:17:53: ansible_password ignored: rollbook never copies a password into an inventory; ` +
        'store it as a worker secret and set rollbook_credential_secret=<name> instead',
    ]);
    expect(JSON.stringify(inventory)).not.toContain('hunter2');
    expect(inventory.hosts['db-x.example.com']?.credential).toEqual({
      type: 'key-file',
      path: join(homedir(), '.ssh/id_ed25519'),
    });
  });
});

describe('Ansible INI host lines', () => {
  it('splits words like a shell: quotes, "=" inside values, escapes and # comments', () => {
    const { hosts } = fromIni(
      [
        `h1 a="x y" b='p=q' c=one\\ two d="say \\"hi\\"" e=f#not-a-value`,
        `h2 empty='' hash="#kept"   # comment`,
      ].join('\n'),
    );

    expect(hosts.h1?.vars).toEqual({ a: 'x y', b: 'p=q', c: 'one two', d: 'say "hi"', e: 'f' });
    expect(hosts.h2?.vars).toEqual({ empty: '', hash: '#kept' });
  });

  it('reads values as Python literals and leaves everything else a string', () => {
    const { hosts } = fromIni(
      `h1 n=22 f=1.5 t=True no=None l="[1, 'a']" d="{'k': 2}" yes=yes z=010 v=1_000 hexa=0x1F s="'quoted'"`,
    );

    expect(hosts.h1?.vars).toEqual({
      n: 22,
      f: 1.5,
      t: true,
      no: null,
      l: [1, 'a'],
      d: { k: 2 },
      yes: 'yes',
      z: '010',
      v: 1000,
      hexa: 31,
      s: 'quoted',
    });
  });

  it('reads :vars values as Python literals too, with the whole rest of the line as the value', () => {
    const { hosts } = fromIni('[g]\nh1\n[g:vars]\nmotd = hello world\nflag=False\nport=8080\nraw=FALSE\n');

    expect(hosts.h1?.vars).toEqual({ motd: 'hello world', flag: false, port: 8080, raw: 'FALSE' });
  });

  it('expands numeric ranges with a step and lettered ranges, and several ranges in one name', () => {
    const { hosts } = fromIni('[g]\nn[1:10:4].example.com\nr[a:b]-[1:2]\nm[:2]\n');

    expect(Object.keys(hosts)).toEqual([
      'n1.example.com',
      'n5.example.com',
      'n9.example.com',
      'ra-1',
      'ra-2',
      'rb-1',
      'rb-2',
      'm0',
      'm1',
      'm2',
    ]);
  });

  it('lets an inline ansible_port override the host:port shorthand', () => {
    const { hosts } = fromIni('h1:2222\nh2:2222 ansible_port=2200\n');

    expect(hosts.h1?.port).toBe(2222);
    expect(hosts.h2?.port).toBe(2200);
  });

  it('merges the variables of a host listed in several groups, later lines winning', () => {
    const { hosts, groups } = fromIni('[a]\nh1 x=1 y=1\n[b]\nh1 y=2\n');

    expect(hosts.h1?.vars).toEqual({ x: 1, y: 2 });
    expect(hosts.h1?.groups).toEqual(['all', 'a', 'b']);
    expect(groups.ungrouped?.hosts).toEqual([]);
  });

  it('orders groups of equal depth by ansible_group_priority, then by name', () => {
    const text = '[a]\nh1\n[b]\nh1\n[a:vars]\nwho=a\n[b:vars]\nwho=b\n';
    expect(fromIni(text).hosts.h1?.vars.who).toBe('b');
    expect(fromIni(`${text}ansible_group_priority=0\n`).hosts.h1?.vars.who).toBe('a');
  });

  it('resolves relative key paths against the inventory directory', () => {
    const { hosts } = fromIni(
      'h1 ansible_ssh_private_key_file=keys/id\nh2 ansible_private_key_file=/abs/id\n',
    );

    expect(hosts.h1?.credential).toEqual({ type: 'key-file', path: '/srv/inventory/keys/id' });
    expect(hosts.h2?.credential).toEqual({ type: 'key-file', path: '/abs/id' });
  });

  it('prefers the more specific of a group key file and a host secret', () => {
    const { hosts } = fromIni(
      '[g]\nh1 rollbook_credential_secret=k1\nh2\n[g:vars]\nansible_ssh_private_key_file=/k\n',
    );

    expect(hosts.h1?.credential).toEqual({ type: 'secret', name: 'k1' });
    expect(hosts.h2?.credential).toEqual({ type: 'key-file', path: '/k' });
  });

  it('drops every kind of password and become password, warning once per line', () => {
    const inventory = fromIni('[g]\nh1 ansible_ssh_pass=s1\n[g:vars]\nansible_become_password=s2\n');

    expect(inventory.warnings).toHaveLength(2);
    expect(inventory.warnings[0]).toMatch(/^\/srv\/inventory\/hosts:2:4: ansible_ssh_pass ignored: /);
    expect(inventory.warnings[1]).toMatch(/^\/srv\/inventory\/hosts:4:1: ansible_become_password ignored: /);
    expect(JSON.stringify(inventory)).not.toMatch(/s1|s2/);
  });

  it('gives an empty file an empty inventory', () => {
    const inventory = fromIni('# nothing yet\n');
    expect(inventory.hosts).toEqual({});
    expect(Object.keys(inventory.groups)).toEqual(['all', 'ungrouped']);
  });
});

describe('malformed Ansible INI', () => {
  it('reports bad ranges with file and line', async () => {
    const file = fixture('bad-range.ini');
    await expect(loadInventory(file)).rejects.toMatchObject({
      problems: [
        `${file}:2:1: host range "[01:9]" is zero-padded, so its begin and end need the same width`,
        `${file}:3:1: host range "[3:1]" begins after its end`,
        `${file}:4:1: host range in "web[1:3.example.com" has no closing "]"`,
      ],
    });
  });

  it('reports an unknown section kind and a vars line without "="', async () => {
    const file = fixture('bad-section.ini');
    await expect(loadInventory(file)).rejects.toMatchObject({
      problems: [
        `${file}:7:6: unknown section kind "settings" in [web:settings]; expected [web], [web:children] or [web:vars]`,
        `${file}:11:1: expected key=value, received "novalue"`,
      ],
    });
  });

  it('reports more range mistakes: step, bounds, size and mixed kinds', () => {
    expect(problemsOf(() => fromIni('a[1:3:0]\nb[1]\nc[1:]\nd[1:c]\ne[1:20000]\n', 'h'))).toEqual([
      'h:1:1: host range "[1:3:0]" needs a step that is a positive integer',
      'h:2:1: host range "[1]" must be [begin:end] or [begin:end:step]',
      'h:3:1: host range "[1:]" has no end',
      'h:4:1: host range "[1:c]" must run between two numbers or two letters',
      'h:5:1: host range "[1:20000]" expands to more than 10000 hosts',
    ]);
  });

  it('reports undeclared children and vars sections for groups never declared', () => {
    const text = '[web:children]\nnowhere\n[ghost:vars]\nx=1\n';
    expect(problemsOf(() => fromIni(text, 'h'))).toEqual([
      'h:2:1: [web:children] lists "nowhere", which no [nowhere] or [nowhere:children] section declares',
      'h:3:1: [ghost:vars] is for a group that no [ghost] or [ghost:children] section declares',
    ]);
  });

  it('accepts a child declared after the :children section that lists it', () => {
    const { hosts } = fromIni('[dc:children]\nweb\n[web]\nw1\n');
    expect(hosts.w1?.groups).toEqual(['all', 'dc', 'web']);
  });

  it('reports cycles in children at the line that closes them', () => {
    expect(problemsOf(() => fromIni('[a:children]\nb\n[b:children]\na\n', 'h'))).toEqual([
      'h:4:1: groups form a cycle: a -> b -> a',
    ]);
  });

  it('reports quoting, key=value, header and name mistakes with their column', () => {
    const text = [
      "h1 note='unterminated",
      'h2 lonely',
      '[bad group]',
      'ignored-until-next-header',
      '[ok]',
      '2001:db8::1',
      'h3:abc',
      'bad!name',
      'h4 ansible_host="{{ inventory_hostname }}.example.com"',
      'h5 ansible_port=99999 ansible_user=Admin',
      'h6 ansible_ssh_private_key_file=~bob/.ssh/id',
    ].join('\n');

    expect(problemsOf(() => fromIni(text, 'h'))).toEqual([
      'h:1:9: host line: no closing quotation',
      'h:2:4: expected key=value after the host, received "lonely"',
      'h:3:1: invalid section header "[bad group]": expected [group], [group:children] or [group:vars], without spaces',
      'h:6:1: host name "2001:db8::1" is an IPv6 address, and host names cannot contain ":"; name the host and set ansible_host=2001:db8::1',
      'h:7:1: expected a port number after ":" in host "h3:abc", received "abc"',
      `h:8:1: expected a host name of letters, digits, '.', '_' and '-', starting with a letter, digit or '_', received "bad!name"`,
      'h:9:4: ansible_host: rollbook does not evaluate Jinja templates, received "{{ inventory_hostname }}.example.com"',
      'h:10:4: ansible_port: expected an integer port from 1 to 65535, received 99999',
      'h:10:23: ansible_user: expected a user name matching [a-z_][a-z0-9_.-]* of at most 32 characters, received "Admin"',
      'h:11:4: ansible_ssh_private_key_file: cannot expand "~bob": only "~/" (the current user\'s home) is expanded; use an absolute path',
    ]);
  });

  it('reports a host whose name is not an address and that has no ansible_host', () => {
    expect(problemsOf(() => fromIni('db_primary\n', 'h'))).toEqual([
      'h:1:1: host "db_primary" has no ansible_host and its name is not a DNS name or IP address',
    ]);
    expect(fromIni('db_primary ansible_host=10.0.0.5\n').hosts.db_primary?.address).toBe('10.0.0.5');
  });

  it('refuses a host and a group with the same name', () => {
    expect(problemsOf(() => fromIni('[db]\ndb\n', 'h'))).toEqual([
      'h:2:1: "db" names both a host and a group; rename one of them',
    ]);
  });
});
