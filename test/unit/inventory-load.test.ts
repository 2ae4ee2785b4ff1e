import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { toDocument } from '../../src/cli/inventory';
import {
  detectInventoryFormat,
  InventoryError,
  inventoryFromDocument,
  loadInventory,
  parseInventory,
} from '../../src/inventory';
import { parsePythonValue } from '../../src/inventory/python-literal';
import { splitShellWords } from '../../src/inventory/shlex';

const fixture = (name: string): string => join(__dirname, '../fixtures/inventory', name);

describe('inventory format detection', () => {
  it('takes a mapping of only defaults, hosts and groups as rollbook format, in YAML or JSON', () => {
    expect(detectInventoryFormat('hosts:\n  h1: {}\n', 'inventory')).toBe('rollbook');
    expect(detectInventoryFormat('{"defaults": {}, "hosts": {}}', 'inv.json')).toBe('rollbook');
  });

  it('takes top-level groups with hosts, children or vars as Ansible YAML', () => {
    expect(detectInventoryFormat('all:\n  hosts:\n    h1:\n', 'inventory')).toBe('ansible-yaml');
    expect(detectInventoryFormat('web:\n  vars: { a: 1 }\ndb:\n', 'inv.yml')).toBe('ansible-yaml');
  });

  it('takes other text as Ansible INI, and .ini files always', () => {
    expect(detectInventoryFormat('[web]\nh1\n', 'hosts')).toBe('ansible-ini');
    expect(detectInventoryFormat('h1\nh2:2222\n', 'hosts')).toBe('ansible-ini');
    expect(detectInventoryFormat('hosts: {}\n', 'inventory.ini')).toBe('ansible-ini');
  });

  it('keeps broken YAML in a .yaml file as rollbook format, so the YAML error is what is reported', () => {
    expect(detectInventoryFormat('hosts: [1', 'inv.yaml')).toBe('rollbook');
    expect(detectInventoryFormat('hostss:\n  h1: {}\n', 'inv.yaml')).toBe('rollbook');
  });

  it('loads each fixture in the format it is written in without being told', async () => {
    expect(Object.keys((await loadInventory(fixture('rollbook.yaml'))).hosts)).toContain('lb1');
    expect(Object.keys((await loadInventory(fixture('hosts'))).hosts)).toContain('jump.example.com');
    expect(Object.keys((await loadInventory(fixture('ansible.yml'))).hosts)).toContain('mail.example.com');
  });

  it('follows an explicit format over detection', () => {
    const inventory = parseInventory('all:\n  hosts:\n    h1:\n', { file: 'x', format: 'ansible-yaml' });
    expect(Object.keys(inventory.hosts)).toEqual(['h1']);
    expect(() => parseInventory('[web]\nh1\n', { file: 'x', format: 'rollbook' })).toThrow(InventoryError);
  });
});

describe('loadInventory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rollbook-inventory-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('turns a missing file into an InventoryError that names it', async () => {
    const file = join(dir, 'missing.yaml');
    await expect(loadInventory(file)).rejects.toThrow(
      new InventoryError(file, [`${file}: cannot read the inventory: no such file`]),
    );
  });

  it('resolves relative key files against the directory of the file it reads', async () => {
    const file = join(dir, 'hosts');
    await writeFile(file, 'h1 ansible_ssh_private_key_file=id_ed25519\n');
    const { hosts } = await loadInventory(file);
    expect(hosts.h1?.credential).toEqual({ type: 'key-file', path: join(dir, 'id_ed25519') });
  });

  it('caps a message with many problems but keeps every problem in the list', async () => {
    const file = join(dir, 'hosts');
    await writeFile(file, Array.from({ length: 60 }, (_, i) => `h${i} novalue`).join('\n'));
    const error = await loadInventory(file).then(
      () => new InventoryError(file, []),
      (err: unknown) => err as InventoryError,
    );
    expect(error.problems).toHaveLength(60);
    expect(error.message.split('\n')).toHaveLength(51);
    expect(error.message).toMatch(/… and 10 more problems$/);
  });
});

describe('the CLI hand-off to workflows', () => {
  it('turns an imported Ansible inventory into a rollbook document that rebuilds the same hosts', async () => {
    const imported = await loadInventory(fixture('hosts'));
    const rebuilt = inventoryFromDocument(
      JSON.parse(JSON.stringify(toDocument(imported))),
      'input.inventory',
    );

    expect(Object.keys(rebuilt.hosts)).toEqual(Object.keys(imported.hosts));
    for (const host of Object.values(imported.hosts)) expect(rebuilt.hosts[host.name]).toEqual(host);
  });
});

describe('INI value reading', () => {
  it('splits words as Python shlex does in POSIX mode with comments', () => {
    const words = (line: string) => splitShellWords(line).map((word) => word.text);
    expect(words(`a 'b c' "d \\" e" f\\ g`)).toEqual(['a', 'b c', 'd " e', 'f g']);
    expect(words(`"a\\nb" '' x#y z`)).toEqual(['a\\nb', '', 'x']);
    expect(splitShellWords('  key="v w"').map((word) => word.start)).toEqual([2]);
    expect(() => splitShellWords('a "b')).toThrow('no closing quotation');
    expect(() => splitShellWords('a \\')).toThrow('no character after the backslash');
  });

  it('reads Python literals like ast.literal_eval and falls back to the text', () => {
    expect(parsePythonValue('-3')).toBe(-3);
    expect(parsePythonValue('1e3')).toBe(1000);
    expect(parsePythonValue('0o17')).toBe(15);
    expect(parsePythonValue('(1,)')).toEqual([1]);
    expect(parsePythonValue('(1)')).toBe(1);
    expect(parsePythonValue('\'a\' "b"')).toBe('ab');
    expect(parsePythonValue("'tab\\there\\x41\\u00e9'")).toBe('tab\there\u0041\u00e9');
    expect(parsePythonValue("r'\\n'")).toBe('\\n');
    expect(parsePythonValue("{'a': [1, {'b': None}], 2: True,}")).toEqual({ a: [1, { b: null }], 2: true });
    expect(parsePythonValue('1 # comment')).toBe(1);
    for (const text of ['10.0.0.1', 'yes', '1j', "b'x'", '{1, 2}', '[1 2]', '9007199254740993', 'x=1', '']) {
      expect(parsePythonValue(text)).toBe(text);
    }
  });
});
