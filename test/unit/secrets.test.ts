import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { utils } from 'ssh2';

import {
  chainSecretResolvers,
  defaultSecretResolver,
  dirSecretResolver,
  envSecretResolver,
  InvalidSecretNameError,
  isPrivateKey,
  normalizePrivateKey,
  SecretNotFoundError,
  secretEnvName,
} from '../../src/secrets';
import { generateEd25519 } from '../keys';

let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-secrets-'));
  await fs.writeFile(path.join(dir, 'registry-password'), 's3cret\n');
  await fs.writeFile(path.join(dir, 'fleet-key'), 'from-dir');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('envSecretResolver', () => {
  it('maps names to ROLLBOOK_SECRET_ variables', async () => {
    expect(secretEnvName('fleet-key')).toBe('ROLLBOOK_SECRET_FLEET_KEY');
    expect(secretEnvName('consul.gossip')).toBe('ROLLBOOK_SECRET_CONSUL_GOSSIP');
    const resolver = envSecretResolver({ ROLLBOOK_SECRET_FLEET_KEY: 'value' });
    await expect(resolver.resolve('fleet-key')).resolves.toBe('value');
  });

  it('names the secret and where it looked, never a value, when it is missing', async () => {
    const resolver = envSecretResolver({ ROLLBOOK_SECRET_OTHER: 'hidden-value' });
    const err = await resolver.resolve('fleet-key').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretNotFoundError);
    expect(err).toMatchObject({ secret: 'fleet-key', searched: ['env ROLLBOOK_SECRET_FLEET_KEY'] });
    expect((err as Error).message).toBe(
      'secret not found: fleet-key (looked in env ROLLBOOK_SECRET_FLEET_KEY)',
    );
  });
});

describe('dirSecretResolver', () => {
  it('reads <dir>/<name> and drops one trailing newline', async () => {
    await expect(dirSecretResolver(dir).resolve('registry-password')).resolves.toBe('s3cret');
  });

  it('refuses names that could leave the directory', async () => {
    for (const name of ['../etc/passwd', 'a/b', '..', 'a..b', '', '.hidden']) {
      await expect(dirSecretResolver(dir).resolve(name)).rejects.toBeInstanceOf(InvalidSecretNameError);
    }
  });

  it('reports a missing file as SecretNotFoundError', async () => {
    await expect(dirSecretResolver(dir).resolve('absent')).rejects.toMatchObject({
      name: 'SecretNotFoundError',
      searched: [path.join(dir, 'absent')],
    });
  });
});

describe('chaining', () => {
  it('takes the first resolver that has the secret and lists every place searched otherwise', async () => {
    const chain = chainSecretResolvers(
      envSecretResolver({ ROLLBOOK_SECRET_FLEET_KEY: 'from-env' }),
      dirSecretResolver(dir),
    );
    await expect(chain.resolve('fleet-key')).resolves.toBe('from-env');
    await expect(chain.resolve('registry-password')).resolves.toBe('s3cret');
    await expect(chain.resolve('absent')).rejects.toMatchObject({
      searched: ['env ROLLBOOK_SECRET_ABSENT', path.join(dir, 'absent')],
    });
  });

  it('defaultSecretResolver uses the environment, then ROLLBOOK_SECRETS_DIR', async () => {
    const env = { ROLLBOOK_SECRETS_DIR: dir, ROLLBOOK_SECRET_FLEET_KEY: 'from-env' };
    await expect(defaultSecretResolver(env).resolve('fleet-key')).resolves.toBe('from-env');
    await expect(defaultSecretResolver(env).resolve('registry-password')).resolves.toBe('s3cret');
    await expect(defaultSecretResolver({}).resolve('registry-password')).rejects.toBeInstanceOf(
      SecretNotFoundError,
    );
  });
});

describe('private keys in secrets', () => {
  const key = generateEd25519().private;

  it('tells keys from passwords', () => {
    expect(isPrivateKey(key)).toBe(true);
    expect(isPrivateKey('-----BEGIN RSA PRIVATE KEY-----\n...')).toBe(true);
    expect(isPrivateKey('correct horse battery staple')).toBe(false);
  });

  it('restores the armor of an OpenSSH key stored without it', () => {
    const body = key
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    expect(isPrivateKey(body)).toBe(true);
    const parsed = utils.parseKey(normalizePrivateKey(body));
    expect(parsed).not.toBeInstanceOf(Error);
  });
});
