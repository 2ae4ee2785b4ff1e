import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  InvalidMirrorNameError,
  MirrorManifestError,
  mirrorRunArgs,
  mirrorSource,
  parseMirrorInspect,
  parseMirrorManifest,
  planMirrorContainer,
  renderDeb822Source,
  startMirror,
  stopMirror,
  type MirrorInfo,
} from '../../src/fleet/mirror';

const FINGERPRINT = '2AD9CC6243E19D4C105F2F5A7EAB6738E78E4D88';

function manifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 1,
    buildRev: '9822a9b0a5be6b47',
    builtAt: '2026-12-03T10:59:04Z',
    suite: 'bookworm',
    components: ['main'],
    architecture: 'amd64',
    origin: 'rollbook',
    label: 'rollbook test mirror',
    fingerprint: FINGERPRINT,
    keyFiles: { binary: 'key/mirror.gpg', armored: 'key/mirror.asc' },
    upstream: [{ suite: 'oldstable', date: 'Sat, 11 Jul 2026 10:16:37 UTC' }],
    closures: [
      {
        image: 'rollbook/fleet-sshd:bookworm',
        imageId: 'sha256:82c6',
        install: '--no-install-recommends docker.io',
        packages: [{ name: 'dmsetup', version: '2:1.02.185-2' }],
      },
    ],
    packages: [
      {
        name: 'dmsetup',
        version: '2:1.02.185-2',
        architecture: 'amd64',
        filename: 'pool/main/l/lvm2/dmsetup_1.02.185-2_amd64.deb',
        size: 82000,
        sha256: 'a'.repeat(64),
      },
    ],
    ...overrides,
  };
}

const ARMORED = [
  '-----BEGIN PGP PUBLIC KEY BLOCK-----',
  '',
  'mDMEZ0000BYJKwYBBAHaRw8BAQdA',
  '=abcd',
  '-----END PGP PUBLIC KEY BLOCK-----',
  '',
].join('\n');

const INFO: MirrorInfo = {
  container: 'rollbook-mirror-t1',
  network: 'rollbook-t1',
  hostName: 'mirror',
  url: 'http://mirror/debian',
  suite: 'bookworm',
  components: ['main'],
  keyFile: '/work/.rollbook/mirror/key/mirror.gpg',
  armoredKey: ARMORED,
  fingerprint: FINGERPRINT,
};

describe('parseMirrorManifest', () => {
  it('reads the packages, suite, component and fingerprint build.sh records', () => {
    const parsed = parseMirrorManifest(JSON.stringify(manifest()));
    expect(parsed.suite).toBe('bookworm');
    expect(parsed.components).toEqual(['main']);
    expect(parsed.fingerprint).toBe(FINGERPRINT);
    expect(parsed.packages.map((p) => `${p.name}=${p.version}`)).toEqual(['dmsetup=2:1.02.185-2']);
  });

  it('says the text is not JSON, naming the file and the next command', () => {
    expect(() => parseMirrorManifest('{', '/m/manifest.json')).toThrow(MirrorManifestError);
    expect(() => parseMirrorManifest('{', '/m/manifest.json')).toThrow(
      /invalid mirror manifest \/m\/manifest.json: not JSON.*fleet\/mirror\/build.sh --force/,
    );
  });

  it('lists each problem with its dotted path', () => {
    const bad = manifest({ fingerprint: 'abc', suite: 'trixie' });
    try {
      parseMirrorManifest(JSON.stringify(bad));
      throw new Error('expected a MirrorManifestError');
    } catch (error) {
      expect(error).toBeInstanceOf(MirrorManifestError);
      const problems = (error as MirrorManifestError).problems;
      expect(problems.some((p) => p.startsWith('suite:'))).toBe(true);
      expect(problems.some((p) => p.startsWith('fingerprint:'))).toBe(true);
    }
  });

  it('refuses a package file outside the repository', () => {
    const packages = [{ ...(manifest().packages as object[])[0], filename: 'pool/../../etc/passwd' }];
    expect(() => parseMirrorManifest(JSON.stringify(manifest({ packages })))).toThrow(
      /packages\[0\]\.filename/,
    );
  });

  it('refuses a key file given as an absolute path', () => {
    const keyFiles = { binary: '/etc/apt/trusted.gpg', armored: 'key/mirror.asc' };
    expect(() => parseMirrorManifest(JSON.stringify(manifest({ keyFiles })))).toThrow(/keyFiles\.binary/);
  });

  it('refuses a manifest without packages', () => {
    expect(() => parseMirrorManifest(JSON.stringify(manifest({ packages: [] })))).toThrow(/packages/);
  });
});

