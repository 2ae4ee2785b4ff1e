/**
 * The runbook chapters rollbook can run: their names, the order of their steps
 * and the schema of their parameters, with defaults. Pure data and zod only, so
 * workflow code can import it to validate a rollout's input before any host is touched.
 *
 * Every value that ends up in a file or on a remote command line is validated
 * here with an allow-list; activities parse the parameters again on arrival.
 */
import { z } from 'zod';
import {
  expected,
  imageRefSchema,
  isAbsolutePath,
  packageNameSchema,
  packageVersionSchema,
  urlSchema,
  userNameSchema,
} from '../validate';

export type ChapterName = 'mirror' | 'docker';

/**
 * Step names in the order a rollout runs them. Every step decides for itself what
 * its parameters ask (a revert, an uninstall) and reports `skipped` when it has
 * nothing to do for them, so the order holds for every combination.
 */
export const CHAPTER_STEPS = {
  /** Chapter 1: switch the host's package sources to the internal mirror. */
  mirror: ['signing-key', 'sources', 'refresh', 'upgrade'],
  /** Chapter 2: install (or uninstall) Docker and prove it runs a container. */
  docker: ['support', 'repository', 'packages', 'group', 'service', 'daemon', 'verify'],
} as const satisfies Record<ChapterName, readonly string[]>;

export type StepName<C extends ChapterName> = (typeof CHAPTER_STEPS)[C][number];

export function isChapterName(name: string): name is ChapterName {
  return Object.prototype.hasOwnProperty.call(CHAPTER_STEPS, name);
}

export function isStepOf(chapter: ChapterName, step: string): boolean {
  return (CHAPTER_STEPS[chapter] as readonly string[]).includes(step);
}

const SUITE_RULE = 'an apt suite such as bookworm or bookworm-updates (letters, digits, . _ -)';
const COMPONENT_RULE = 'an apt component such as main or non-free/debian-installer';

/** `bookworm`, `bookworm-security`, `jammy-updates`. */
export const aptSuiteSchema = z
  .string({ error: expected(SUITE_RULE) })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: expected(SUITE_RULE) });

export const aptComponentSchema = z
  .string({ error: expected(COMPONENT_RULE) })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$/, {
    error: expected(COMPONENT_RULE),
  });

const KEY_RULE = 'an ASCII-armored PGP public key block';
const KEY_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const KEY_END = '-----END PGP PUBLIC KEY BLOCK-----';

/** An armored public key: printable ASCII lines between the public key markers, nothing else. */
export function isArmoredPublicKey(value: string): boolean {
  const text = value.replace(/\r\n/g, '\n').trim();
  if (text.length > 65_536 || !/^[\x20-\x7e\n]+$/.test(text)) return false;
  return text.startsWith(KEY_BEGIN) && text.endsWith(KEY_END) && text.indexOf(KEY_BEGIN, 1) === -1;
}

/** The mirror's signing key. It is public, so it may sit in workflow history and in reports. */
export const armoredKeySchema = z
  .string({ error: expected(KEY_RULE) })
  .refine(isArmoredPublicKey, { error: expected(KEY_RULE) })
  .transform((key) => `${key.replace(/\r\n/g, '\n').trim()}\n`);

const REPO_ID_RULE = 'a repository id of letters, digits and . _ : -';
const SEGMENT_RULE = 'one URL path segment of letters, digits and . _ -';

const yumSectionSchema = z.strictObject({
  /** The `[id]` of the section, e.g. `base`. */
  id: z
    .string({ error: expected(REPO_ID_RULE) })
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/, { error: expected(REPO_ID_RULE) }),
  /** Path below `yum.baseurl`; the section's URL is `BASEURL/PATH/$basearch/`. */
  path: z
    .string({ error: expected(SEGMENT_RULE) })
    .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/, { error: expected(SEGMENT_RULE) }),
  enabled: z.boolean(),
});

export type YumSection = z.output<typeof yumSectionSchema>;

/** The sections of the runbook's CentOS-Base.repo: base, updates and extras on; centosplus and contrib off. */
export const DEFAULT_YUM_SECTIONS: readonly YumSection[] = [
  { id: 'base', path: 'os', enabled: true },
  { id: 'updates', path: 'updates', enabled: true },
  { id: 'extras', path: 'extras', enabled: true },
  { id: 'centosplus', path: 'centosplus', enabled: false },
  { id: 'contrib', path: 'contrib', enabled: false },
];

const GPGKEY_RULE = 'an http(s):// URL or file:///absolute/path of the repository key';

/** yum accepts the key by URL or as a local file, as the runbook's `file:///etc/pki/rpm-gpg/…` does. */
export function isGpgKeyLocation(value: string): boolean {
  if (value.startsWith('file://')) return isAbsolutePath(value.slice('file://'.length));
  return urlSchema.safeParse(value).success;
}

