import type { z } from 'zod';
import {
  CHAPTER_STEPS,
  DEFAULT_YUM_SECTIONS,
  aptComponentSchema,
  aptSuiteSchema,
  armoredKeySchema,
  chapterParamsSchemas,
} from '../../src/chapters/catalog';
import { formatIssues } from '../../src/validation';
import {
  absolutePathSchema,
  imageRefSchema,
  packageNameSchema,
  packageVersionSchema,
  urlSchema,
  userNameSchema,
} from '../../src/validate';
import { MIRROR_KEY } from '../fixtures/chapters/helpers';
import { HOSTILE_VALUES } from '../hostile-values';

const SCHEMAS: Record<string, z.ZodType> = {
  packageNameSchema,
  packageVersionSchema,
  urlSchema,
  absolutePathSchema,
  imageRefSchema,
  aptSuiteSchema,
  aptComponentSchema,
  userNameSchema,
};

// Hostile values embedded in otherwise valid ones, so the allow-lists are tested past the first character.
const EMBEDDED = HOSTILE_VALUES.filter((v) => v !== '' && v !== '-n' && v !== '--help');
const HOSTILE_URLS = [
  ...HOSTILE_VALUES,
  ...EMBEDDED.map((v) => `http://mirror/debian${v}`),
  'ftp://mirror/debian',
  'file:///etc/passwd',
  'http://user:secret@mirror/debian',
  'http://mirror/debian?x=1',
  'http://mirror/debian#frag',
  'http://mirror/$(reboot)',
  'http://mirror/`reboot`',
  'http://mirror\uff1breboot/',
  'http://mirror/a\0b',
  'javascript:alert(1)',
  'http://',
];

describe('value validators', () => {
  it.each(Object.entries(SCHEMAS))('%s refuses every hostile value', (_, schema) => {
    for (const value of HOSTILE_VALUES) expect(schema.safeParse(value).success).toBe(false);
  });

  it.each(Object.entries(SCHEMAS).filter(([name]) => name !== 'urlSchema'))(
    '%s refuses hostile text inside an otherwise valid value',
    (_, schema) => {
      for (const value of EMBEDDED) expect(schema.safeParse(`main${value}`).success).toBe(false);
    },
  );

  it('refuses URLs with other schemes, credentials, queries or shell text', () => {
    for (const url of HOSTILE_URLS)
      expect({ url, ok: urlSchema.safeParse(url).success }).toEqual({ url, ok: false });
  });

  it('accepts the URLs, names and versions real mirrors and packages use', () => {
    for (const url of [
      'http://mirror/debian',
      'https://mirror.internal:8443/debian/',
      'http://[fd00::1]:8080/debian',
      'http://10.0.0.5/centos/7',
    ]) {
      expect(urlSchema.safeParse(url).success).toBe(true);
    }
    for (const name of ['docker.io', 'docker-ce', 'containerd.io', 'libc6', 'g++'])
      expect(packageNameSchema.safeParse(name).success).toBe(true);
    for (const v of [
      '20.10.24+dfsg1-1+deb12u1',
      '5:24.0.7-1~debian.12~bookworm',
      '1.13.1-209.git7d71120.el7.centos',
    ]) {
      expect(packageVersionSchema.safeParse(v).success).toBe(true);
    }
    for (const ref of [
      'rollbook/hello:1',
      'registry:5000/team/app:v2',
      'busybox',
      `alpine@sha256:${'a'.repeat(64)}`,
    ]) {
      expect(imageRefSchema.safeParse(ref).success).toBe(true);
    }
    expect(absolutePathSchema.safeParse('/var/lib/rollbook/images').success).toBe(true);
  });

  it('refuses relative paths, dot segments and upper-case image names', () => {
    for (const p of ['var/lib', '/var/../etc', '/var/./lib', '//etc', '/etc//apt'])
      expect(absolutePathSchema.safeParse(p).success).toBe(false);
    for (const ref of ['Rollbook/Hello:1', 'hello:', ':1', 'a//b'])
      expect(imageRefSchema.safeParse(ref).success).toBe(false);
  });

  it('accepts only public key blocks as signing keys, normalised to one trailing newline', () => {
    expect(armoredKeySchema.parse(`\r\n${MIRROR_KEY.replace(/\n/g, '\r\n')}\r\n\r\n`)).toBe(MIRROR_KEY);
    expect(armoredKeySchema.safeParse(MIRROR_KEY.replace(/PUBLIC/g, 'PRIVATE')).success).toBe(false);
    expect(armoredKeySchema.safeParse(`${MIRROR_KEY}$(reboot)`).success).toBe(false);
    expect(armoredKeySchema.safeParse(MIRROR_KEY.replace('=abcd', '=ab\u0000cd')).success).toBe(false);
  });
});

