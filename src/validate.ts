/**
 * Validators for values that end up on a command line or in an SSH connection:
 * each is a zod schema plus a plain predicate, so that parsers that do not use
 * zod can share the rule. Every schema's message says what was expected and what
 * was received, in one line.
 *
 * This module is imported by workflow code too, so it must not use Node built-ins.
 */
import { z } from 'zod';

/** Longest value shown back in a message, so a pasted blob cannot flood a log line. */
const SHOWN_CHARS = 40;

/** Describes a rejected input for a message: quoted and escaped strings, type names for the rest. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > SHOWN_CHARS ? `${value.slice(0, SHOWN_CHARS)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : typeof value;
}

/** A zod error callback: `expected <what>, received <input>`. */
export function expected(what: string): (issue: { input?: unknown }) => string {
  return (issue) => `expected ${what}, received ${describeValue(issue.input)}`;
}

// Names start with a letter, digit or underscore so that a name can never read
// as a command-line option (`-x`) or a relative path (`..`).
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const NAME_MAX = 253;
const NAME_RULE = `of letters, digits, '.', '_' and '-', starting with a letter, digit or '_'`;
const GROUP_RULE = `a group name ${NAME_RULE}`;
const HOST_RULE = `a host name ${NAME_RULE}`;

/** An inventory group name (`all` and `ungrouped` included). */
export function isGroupName(value: string): boolean {
  return value.length <= NAME_MAX && NAME.test(value);
}

/** An inventory host name: a group name that is not `all`, which names the group of every host. */
export function isHostName(value: string): boolean {
  return value !== 'all' && isGroupName(value);
}

export const groupNameSchema = z
  .string({ error: expected(GROUP_RULE) })
  .refine(isGroupName, { error: expected(GROUP_RULE) });

export const hostNameSchema = z
  .string({ error: expected(HOST_RULE) })
  .refine(isGroupName, { error: expected(HOST_RULE), abort: true })
  .refine((name) => name !== 'all', {
    error: 'expected a host name other than "all", which names every host',
  });

/** Dotted-quad IPv4 without leading zeros, which some resolvers would read as octal. */
export function isIPv4Address(value: string): boolean {
  const parts = value.split('.');
  if (parts.length !== 4) return false;
  return parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

function isHexGroups(text: string, max: number): boolean {
  if (text === '') return true;
  const groups = text.split(':');
  return groups.length <= max && groups.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group));
}

/** An IPv6 literal without brackets, optionally with an embedded IPv4 tail and a `%zone` suffix. */
export function isIPv6Address(value: string): boolean {
  const [literal = '', zone, ...rest] = value.split('%');
  if (rest.length > 0 || (zone !== undefined && !/^[A-Za-z0-9_.-]+$/.test(zone))) return false;
  if (!literal.includes(':')) return false;

  // An embedded IPv4 tail (`::ffff:192.0.2.1`) takes the room of two groups.
  let hex = literal;
  const tailStart = literal.lastIndexOf(':') + 1;
  const tail = literal.slice(tailStart);
  if (tail.includes('.')) {
    if (!isIPv4Address(tail)) return false;
    hex = `${literal.slice(0, tailStart)}0:0`;
  }

  const halves = hex.split('::');
  if (halves.length > 2) return false;
  const [head = '', after] = halves;
  if (after === undefined) return hex.split(':').length === 8 && isHexGroups(hex, 8);

  // `::` stands for at least one zero group, so the written groups number at most seven.
  const headCount = head === '' ? 0 : head.split(':').length;
  return isHexGroups(head, 7) && isHexGroups(after, 7 - headCount);
}

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * A DNS name made of RFC 1123 labels. A name whose last label is all digits is
 * refused: it can only be a mistyped IPv4 address (RFC 1123 section 2.1).
 */
export function isDnsName(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  const labels = value.split('.');
  const last = labels[labels.length - 1] ?? '';
  return labels.every((label) => DNS_LABEL.test(label)) && !/^[0-9]+$/.test(last);
}

/** Where to connect: a DNS name or an IP literal, so no space, shell metacharacter or leading `-`. */
export function isHostAddress(value: string): boolean {
  return isIPv4Address(value) || isIPv6Address(value) || isDnsName(value);
}

const ADDRESS_RULE = 'a DNS name or an IPv4/IPv6 address';

export const hostAddressSchema = z
  .string({ error: expected(ADDRESS_RULE) })
  .refine(isHostAddress, { error: expected(ADDRESS_RULE) });

export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

const PORT_RULE = 'an integer port from 1 to 65535';