describe('mirror names', () => {
  it('refuses a name that cannot be part of a container name, before running docker', async () => {
    await expect(stopMirror('../x')).rejects.toThrow(InvalidMirrorNameError);
    await expect(startMirror({ name: 'Fleet 1', network: 'rollbook-t1' })).rejects.toThrow(
      /invalid mirror name/,
    );
  });

  it('refuses a network name that docker would read as an option', async () => {
    await expect(startMirror({ name: 't1', network: '--internal' })).rejects.toThrow(/invalid network name/);
  });
});

describe('planMirrorContainer', () => {
  const wanted = { network: 'rollbook-t1', fingerprint: FINGERPRINT };
  const running = {
    running: true,
    labels: { 'rollbook.mirror': 't1', 'rollbook.mirror.fingerprint': FINGERPRINT },
    networks: ['rollbook-t1'],
  };

  it('creates a container when there is none', () => {
    expect(planMirrorContainer(undefined, wanted)).toBe('create');
  });

  it('keeps a running container of the same build on the same network', () => {
    expect(planMirrorContainer(running, wanted)).toBe('reuse');
  });

  it('replaces a container that serves an earlier build', () => {
    const stale = {
      ...running,
      labels: { ...running.labels, 'rollbook.mirror.fingerprint': 'F'.repeat(40) },
    };
    expect(planMirrorContainer(stale, wanted)).toBe('replace');
  });

  it('replaces a stopped container and one on another network', () => {
    expect(planMirrorContainer({ ...running, running: false }, wanted)).toBe('replace');
    expect(planMirrorContainer({ ...running, networks: ['bridge'] }, wanted)).toBe('replace');
  });
});

describe('parseMirrorInspect', () => {
  it('reads state, labels and networks from docker inspect output', () => {
    const json = JSON.stringify([
      {
        State: { Running: true },
        Config: { Labels: { 'rollbook.mirror': 't1' } },
        NetworkSettings: { Networks: { 'rollbook-t1': { IPAddress: '172.18.0.2' } } },
      },
    ]);
    expect(parseMirrorInspect(json)).toEqual({
      running: true,
      labels: { 'rollbook.mirror': 't1' },
      networks: ['rollbook-t1'],
    });
  });

  it('treats null labels and networks as empty', () => {
    const json = JSON.stringify([
      { State: { Running: false }, Config: { Labels: null }, NetworkSettings: { Networks: null } },
    ]);
    expect(parseMirrorInspect(json)).toEqual({ running: false, labels: {}, networks: [] });
  });
});

describe('mirrorRunArgs', () => {
  const args = mirrorRunArgs({
    container: 'rollbook-mirror-t1',
    name: 't1',
    network: 'rollbook-t1',
    fingerprint: FINGERPRINT,
    dir: '/repo/.rollbook/mirror',
    image: 'rollbook/fleet-sshd:bookworm',
    server: '/repo/fleet/mirror/serve.py',
  });
  const mounts = args.flatMap((arg, i) => (args[i - 1] === '-v' ? [arg] : []));

  it('mounts dists, pool and the public key read-only, and never the private key', () => {
    expect(mounts).toHaveLength(5);
    for (const mount of mounts) expect(mount.endsWith(':ro')).toBe(true);
    expect(mounts.some((m) => m.includes('private'))).toBe(false);
    expect(mounts).toContain('/repo/.rollbook/mirror/dists:/srv/debian/dists:ro');
    expect(mounts).toContain('/repo/.rollbook/mirror/pool:/srv/debian/pool:ro');
  });

  it('joins the network under the alias mirror with labels for teardown and staleness', () => {
    expect(args.join(' ')).toContain('--network rollbook-t1 --network-alias mirror');
    expect(args).toContain('rollbook.mirror=t1');
    expect(args).toContain(`rollbook.mirror.fingerprint=${FINGERPRINT}`);
    expect(args).toContain('--read-only');
  });
});

