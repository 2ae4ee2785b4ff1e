import { join } from 'node:path';

import { InventoryError, loadInventory, parseInventory } from '../../src/inventory';

const fixtures = join(__dirname, '../fixtures/inventory');
const fixture = (name: string): string => join(fixtures, name);

const fromYaml = (text: string) => parseInventory(text, { file: 'inv.yml', format: 'ansible-yaml' });

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof InventoryError) return err.problems;
    throw err;
  }
  throw new Error('expected an InventoryError, but the inventory loaded');
}

describe('Ansible YAML import of the fixture', () => {
  it('reads hosts under all and under nested children, expanding ranges with a step', async () => {
    const { hosts, groups } = await loadInventory(fixture('ansible.yml'));

    expect(Object.keys(hosts)).toEqual([
      'mail.example.com',
      'web1.example.com',
      'web3.example.com',
      'web5.example.com',
      'web-canary.example.com',
      'db-a.example.com',
      'db-b.example.com',
    ]);
    expect(groups.prod?.children).toEqual(['webservers', 'dbservers']);
    expect(groups.ungrouped?.hosts).toEqual(['mail.example.com']);
    expect(hosts['web1.example.com']?.groups).toEqual(['all', 'prod', 'webservers']);
  });

  it('maps connection variables, including a quoted port and host:port keys', async () => {
    const { hosts } = await loadInventory(fixture('ansible.yml'));

    expect(hosts['web-canary.example.com']).toMatchObject({
      port: 2222,
      user: 'deploy',
      credential: { type: 'key-file', path: join(fixtures, 'keys/canary') },
    });
    expect(hosts['db-b.example.com']).toMatchObject({ address: '10.0.1.5', port: 5022, user: 'root' });
    expect(hosts['db-b.example.com']?.credential).toBeUndefined();
  });

  it('applies all, then parent group, then child group variables, reading YAML 1.1 booleans', async () => {
    const { hosts } = await loadInventory(fixture('ansible.yml'));

    expect(hosts['mail.example.com']?.vars).toEqual({ ntp_server: 'ntp.example.com', role: 'all' });
    expect(hosts['web3.example.com']?.vars).toEqual({
      ntp_server: 'ntp.example.com',
      role: 'web',
      env: 'prod',
      enabled: true,
    });
    expect(hosts['db-a.example.com']?.vars.role).toBe('db');
  });

  it('drops a vaulted become password with a warning that has its line and column', async () => {
    const inventory = await loadInventory(fixture('ansible.yml'));

    expect(inventory.warnings).toEqual([
      `${fixture('ansible.yml')}:23:11: ansible_become_password ignored: rollbook never copies a password ` +
        'into an inventory; store it as a worker secret and set rollbook_credential_secret=<name> instead',
    ]);
    expect(JSON.stringify(inventory)).not.toContain('ANSIBLE_VAULT');
  });
});

describe('Ansible YAML details', () => {
  it('lets host variables win over group variables', () => {
    const { hosts } = fromYaml(
      'all:\n  vars: { x: all }\n  children:\n    g:\n      vars: { x: g }\n      hosts:\n        h1: { x: h1 }\n        h2:\n',
    );

    expect(hosts.h1?.vars.x).toBe('h1');
    expect(hosts.h2?.vars.x).toBe('g');
  });

  it('merges a group that appears under two parents', () => {
    const text = [
      'all:',
      '  children:',
      '    east: { children: { web: { hosts: { w1: } } } }',
      '    west: { children: { web: { hosts: { w2: } } } }',
    ].join('\n');
    const { groups, hosts } = fromYaml(text);

    expect(groups.web?.hosts).toEqual(['w1', 'w2']);
    expect(hosts.w2?.groups).toEqual(['all', 'east', 'west', 'web']);
  });

  it('drops a vaulted value of any variable with a warning', () => {
    const inventory = fromYaml(
      'all:\n  vars:\n    token: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      3132\n  hosts: { h1: }\n',
    );

    expect(inventory.hosts.h1?.vars).toEqual({});
    expect(inventory.warnings).toEqual([
      'inv.yml:3:5: token ignored: it is encrypted with Ansible Vault, which rollbook does not decrypt',
    ]);
  });

  it('reads a bare string as a single host or child, as Ansible does', () => {
    const { hosts, groups } = fromYaml(
      'all:\n  children:\n    g:\n      hosts: h1\n    p:\n      children: g\n',
    );

    expect(Object.keys(hosts)).toEqual(['h1']);
    expect(groups.p?.children).toEqual(['g']);
  });

  it('reports unknown keys, hosts given as a list and bad ranges with line and column', () => {
    const text = [
      'all:',
      '  host:',
      '    web1:',
      '  children:',
      '    web:',
      '      hosts:',
      '        - web1',
      '    db:',
      '      hosts:',
      '        db[1:x]:',
      '        db9: [1, 2]',
      '        Bad!:',
    ].join('\n');

    expect(problemsOf(() => fromYaml(text))).toEqual([
      'inv.yml:2:3: unknown key "host" in group "all"; expected hosts, children or vars',
      'inv.yml:7:9: group "web": expected hosts as a mapping (name followed by ":"), received a list',
      'inv.yml:10:9: host range "[1:x]" must run between two numbers or two letters',
      'inv.yml:11:14: host "db9": expected a mapping of variables, received a list',
      `inv.yml:12:9: expected a host name of letters, digits, '.', '_' and '-', starting with a letter, digit or '_', received "Bad!"`,
    ]);
  });

  it('reports a cycle through nested children', () => {
    const text =
      'all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n';
    expect(problemsOf(() => fromYaml(text))).toEqual(['inv.yml:7:13: groups form a cycle: a -> b -> a']);
  });

  it('reports malformed YAML with its line and column', () => {
    expect(problemsOf(() => fromYaml('all:\n  hosts:\n    a: [1\n'))).toEqual([
      'inv.yml:4:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('reports a top level that is not a mapping of groups', () => {
    expect(problemsOf(() => fromYaml('- all\n'))).toEqual([
      'inv.yml:1:1: expected a mapping of group names at the top level, received a list',
    ]);
  });
});
