import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { envSecretResolver } from '../../src/secrets';
import { generateEd25519 } from '../keys';
import { AuthenticationFailedError } from '../../src/ssh';
import { resolveAuth } from '../../src/ssh/auth';

let dir: string;
const plain = generateEd25519();
const encrypted = generateEd25519({
  passphrase: 'open sesame',
  cipher: 'aes256-ctr',
  rounds: 16,
});

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rollbook-ssh-auth-'));
  await fs.writeFile(path.join(dir, 'plain'), plain.private);
  await fs.writeFile(path.join(dir, 'encrypted'), encrypted.private);
  await fs.writeFile(path.join(dir, 'garbage'), 'not a key');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const ctx = (env: NodeJS.ProcessEnv = {}) => ({
  host: 'web-1',
  user: 'root',
  secrets: envSecretResolver(env),
});

describe('resolveAuth', () => {
  it('reads a key file, with its passphrase from a named secret', async () => {
    const auth = await resolveAuth(
      { type: 'key-file', path: path.join(dir, 'encrypted'), passphraseSecret: 'key-pass' },
      ctx({ ROLLBOOK_SECRET_KEY_PASS: 'open sesame' }),
    );
    expect(auth.passphrase).toBe('open sesame');
    expect(auth.privateKey?.toString()).toBe(encrypted.private);
  });

  it('refuses an encrypted key without passphrase, an unreadable file and a non-key', async () => {
    const cases = [
      [{ type: 'key-file', path: path.join(dir, 'encrypted') }, 'is encrypted and no passphrase was given'],
      [{ type: 'key-file', path: path.join(dir, 'absent') }, 'cannot read key file'],
      [{ type: 'key-file', path: path.join(dir, 'garbage') }, 'is not a usable private key'],
    ] as const;
    for (const [credential, reason] of cases) {
      const err = await resolveAuth(credential, ctx()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationFailedError);
      expect((err as Error).message).toContain(reason);
    }
  });

  it('uses a secret as a key when it holds one and as a password otherwise', async () => {
    const env = { ROLLBOOK_SECRET_K: plain.private, ROLLBOOK_SECRET_P: 'hunter2' };
    expect((await resolveAuth({ type: 'secret', name: 'k' }, ctx(env))).privateKey).toContain(
      'OPENSSH PRIVATE KEY',
    );
    expect(await resolveAuth({ type: 'secret', name: 'p' }, ctx(env))).toEqual({ password: 'hunter2' });
  });

  it('names a missing secret without revealing anything else', async () => {
    const err = await resolveAuth({ type: 'secret', name: 'fleet-key' }, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationFailedError);
    expect((err as Error).message).toBe(
      'authentication failed (secret not found: fleet-key (looked in env ROLLBOOK_SECRET_FLEET_KEY)): root@web-1',
    );
  });

  it('uses the agent socket given, or SSH_AUTH_SOCK', async () => {
    expect(await resolveAuth({ type: 'agent', socket: '/run/agent.sock' }, ctx())).toEqual({
      agent: '/run/agent.sock',
    });
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      await expect(resolveAuth(undefined, ctx())).rejects.toThrow('SSH_AUTH_SOCK is not set');
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });
});
