/**
 * rollbook's own inventory format, the same in YAML and JSON. Every object is
 * strict, so a misspelt key is an error rather than a silently ignored setting.
 *
 * No Node built-ins here: workflow code validates inline inventories with it.
 */
import { z } from 'zod';

import {
  describeValue,
  expected,
  groupNameSchema,
  hostAddressSchema,
  hostNameSchema,
  isHostAddress,
  portSchema,
  userNameSchema,
} from '../validate';
import { findCycle } from './graph';

/** Object with a readable message for unknown keys that lists the keys it takes. */
function strictMapping<T extends z.ZodRawShape>(shape: T, what = 'a mapping') {
  const keys = Object.keys(shape);
  const known = `${keys.slice(0, -1).join(', ')} or ${keys[keys.length - 1] ?? ''}`;
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return expected(what)(issue);
      const names = issue.keys.map((key) => JSON.stringify(key)).join(', ');
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${names}; expected ${known}`;
    },
  });
}

const SECRET_RULE = 'a secret name of letters, digits, ".", "_" and "-"';
export const secretNameSchema = z
  .string({ error: expected(SECRET_RULE) })
  .regex(/^[A-Za-z0-9_.-]+$/, { error: expected(SECRET_RULE) });

// Paths the worker opens itself, never passed to a shell; control characters are refused
// because the path is shown in logs.
const PATH_RULE = 'an absolute path without control characters';
const workerPathSchema = z
  .string({ error: expected(PATH_RULE) })
  // eslint-disable-next-line no-control-regex
  .refine((path) => path.startsWith('/') && !/[\u0000-\u001f\u007f]/.test(path), {
    error: expected(PATH_RULE),
  });

const CREDENTIAL_TYPES = '"key-file", "agent" or "secret"';

export const credentialSchema = z.discriminatedUnion(
  'type',
  [
    strictMapping({
      type: z.literal('key-file'),
      path: workerPathSchema,
      passphraseSecret: secretNameSchema.optional(),
    }),
    strictMapping({ type: z.literal('agent'), socket: workerPathSchema.optional() }),
    strictMapping({ type: z.literal('secret'), name: secretNameSchema }),
  ],
  {
    error: (issue) => {
      const input: unknown = issue.input;
      if (issue.code !== 'invalid_union')
        return expected(`a credential mapping with type ${CREDENTIAL_TYPES}`)(issue);
      const type =
        typeof input === 'object' && input !== null ? (input as { type?: unknown }).type : undefined;
      return `expected credential type ${CREDENTIAL_TYPES}, received ${describeValue(type)}`;
    },
  },
);

const varsSchema = z.record(z.string(), z.unknown(), {
  error: (issue) => (issue.code === 'invalid_type' ? expected('a mapping of variables')(issue) : undefined),
});

const groupListSchema = z.array(groupNameSchema, { error: expected('a list of group names') });
const hostListSchema = z.array(hostNameSchema, { error: expected('a list of host names') });

export const defaultsSchema = strictMapping({
  user: userNameSchema.optional(),
  port: portSchema.optional(),
  credential: credentialSchema.optional(),
  vars: varsSchema.optional(),
});

export const hostSchema = strictMapping({
  address: hostAddressSchema.optional(),
  port: portSchema.optional(),
  user: userNameSchema.optional(),
  credential: credentialSchema.optional(),
  vars: varsSchema.optional(),
  groups: groupListSchema.optional(),
});

export const groupSchema = strictMapping({
  hosts: hostListSchema.optional(),
  children: groupListSchema.optional(),
  vars: varsSchema.optional(),
});

/** A record whose message for a non-mapping says what the mapping holds; key problems keep their own. */
function mappingOf<V extends z.ZodType>(keys: typeof hostNameSchema, values: V, what: string) {
  return z.record(keys, values, {
    error: (issue) => (issue.code === 'invalid_type' ? expected(what)(issue) : undefined),
  });
}

const IMPLICIT: Record<string, string> = {
  all: '"all" is implicit and holds every host; put variables for every host in defaults.vars',
  ungrouped: '"ungrouped" is implicit and holds the hosts that are in no other group',
};

type Document = z.output<typeof documentShape>;

const documentShape = strictMapping(
  {
    defaults: defaultsSchema.optional(),
    // `h2:` with no value in YAML reads as null and means a host with every default.
    hosts: mappingOf(hostNameSchema, hostSchema.nullable(), 'a mapping of host names to hosts'),
    groups: mappingOf(
      groupNameSchema,
      groupSchema.nullable(),
      'a mapping of group names to groups',
    ).optional(),
  },
  'a mapping with hosts and optionally groups and defaults',
);

type AddIssue = (message: string, path: (string | number)[]) => void;

function checkGroupReferences(doc: Document, add: AddIssue): void {
  const groups = doc.groups ?? {};
  for (const [name, group] of Object.entries(groups)) {
    const implicit = IMPLICIT[name];
    if (implicit) add(implicit, ['groups', name]);
    (group?.hosts ?? []).forEach((host, index) => {
      if (!(host in doc.hosts))
        add(`unknown host "${host}": list it under hosts first`, ['groups', name, 'hosts', index]);
    });
    (group?.children ?? []).forEach((child, index) => {
      if (!(child in groups))
        add(`unknown group "${child}": declare it under groups`, ['groups', name, 'children', index]);
    });
  }

  const graph = new Map(
    Object.entries(groups).map(([name, group]) => [name, { children: group?.children ?? [] }]),
  );
  const cycle = findCycle(graph);
  // Reported at the edge that closes the cycle.
  const [parent, child] = cycle?.slice(-2) ?? [];
  if (cycle && parent !== undefined && child !== undefined) {
    const index = graph.get(parent)?.children.indexOf(child) ?? 0;
    add(`groups form a cycle: ${cycle.join(' -> ')}`, ['groups', parent, 'children', index]);
  }
}

function checkHosts(doc: Document, add: AddIssue): void {
  const groupNames = new Set(Object.keys(doc.groups ?? {}));
  for (const [name, host] of Object.entries(doc.hosts)) {
    (host?.groups ?? []).forEach((group, index) => {
      const implicit = IMPLICIT[group];
      if (implicit) add(implicit, ['hosts', name, 'groups', index]);
      groupNames.add(group);
    });
    if (host?.address === undefined && !isHostAddress(name)) {
      add(`the host name is not a valid address (a DNS name or an IPv4/IPv6 address), so set address`, [
        'hosts',
        name,
      ]);
    }
  }

  // A pattern term that names both a host and a group would be ambiguous.
  for (const name of Object.keys(doc.hosts)) {
    if (groupNames.has(name))
      add(`"${name}" names both a host and a group; rename one of them`, ['hosts', name]);
  }
}

/**
 * The rollbook inventory document: `defaults`, `hosts` and `groups`. Besides the
 * shape it checks that groups name only known hosts and groups, that children
 * form no cycle, that every host has a usable address, and that no name is both
 * a host and a group. A group that only appears in a host's `groups` list is
 * created empty.
 */
export const rollbookInventorySchema = documentShape.superRefine((doc, ctx) => {
  // `at: 'key'` tells the file loaders to point at the entry's key rather than its value.
  const add: AddIssue = (message, path) =>
    ctx.addIssue({ code: 'custom', message, path, input: undefined, params: { at: 'key' } });
  checkGroupReferences(doc, add);
  checkHosts(doc, add);
});

export type RollbookInventoryDocument = z.output<typeof rollbookInventorySchema>;
