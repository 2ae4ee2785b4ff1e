import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applySets } from '../../src/cli/sets';

describe('applySets', () => {
  it('sets nested parameters and parses JSON values', () => {
    const { params, problems } = applySets(
      [
        'mirror.url=http://mirror/debian',
        'mirror.upgrade=true',
        'docker.users=["ops","deploy"]',
        'mirror.yum.baseurl=http://m/centos',
      ],
      ['mirror', 'docker'],
    );
    expect(problems).toEqual([]);
    expect(params).toEqual({
      mirror: { url: 'http://mirror/debian', upgrade: true, yum: { baseurl: 'http://m/centos' } },
      docker: { users: ['ops', 'deploy'] },
    });
  });

  it('reads a value from a file with @path', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rollbook-sets-'));
    writeFileSync(path.join(dir, 'key.asc'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\n');
    const { params } = applySets([`mirror.signingKey=@${dir}/key.asc`], ['mirror']);
    expect(params.mirror?.signingKey).toBe('-----BEGIN PGP PUBLIC KEY BLOCK-----\n');
  });

  it('reports each malformed option and each chapter that is not selected', () => {
    const { problems } = applySets(['nonsense', 'consul.servers=3'], ['mirror']);
    expect(problems).toEqual([
      '--set nonsense: expected chapter.key=value, such as mirror.url=http://mirror/debian',
      '--set consul.servers=3: chapter "consul" is not in --chapters (mirror)',
    ]);
  });
});
