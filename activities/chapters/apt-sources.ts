/**
 * apt's two source formats, read far enough to tell whether a file still
 * enables a source (sources.list(5)): one-line `deb [options] URI suite comp…`
 * in `sources.list` and `*.list`, and deb822 stanzas in `*.sources`. Plus the
 * deb822 file rollbook writes for the mirror.
 */

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  enabled: boolean;
}

/** Entries of a one-line-style file; commented lines are not entries. */
export function parseOneLineSources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const match = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(line);
    if (!match) continue;
    const [, type = '', uri = '', suite = '', rest = ''] = match;
    const components = rest.trim() === '' ? [] : rest.trim().split(/\s+/);
    sources.push({ types: [type], uris: [uri], suites: [suite], components, enabled: true });
  }
  return sources;
}

/**
 * Stanzas of a deb822 file. Field names are case-insensitive; a line starting
 * with white space continues the previous field (an inline `Signed-By` key).
 */
export function parseDeb822Sources(text: string): AptSource[] {
  const stanzas: Array<Map<string, string>> = [];
  let fields = new Map<string, string>();
  let last: string | undefined;
  const end = () => {
    if (fields.size > 0) stanzas.push(fields);
    fields = new Map();
    last = undefined;
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.trim() === '') {
      end();
    } else if (/^\s/.test(line)) {
      if (last !== undefined) fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
    } else {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon).trim().toLowerCase();
      fields.set(last, line.slice(colon + 1).trim());
    }
  }
  end();
  return stanzas.filter((s) => s.has('types')).map(toSource);
}

function toSource(fields: Map<string, string>): AptSource {
  const words = (name: string) => (fields.get(name) ?? '').split(/\s+/).filter((w) => w !== '');
  const enabled = (fields.get('enabled') ?? 'yes').toLowerCase() !== 'no';
  return {
    types: words('types'),
    uris: words('uris'),
    suites: words('suites'),
    components: words('components'),
    enabled,
  };
}

/** The sources a file enables, read in the format its name says. */
export function enabledSources(path: string, text: string): AptSource[] {
  const sources = path.endsWith('.sources') ? parseDeb822Sources(text) : parseOneLineSources(text);
  return sources.filter((s) => s.enabled && s.uris.length > 0);
}

/** Whether apt reads this path as a source file (apt skips `.bak` and other suffixes silently). */
export function isAptSourcePath(path: string): boolean {
  if (path === '/etc/apt/sources.list') return true;
  const dir = '/etc/apt/sources.list.d/';
  if (!path.startsWith(dir)) return false;
  const name = path.slice(dir.length);
  return /^[A-Za-z0-9_.-]+\.(list|sources)$/.test(name);
}

export interface MirrorSourcesOptions {
  url: string;
  suite: string;
  components: readonly string[];
  keyPath: string;
}

/** The deb822 stanza for the mirror; every value was validated by the chapter's schema. */
export function renderDeb822(options: MirrorSourcesOptions, comment: string): string {
  return [
    ...comment.split('\n').map((line) => `# ${line}`.trimEnd()),
    'Types: deb',
    `URIs: ${options.url}`,
    `Suites: ${options.suite}`,
    `Components: ${options.components.join(' ')}`,
    `Signed-By: ${options.keyPath}`,
    '',
  ].join('\n');
}