export const portSchema = z
  .number({ error: expected(PORT_RULE) })
  .refine(isPort, { error: expected(PORT_RULE) });

/** POSIX-portable user names as useradd accepts them by default, capped at 32 characters like Linux. */
export function isUserName(value: string): boolean {
  return value.length <= 32 && /^[a-z_][a-z0-9_.-]*$/.test(value);
}

const USER_RULE = 'a user name matching [a-z_][a-z0-9_.-]* of at most 32 characters';

export const userNameSchema = z
  .string({ error: expected(USER_RULE) })
  .refine(isUserName, { error: expected(USER_RULE) });

// Values for package managers, files and images. Each rule is an allow-list of
// ASCII characters, so shell metacharacters, quotes, whitespace, control
// characters and look-alikes such as the fullwidth semicolon never pass.

/** A Debian policy package name (section 5.6.1); RPM names of Docker's packages fit it too. */
export function isPackageName(value: string): boolean {
  return value.length <= 128 && /^[a-z0-9][a-z0-9+.-]+$/.test(value);
}

const PACKAGE_RULE = 'a package name matching [a-z0-9][a-z0-9+.-]+';

export const packageNameSchema = z
  .string({ error: expected(PACKAGE_RULE) })
  .refine(isPackageName, { error: expected(PACKAGE_RULE) });

/** A package version (`[epoch:]upstream[-revision]`); the first character is never `-`, so never an option. */
export function isPackageVersion(value: string): boolean {
  return value.length <= 128 && /^[A-Za-z0-9][A-Za-z0-9.+~:-]*$/.test(value);
}

const VERSION_RULE = 'a package version of letters, digits and . + ~ : - that starts with a letter or digit';

export const packageVersionSchema = z
  .string({ error: expected(VERSION_RULE) })
  .refine(isPackageVersion, { error: expected(VERSION_RULE) });

// Mirror URLs need no query, fragment or credentials; leaving out `?`, `#`, `&`,
// `$`, `;`, quotes and brackets other than an IPv6 host keeps them inert in a
// file and in a log line alike.
const URL_CHARS = /^[A-Za-z0-9._~:/@%+,=-]+$/;
const URL_IPV6_HOST = /^(https?):\/\/\[[0-9A-Fa-f:.]+\](:[0-9]+)?(\/[A-Za-z0-9._~:/@%+,=-]*)?$/;

/** An `http://` or `https://` URL with a host and without credentials, query or fragment. */
export function isUrl(value: string): boolean {
  if (value.length > 2048) return false;
  if (!URL_CHARS.test(value) && !URL_IPV6_HOST.test(value)) return false;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return false;
  }
  const schemeOk = parsed.protocol === 'http:' || parsed.protocol === 'https:';
  const noCredentials = parsed.username === '' && parsed.password === '';
  return (
    schemeOk && noCredentials && parsed.hostname !== '' && value.toLowerCase().startsWith(parsed.protocol)
  );
}

const URL_RULE = 'an http:// or https:// URL without spaces, quotes, credentials, query or fragment';

export const urlSchema = z.string({ error: expected(URL_RULE) }).refine(isUrl, { error: expected(URL_RULE) });

/** An absolute, normalised path: no `.`/`..` segments, no empty segments, only portable file name characters. */
export function isAbsolutePath(value: string): boolean {
  if (value.length > 4096 || !/^(\/[A-Za-z0-9._+@-]+)+\/?$|^\/$/.test(value)) return false;
  return value.split('/').every((segment) => segment !== '.' && segment !== '..');
}

const PATH_RULE = 'an absolute path of letters, digits and . _ + @ - without . or .. segments';

export const absolutePathSchema = z
  .string({ error: expected(PATH_RULE) })
  .refine(isAbsolutePath, { error: expected(PATH_RULE) });

// The reference grammar of the distribution project (reference/regexp.go):
// an optional registry host with port, lower-case path components, a tag, a digest.
const IMAGE_DOMAIN =
  '(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?';
const IMAGE_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const IMAGE_REF = new RegExp(
  `^(?:${IMAGE_DOMAIN}/)?${IMAGE_COMPONENT}(?:/${IMAGE_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
);

/** A Docker image reference such as `rollbook/hello:1` or `registry:5000/team/app@sha256:…`. */
export function isImageRef(value: string): boolean {
  return value.length <= 255 && IMAGE_REF.test(value);
}

const IMAGE_RULE =
  'an image reference such as rollbook/hello:1 (lower-case name, optional registry, tag, digest)';

export const imageRefSchema = z
  .string({ error: expected(IMAGE_RULE) })
  .refine(isImageRef, { error: expected(IMAGE_RULE) });
