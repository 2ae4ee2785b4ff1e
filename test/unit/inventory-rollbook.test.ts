import { join } from 'node:path';

import {
  InventoryError,
  inventoryFromDocument,
  loadInventory,
  parseInventory,
  rollbookInventorySchema,
} from '../../src/inventory';
import { HOSTILE_VALUES } from '../hostile-values';

const fixture = (name: string): string => join(__dirname, '../fixtures/inventory', name);

/** The problem lines of the InventoryError that `load` throws. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof InventoryError) return err.problems;
    throw err;
  }
  throw new Error('expected an InventoryError, but the inventory loaded');
}

const fromYaml = (text: string) => parseInventory(text, { file: 'inv.yaml', format: 'rollbook' });

describe('rollbook inventory format', () => {
  it('loads the YAML fixture with defaults, groups, children and host fields', async () => {
    const inventory = await loadInventory(fixture('rollbook.yaml'));

    expect(Object.keys(inventory.hosts)).toEqual(['web1', 'web2', 'db1.example.com', 'lb1']);
    expect(inventory.hosts.web2).toEqual({
      name: 'web2',
      address: '10.0.0.12',
      port: 2222,
      user: 'deploy',
      credential: { type: 'key-file', path: '/etc/rollbook/id_ed25519' },
      vars: { env: 'prod', role: 'canary', http_port: 8080 },
      groups: ['all', 'web', 'canary'],
    });
    expect(inventory.hosts['db1.example.com']).toMatchObject({
      address: 'db1.example.com',
      port: 22,
      user: 'postgres',
      credential: { type: 'secret', name: 'db-key' },
    });
    expect(inventory.hosts.lb1).toMatchObject({ address: '2001:db8::10', credential: { type: 'agent' } });
    expect(inventory.warnings).toEqual([]);
  });

  it('applies variables in Ansible order: defaults, then parent group, then child group, then host', async () => {
    const { hosts } = await loadInventory(fixture('rollbook.yaml'));

    expect(hosts.web1?.vars).toEqual({ env: 'prod', role: 'web', http_port: 8080, weight: 10 });
    expect(hosts.web2?.vars.role).toBe('canary');
    expect(hosts['db1.example.com']?.vars.role).toBe('primary');
    expect(hosts.lb1?.vars.role).toBe('generic');
  });

  it('puts hosts of no group in ungrouped, and top-level groups under all', async () => {
    const { groups, hosts } = await loadInventory(fixture('rollbook.yaml'));

    expect(groups.ungrouped?.hosts).toEqual(['lb1']);
    expect(hosts.lb1?.groups).toEqual(['all', 'ungrouped']);
    expect(groups.all?.children).toEqual(['ungrouped', 'web', 'db']);
    expect(groups.all?.vars).toEqual({ env: 'prod', role: 'generic' });
  });

  it("reads JSON with the same schema and creates groups named only in a host's groups list", async () => {
    const inventory = await loadInventory(fixture('rollbook.json'));

    expect(inventory.hosts.alpha).toEqual({
      name: 'alpha',
      address: '192.0.2.1',
      port: 22,
      user: 'root',
      vars: {},
      groups: ['all', 'ungrouped'],
    });
    expect(inventory.hosts.beta).toMatchObject({
      user: 'ops',
      vars: { tier: 'edge' },
      groups: ['all', 'edge'],
    });
    expect(inventory.groups.edge?.hosts).toEqual(['beta']);
  });

  it('takes an inline document, defaulting the address to the name and empty hosts to every default', () => {
    const inventory = inventoryFromDocument({ hosts: { 'node-1.example.com': null, h2: {} } });

    expect(inventory.hosts['node-1.example.com']).toMatchObject({
      address: 'node-1.example.com',
      port: 22,
      user: 'root',
    });
    expect(inventory.hosts.h2?.address).toBe('h2');
    expect(inventory.hosts.h2?.credential).toBeUndefined();
  });

  it('exports the zod schema for callers that validate documents themselves', () => {
    expect(rollbookInventorySchema.safeParse({ hosts: { h1: { port: 22 } } }).success).toBe(true);
    expect(rollbookInventorySchema.safeParse({ hosts: { h1: { port: 0 } } }).success).toBe(false);
  });
});

describe('rollbook inventory errors', () => {
  it('names an inline document "inline inventory" and shows the dotted path', () => {
    expect(problemsOf(() => inventoryFromDocument({ hosts: { h1: { port: 0 } } }))).toEqual([
      'inline inventory: hosts.h1.port: expected an integer port from 1 to 65535, received 0',
    ]);
    expect(problemsOf(() => inventoryFromDocument({ hosts: [] }, 'input.inventory'))).toEqual([
      'input.inventory: hosts: expected a mapping of host names to hosts, received a list',
    ]);
  });

  it('reports every shape problem on its own line with file, line, column and path', () => {
    const text = [
      'hosts:',
      '  h1: { address: "a b", port: 70000, prot: 1 }',
      '  h2: { port: "22", user: Root }',
      '  h3: { port: 1.5, credential: { type: password } }',
      '  Bad!: {}',
      '  all: {}',
      'extra: 1',
    ].join('\n');

    const problems = problemsOf(() => fromYaml(text));
    expect(problems).toEqual([
      'inv.yaml:2:18: hosts.h1.address: expected a DNS name or an IPv4/IPv6 address, received "a b"',
      'inv.yaml:2:31: hosts.h1.port: expected an integer port from 1 to 65535, received 70000',
      'inv.yaml:2:38: hosts.h1: unknown key "prot"; expected address, port, user, credential, vars or groups',
      'inv.yaml:3:15: hosts.h2.port: expected an integer port from 1 to 65535, received "22"',
      'inv.yaml:3:27: hosts.h2.user: expected a user name matching [a-z_][a-z0-9_.-]* of at most 32 characters, received "Root"',
      'inv.yaml:4:15: hosts.h3.port: expected an integer port from 1 to 65535, received 1.5',
      'inv.yaml:4:40: hosts.h3.credential.type: expected credential type "key-file", "agent" or "secret", received "password"',
      `inv.yaml:5:3: hosts["Bad!"]: expected a host name of letters, digits, '.', '_' and '-', starting with a letter, digit or '_', received "Bad!"`,
      'inv.yaml:6:3: hosts.all: expected a host name other than "all", which names every host',
      'inv.yaml:7:1: unknown key "extra"; expected defaults, hosts or groups',
    ]);
  });

  it('checks credentials: absolute key paths, secret names, no unknown keys', () => {
    const doc = {
      defaults: { credential: { type: 'key-file', path: 'keys/id', extra: true } },
      hosts: {
        a: { credential: { type: 'secret' } },
        b: { credential: { type: 'secret', name: 'db key' } },
        c: { credential: { type: 'agent', socket: 'agent.sock' } },
        d: { credential: 'fleet-key' },
      },
    };
    expect(problemsOf(() => inventoryFromDocument(doc, 'inv.json'))).toEqual([
      'inv.json: defaults.credential.path: expected an absolute path without control characters, received "keys/id"',
      'inv.json: defaults.credential: unknown key "extra"; expected type, path or passphraseSecret',
      'inv.json: hosts.a.credential.name: expected a secret name of letters, digits, ".", "_" and "-", received nothing',
      'inv.json: hosts.b.credential.name: expected a secret name of letters, digits, ".", "_" and "-", received "db key"',
      'inv.json: hosts.c.credential.socket: expected an absolute path without control characters, received "agent.sock"',
      'inv.json: hosts.d.credential: expected a credential mapping with type "key-file", "agent" or "secret", received "fleet-key"',
    ]);
  });

  it('rejects groups that name unknown hosts or groups, cycles, implicit groups and ambiguous names', () => {
    const text = [
      'hosts:',
      '  h1: { groups: [ungrouped] }',
      '  my_host: {}',
      '  web: {}',
      'groups:',
      '  web: { hosts: [h9, h1], children: [db, nowhere] }',
      '  db: { children: [web] }',
      '  all: {}',
    ].join('\n');

    expect(problemsOf(() => fromYaml(text))).toEqual([
      'inv.yaml:2:18: hosts.h1.groups[0]: "ungrouped" is implicit and holds the hosts that are in no other group',
      'inv.yaml:3:3: hosts.my_host: the host name is not a valid address (a DNS name or an IPv4/IPv6 address), so set address',
      'inv.yaml:4:3: hosts.web: "web" names both a host and a group; rename one of them',
      'inv.yaml:6:18: groups.web.hosts[0]: unknown host "h9": list it under hosts first',
      'inv.yaml:6:42: groups.web.children[1]: unknown group "nowhere": declare it under groups',
      'inv.yaml:7:20: groups.db.children[0]: groups form a cycle: web -> db -> web',
      'inv.yaml:8:3: groups.all: "all" is implicit and holds every host; put variables for every host in defaults.vars',
    ]);
  });

  it('requires hosts and a mapping at the top', () => {
    expect(problemsOf(() => fromYaml('groups: {}'))).toEqual([
      'inv.yaml:1:1: hosts: expected a mapping of host names to hosts, received nothing',
    ]);
    expect(problemsOf(() => fromYaml('- h1'))).toEqual([
      'inv.yaml:1:1: expected a mapping with hosts and optionally groups and defaults, received a list',
    ]);
  });

  it('reports malformed YAML with the file, line and column', async () => {
    await expect(loadInventory(fixture('bad.yaml'))).rejects.toThrow(
      `${fixture('bad.yaml')}:3:3: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }`,
    );
  });

  it('joins several problems into a message of one line each', () => {
    let message = '';
    try {
      fromYaml('hosts:\n  h1: { port: 0 }\n  h2: { port: -1 }\n');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')).toHaveLength(2);
    expect(message).toContain('inv.yaml:2:15: hosts.h1.port:');
    expect(message).toContain('inv.yaml:3:15: hosts.h2.port:');
  });

  it.each(HOSTILE_VALUES.map((value) => [JSON.stringify(value), value]))(
    'refuses the shell-hostile address %s',
    (_, value) => {
      const problems = problemsOf(() => inventoryFromDocument({ hosts: { h1: { address: value } } }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^inline inventory: hosts\.h1\.address: expected a DNS name or an IPv4\/IPv6 address/,
      );
    },
  );
});