describe('chapter catalog', () => {
  it('lists the steps of each chapter in rollout order', () => {
    expect(CHAPTER_STEPS.mirror).toEqual(['signing-key', 'sources', 'refresh', 'upgrade']);
    expect(CHAPTER_STEPS.docker).toEqual([
      'support',
      'repository',
      'packages',
      'group',
      'service',
      'daemon',
      'verify',
    ]);
  });

  it('fills the mirror defaults: main, no upgrade, no revert, the runbook yum sections', () => {
    const params = chapterParamsSchemas.mirror.parse({
      url: 'http://mirror/debian',
      yum: { baseurl: 'http://mirror/centos/7' },
    });
    expect(params).toMatchObject({ components: ['main'], upgrade: false, revert: false });
    expect(params.suite).toBeUndefined();
    expect(params.yum?.sections).toEqual(DEFAULT_YUM_SECTIONS);
    expect(params.yum?.sections.filter((s) => !s.enabled).map((s) => s.id)).toEqual([
      'centosplus',
      'contrib',
    ]);
  });

  it('fills the docker defaults: present, distribution packages, no users, the hello image', () => {
    expect(chapterParamsSchemas.docker.parse({})).toEqual({
      state: 'present',
      source: 'distribution',
      users: [],
      purgeData: false,
      verifyImage: 'rollbook/hello:1',
    });
  });

  it('reports every hostile parameter on a line of its own, with its path', () => {
    const result = chapterParamsSchemas.mirror.safeParse({
      url: 'http://mirror/debian; rm -rf /',
      suite: '$(reboot)',
      components: ['main', '`id`'],
      signingKey: 'not a key',
      yum: { baseurl: "http://mirror/'x'", sections: [{ id: 'base\nx', path: '..', enabled: true }] },
      upgrade: 'yes',
    });
    expect(result.success).toBe(false);
    const lines = formatIssues(result.error!);
    expect(lines.map((line) => line.split(':')[0])).toEqual([
      'url',
      'suite',
      'components[1]',
      'signingKey',
      'yum.baseurl',
      'yum.sections[0].id',
      'yum.sections[0].path',
      'upgrade',
    ]);
    for (const line of lines) expect(line).not.toContain('\n');
    expect(lines[0]).toContain('received "http://mirror/debian; rm -rf /"');
  });

  it('refuses hostile docker parameters and inconsistent combinations', () => {
    const result = chapterParamsSchemas.docker.safeParse({
      version: '1.0; reboot',
      users: ['alice', 'bob$(id)', 'ro\uff1bot'],
      verifyImage: 'hello:1 && reboot',
      source: 'docker-ce',
      purgeData: true,
      unknown: 1,
    });
    expect(result.success).toBe(false);
    const paths = formatIssues(result.error!).map((line) => line.split(':')[0]);
    expect(paths).toEqual(
      expect.arrayContaining(['version', 'users[1]', 'users[2]', 'verifyImage', '(input)']),
    );

    const combos = chapterParamsSchemas.docker.safeParse({ source: 'docker-ce', purgeData: true });
    expect(formatIssues(combos.error!).map((line) => line.split(':')[0])).toEqual(['dockerCe', 'purgeData']);
  });

  it('asks for a mirror URL unless reverting', () => {
    const result = chapterParamsSchemas.mirror.safeParse({});
    expect(formatIssues(result.error!)).toEqual([
      'url: expected the mirror URL (url for apt hosts, yum.baseurl for yum/dnf hosts), received nothing',
    ]);
    expect(chapterParamsSchemas.mirror.safeParse({ revert: true }).success).toBe(true);
  });

  it('removes duplicate users', () => {
    expect(chapterParamsSchemas.docker.parse({ users: ['alice', 'alice', 'bob'] }).users).toEqual([
      'alice',
      'bob',
    ]);
  });
});
