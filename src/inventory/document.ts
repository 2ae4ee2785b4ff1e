/**
 * From a rollbook inventory document (already parsed from YAML or JSON, or taken
 * inline from a workflow input) to an {@link Inventory}.
 *
 * No Node built-ins here or in what it imports, so workflow code may import this
 * module directly (not `./index`, which also pulls in the file loaders).
 */
import type { z } from 'zod';

import type { PathSegment, Place, Problem } from './errors';
import { inventoryError } from './errors';
import type { DraftGroup, DraftInventory } from './graph';
import { pushUnique, resolveInventory } from './graph';
import type { Inventory, InventoryHost } from './model';
import type { RollbookInventoryDocument } from './schema';
import { rollbookInventorySchema } from './schema';

/**
 * Finds where a document path is written in its source text, when there is one:
 * at the key of the last entry (for problems with the entry itself) or at its value.
 */
export type Locator = (path: readonly PathSegment[], at: 'key' | 'value') => Place | undefined;

/** Issues about an entry as a whole (its name, an unknown key, a cross-reference) point at the key. */
function aboutEntry(issue: z.core.$ZodIssue): boolean {
  if (issue.code === 'invalid_key' || issue.code === 'unrecognized_keys') return true;
  return issue.code === 'custom' && (issue.params as { at?: string } | undefined)?.at === 'key';
}

const INLINE = 'inline inventory';

/** One problem per zod issue; a record-key issue carries the key's own message. */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], locate?: Locator): Problem[] {
  return issues.map((issue) => {
    const path = issue.path.filter((segment): segment is PathSegment => typeof segment !== 'symbol');
    const message =
      issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    const keyPath = issue.code === 'unrecognized_keys' && issue.keys[0] ? [...path, issue.keys[0]] : path;
    return { message, path, place: locate?.(keyPath, aboutEntry(issue) ? 'key' : 'value') };
  });
}

function draftFrom(doc: RollbookInventoryDocument): DraftInventory {
  const groups = new Map<string, DraftGroup>();
  for (const [name, group] of Object.entries(doc.groups ?? {})) {
    groups.set(name, {
      hosts: [...new Set(group?.hosts ?? [])],
      children: [...new Set(group?.children ?? [])],
      vars: { ...group?.vars },
    });
  }
  groups.set('all', { hosts: [], children: [], vars: { ...doc.defaults?.vars } });

  const hosts = new Map<string, Record<string, unknown>>();
  for (const [name, host] of Object.entries(doc.hosts)) {
    hosts.set(name, { ...host?.vars });
    for (const group of host?.groups ?? []) {
      const target = groups.get(group) ?? { hosts: [], children: [], vars: {} };
      pushUnique(target.hosts, name);
      groups.set(group, target);
    }
  }
  return { hosts, groups };
}

/** Builds the inventory from a document that passed {@link rollbookInventorySchema}. */
export function inventoryFromValidDocument(doc: RollbookInventoryDocument): Inventory {
  const resolved = resolveInventory(draftFrom(doc));
  const defaults = doc.defaults ?? {};
  const hosts: Record<string, InventoryHost> = {};

  for (const { name, groups, vars } of resolved.hosts) {
    const own = doc.hosts[name] ?? {};
    const credential = own.credential ?? defaults.credential;
    hosts[name] = {
      name,
      address: own.address ?? name,
      port: own.port ?? defaults.port ?? 22,
      user: own.user ?? defaults.user ?? 'root',
      ...(credential ? { credential } : {}),
      vars,
      groups,
    };
  }
  return { hosts, groups: resolved.groups };
}

/**
 * Validates a rollbook inventory document and builds the inventory. Throws
 * {@link InventoryError} with one line per problem, each naming `file` (default
 * `inline inventory`) and the dotted path of the bad value.
 */
export function inventoryFromDocument(doc: unknown, file?: string, locate?: Locator): Inventory {
  const parsed = rollbookInventorySchema.safeParse(doc);
  if (!parsed.success) throw inventoryError(file ?? INLINE, problemsFromIssues(parsed.error.issues, locate));
  return inventoryFromValidDocument(parsed.data);
}
