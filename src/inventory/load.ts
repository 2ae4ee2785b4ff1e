/** Reading an inventory file in any supported format. */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

import type { Document, LineCounter } from 'yaml';
import { isMap, isScalar, isSeq, LineCounter as Lines, parseDocument } from 'yaml';

import { ansibleContext, buildAnsibleInventory } from './ansible';
import { parseAnsibleIni } from './ansible-ini';
import { parseAnsibleYaml } from './ansible-yaml';
import type { Locator } from './document';
import { inventoryFromDocument } from './document';
import type { Place } from './errors';
import { InventoryError, inventoryError } from './errors';
import type { LoadedInventory } from './model';

export type InventoryFormat = 'rollbook' | 'ansible-ini' | 'ansible-yaml';

export interface InventorySource {
  /** Shown in every message; relative Ansible key paths are resolved against its directory. */
  file: string;
  /** Detected from the content (and the extension) when absent; see {@link detectInventoryFormat}. */
  format?: InventoryFormat;
}

const ROLLBOOK_KEYS = new Set(['defaults', 'hosts', 'groups']);
const ANSIBLE_GROUP_KEYS = new Set(['hosts', 'children', 'vars']);
const YAML_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

function looksLikeAnsibleYaml(root: unknown): boolean {
  if (!isMap(root)) return false;
  return root.items.some(
    (pair) =>
      isMap(pair.value) &&
      pair.value.items.some(
        (entry) => isScalar(entry.key) && ANSIBLE_GROUP_KEYS.has(String(entry.key.value)),
      ),
  );
}

/**
 * Which format a text is in:
 * - `.ini` and `.cfg` files are Ansible INI;
 * - a YAML or JSON mapping whose top-level keys are only `defaults`, `hosts` and
 *   `groups` is rollbook's format;
 * - one whose top-level values are groups with `hosts`, `children` or `vars` is
 *   Ansible YAML;
 * - any other mapping is taken as rollbook's format, whose errors then name the
 *   unexpected keys; so is anything in a `.yaml`, `.yml` or `.json` file;
 * - everything else (Ansible's extension-less `hosts` file, say) is Ansible INI.
 */
export function detectInventoryFormat(text: string, file: string): InventoryFormat {
  const extension = extname(file).toLowerCase();
  if (extension === '.ini' || extension === '.cfg') return 'ansible-ini';

  const doc = parseDocument(text, { prettyErrors: false });
  const root = doc.contents;
  if (isMap(root)) {
    const keys = root.items.map((pair) => (isScalar(pair.key) ? String(pair.key.value) : ''));
    if (keys.every((key) => ROLLBOOK_KEYS.has(key))) return 'rollbook';
    if (looksLikeAnsibleYaml(root)) return 'ansible-yaml';
    return 'rollbook';
  }
  return YAML_EXTENSIONS.has(extension) ? 'rollbook' : 'ansible-ini';
}

function placeOf(node: unknown, lines: LineCounter): Place | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? lines.linePos(range[0]) : undefined;
}

/** Finds where a document path is written: at the last mapping entry's key, or at its value. */
function locator(doc: Document.Parsed, lines: LineCounter): Locator {
  return (path, at) => {
    let node: unknown = doc.contents;
    let place = placeOf(node, lines);
    for (const [index, segment] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find(
          (item) => isScalar(item.key) && String(item.key.value) === String(segment),
        );
        if (!pair) return place;
        const atKey = at === 'key' && index === path.length - 1;
        place = placeOf(atKey ? pair.key : (pair.value ?? pair.key), lines) ?? place;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        place = placeOf(node, lines) ?? place;
      } else {
        return place;
      }
    }
    return place;
  };
}

function parseRollbook(text: string, file: string): LoadedInventory {
  const lines = new Lines();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => ({
      message: `invalid YAML: ${error.message}`,
      place: lines.linePos(error.pos[0]),
    }));
    throw inventoryError(file, problems);
  }
  const warnings = doc.warnings.map((warning) => {
    const { line, col } = lines.linePos(warning.pos[0]);
    return `${file}:${line}:${col}: ${warning.message}`;
  });
  return { ...inventoryFromDocument(doc.toJS(), file, locator(doc, lines)), warnings };
}

/**
 * Parses an inventory in rollbook's format (YAML or JSON), Ansible INI or Ansible
 * YAML. Throws {@link InventoryError} listing every problem found, one per line,
 * each with the file and the line and column or the dotted path.
 */
export function parseInventory(text: string, source: InventorySource): LoadedInventory {
  const format = source.format ?? detectInventoryFormat(text, source.file);
  if (format === 'rollbook') return parseRollbook(text, source.file);

  const ctx = ansibleContext(source.file);
  const draft = format === 'ansible-ini' ? parseAnsibleIni(text, ctx) : parseAnsibleYaml(text, ctx);
  return buildAnsibleInventory(draft, ctx);
}

/** Reads and parses an inventory file; an unreadable file is an {@link InventoryError} too. */
export async function loadInventory(file: string): Promise<LoadedInventory> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new InventoryError(file, [`${file}: cannot read the inventory: ${reason}`]);
  }
  return parseInventory(text, { file });
}