describe('renderDeb822Source', () => {
  it('renders a stanza with a keyring path', () => {
    const text = renderDeb822Source({
      uris: ['http://mirror/debian'],
      suites: ['bookworm'],
      components: ['main'],
      signedBy: '/etc/apt/keyrings/rollbook-mirror.gpg',
    });
    expect(text).toBe(
      [
        'Types: deb',
        'URIs: http://mirror/debian',
        'Suites: bookworm',
        'Components: main',
        'Signed-By: /etc/apt/keyrings/rollbook-mirror.gpg',
        '',
      ].join('\n'),
    );
  });

  it('embeds an armored key indented, with its empty line written as " ."', () => {
    const text = mirrorSource(INFO);
    const lines = text.split('\n');
    const start = lines.indexOf('Signed-By:');
    expect(start).toBeGreaterThan(0);
    expect(lines.slice(start + 1, start + 4)).toEqual([
      ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
      ' .',
      ' mDMEZ0000BYJKwYBBAHaRw8BAQdA',
    ]);
    expect(lines.filter((l) => l.startsWith(' ')).length).toBe(5);
    expect(text.endsWith(' -----END PGP PUBLIC KEY BLOCK-----\n')).toBe(true);
  });

  it('uses the key path on the host when one is given', () => {
    expect(mirrorSource(INFO, '/etc/apt/keyrings/m.gpg')).toContain('\nSigned-By: /etc/apt/keyrings/m.gpg\n');
  });

  it('refuses values that would add a field or split a word', () => {
    const base = {
      uris: ['http://mirror/debian'],
      suites: ['bookworm'],
      components: ['main'],
      signedBy: '/k.gpg',
    };
    expect(() => renderDeb822Source({ ...base, suites: ['bookworm\nTrusted: yes'] })).toThrow(/Suites/);
    expect(() => renderDeb822Source({ ...base, components: ['main contrib'] })).toThrow(/Components/);
    expect(() => renderDeb822Source({ ...base, uris: [] })).toThrow(/URIs/);
    expect(() => renderDeb822Source({ ...base, signedBy: 'keyrings/k.gpg' })).toThrow(/absolute path/);
  });
});

describe('fleet/mirror/build.sh helpers', () => {
  const script = path.resolve(__dirname, '../../fleet/mirror/build.sh');

  /** Sources the script (which then runs nothing) and calls one of its functions. */
  function callBuildFunction(fn: string, arg: string): string {
    const body = `source "$1"; ${fn} "$2"`;
    return execFileSync('bash', ['-c', body, 'bash', script, arg], { encoding: 'utf8' });
  }

  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'rollbook-mirror-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("reads name, version and architecture from apt's simulated install", () => {
    const plan = [
      'NOTE: This is only a simulation!',
      'Inst perl-base [5.36.0-7+deb12u3] (5.36.0-7+deb12u4 Debian-Security:12/oldstable-security [amd64])',
      'Inst dmsetup (2:1.02.185-2 Debian:12.15/oldstable [amd64]) []',
      'Inst cgroupfs-mount (1.4 Debian:12.15/oldstable, Debian:12.15/oldstable-updates [all])',
      'Conf dmsetup (2:1.02.185-2 Debian:12.15/oldstable [amd64])',
    ].join('\n');
    const file = path.join(tmp, 'install-0.txt');
    writeFileSync(file, plan);
    expect(callBuildFunction('parse_plan', file)).toBe(
      [
        'perl-base\t5.36.0-7+deb12u4\tamd64',
        'dmsetup\t2:1.02.185-2\tamd64',
        'cgroupfs-mount\t1.4\tall',
        '',
      ].join('\n'),
    );
  });

  it("lays out the pool the way Debian's archive does", () => {
    expect(callBuildFunction('pool_dir', 'lvm2')).toBe('pool/main/l/lvm2\n');
    expect(callBuildFunction('pool_dir', 'libseccomp')).toBe('pool/main/libs/libseccomp\n');
    expect(callBuildFunction('pool_dir', 'lib')).toBe('pool/main/l/lib\n');
  });
});
