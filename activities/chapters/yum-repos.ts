/**
 * yum/dnf repository files (yum.conf(5), `/etc/yum.repos.d/*.repo`): INI
 * sections whose `enabled` defaults to 1. Read far enough to tell whether a file
 * still enables a repository, and the CentOS-Base.repo-style file rollbook writes.
 */
import type { YumSection } from '../../src/chapters/catalog';

export interface YumRepo {
  id: string;
  enabled: boolean;
}

/** The sections of a repo file; `enabled=0|no|false|off` turns one off. */
export function parseRepoFile(text: string): YumRepo[] {
  const repos: YumRepo[] = [];
  let current: YumRepo | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section) {
      current = { id: section[1] ?? '', enabled: true };
      repos.push(current);
      continue;
    }
    const setting = /^enabled\s*=\s*(\S+)/i.exec(line);
    if (setting && current) current.enabled = !/^(0|no|false|off)$/i.test(setting[1] ?? '');
  }
  return repos;
}

export function isYumRepoPath(path: string): boolean {
  return /^\/etc\/yum\.repos\.d\/[A-Za-z0-9_.+-]+\.repo$/.test(path);
}

export interface MirrorRepoOptions {
  baseurl: string;
  gpgkey: string;
  sections: readonly YumSection[];
}

/**
 * One section per runbook repository: `BASEURL/PATH/$basearch/`, gpgcheck on.
 * `$basearch` is yum's variable, expanded by yum itself; the file never reaches a shell.
 */
export function renderRepoFile(options: MirrorRepoOptions, comment: string): string {
  const base = options.baseurl.replace(/\/+$/, '');
  const sections = options.sections.map((section) =>
    [
      `[${section.id}]`,
      `name=rollbook mirror - ${section.id}`,
      `baseurl=${base}/${section.path}/$basearch/`,
      `enabled=${section.enabled ? 1 : 0}`,
      'gpgcheck=1',
      `gpgkey=${options.gpgkey}`,
    ].join('\n'),
  );
  const header = comment.split('\n').map((line) => `# ${line}`.trimEnd());
  return `${[...header, '', sections.join('\n\n')].join('\n')}\n`;
}

/** Packages `yum check-update` / `dnf check-update` lists: `name.arch  version  repo`. */
export function parseCheckUpdate(stdout: string): Array<{ name: string; version: string }> {
  const packages: Array<{ name: string; version: string }> = [];
  for (const line of stdout.split('\n')) {
    // Stop at the obsoletes section, whose lines name what a package replaces.
    if (/^Obsoleting Packages/i.test(line)) break;
    const match = /^(\S+)\.([A-Za-z0-9_]+)\s+(\S+)\s+(\S+)\s*$/.exec(line);
    if (match) packages.push({ name: `${match[1] ?? ''}.${match[2] ?? ''}`, version: match[3] ?? '' });
  }
  return packages;
}