const yumSchema = z.strictObject({
  /** The mirror's root for this release, e.g. `http://mirror/centos/7`. */
  baseurl: urlSchema,
  /** Default: the key the `signing-key` step writes from `signingKey`. */
  gpgkey: z
    .string({ error: expected(GPGKEY_RULE) })
    .refine(isGpgKeyLocation, { error: expected(GPGKEY_RULE) })
    .optional(),
  /** Default {@link DEFAULT_YUM_SECTIONS}. */
  sections: z
    .array(yumSectionSchema)
    .min(1)
    .default(() => DEFAULT_YUM_SECTIONS.map((section) => ({ ...section })))
    .refine((sections) => new Set(sections.map((s) => s.id)).size === sections.length, {
      error: 'expected section ids to be unique',
    }),
});

export const mirrorParamsSchema = z
  .strictObject({
    /** The apt mirror's URL, e.g. `http://mirror/debian`; required for apt hosts unless reverting. */
    url: urlSchema.optional(),
    /** apt suite; default the host's release codename (`VERSION_CODENAME`). */
    suite: aptSuiteSchema.optional(),
    /** apt components; default `['main']`. */
    components: z.array(aptComponentSchema).min(1).default(['main']),
    /** The mirror's armored public signing key; apt sources are `Signed-By` it. */
    signingKey: armoredKeySchema.optional(),
    /** The yum/dnf mirror, for RHEL-family hosts. */
    yum: yumSchema.optional(),
    /** Upgrade every package from the mirror after the switch; default false. */
    upgrade: z.boolean().default(false),
    /** Put the `.bak` files back and remove what rollbook wrote; default false. */
    revert: z.boolean().default(false),
  })
  .superRefine((params, ctx) => {
    if (params.revert || params.url || params.yum) return;
    ctx.addIssue({
      code: 'custom',
      path: ['url'],
      message: 'expected the mirror URL (url for apt hosts, yum.baseurl for yum/dnf hosts), received nothing',
    });
  });

const dockerCeSchema = z.strictObject({
  /** Docker's repository as the mirror serves it: the apt repository root, or the yum baseurl. */
  url: urlSchema,
  /** apt suite; default the host's release codename. */
  suite: aptSuiteSchema.optional(),
  /** apt components; default `['stable']`. */
  components: z.array(aptComponentSchema).min(1).default(['stable']),
});

export const dockerParamsSchema = z
  .strictObject({
    /** `present` installs and starts Docker (default); `absent` uninstalls it. */
    state: z.enum(['present', 'absent']).default('present'),
    /** `distribution` (default): docker.io on Debian/Ubuntu, docker on RHEL; `docker-ce`: Docker's packages via the mirror. */
    source: z.enum(['distribution', 'docker-ce']).default('distribution'),
    /** Where the mirror serves Docker's repository; required with `source: docker-ce`. */
    dockerCe: dockerCeSchema.optional(),
    /** With `source: distribution`, the package to install: default `docker.io` (apt) or `docker` (yum). */
    package: packageNameSchema.optional(),
    /** Exact package version to pin, as the package manager prints it; default the newest. */
    version: packageVersionSchema.optional(),
    /** Users added to the docker group, which is root-equivalent; they must exist. Default none. */
    users: z
      .array(userNameSchema)
      .default([])
      .transform((users) => [...new Set(users)]),
    /** With `state: absent`, also delete images, containers and volumes under /var/lib/docker; default false. */
    purgeData: z.boolean().default(false),
    /** Image whose container proves the daemon works; default `rollbook/hello:1`. */
    verifyImage: imageRefSchema.default('rollbook/hello:1'),
  })
  .superRefine((params, ctx) => {
    if (params.source === 'docker-ce' && params.state === 'present' && !params.dockerCe) {
      ctx.addIssue({
        code: 'custom',
        path: ['dockerCe'],
        message: 'expected dockerCe.url with source docker-ce, received nothing',
      });
    }
    if (params.purgeData && params.state !== 'absent') {
      ctx.addIssue({
        code: 'custom',
        path: ['purgeData'],
        message: 'expected purgeData only with state absent, received true',
      });
    }
  });

export type MirrorParams = z.output<typeof mirrorParamsSchema>;
export type DockerParams = z.output<typeof dockerParamsSchema>;

export interface ChapterParams {
  mirror: MirrorParams;
  docker: DockerParams;
}

export const chapterParamsSchemas = {
  mirror: mirrorParamsSchema,
  docker: dockerParamsSchema,
} as const satisfies Record<ChapterName, z.ZodType>;
