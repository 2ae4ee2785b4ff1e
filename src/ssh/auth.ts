/**
 * Turns an inventory {@link Credential} into ssh2 connect options. Keys and
 * passwords are read here, on the worker, at connect time, and kept only in the
 * ssh2 config of that one connection.
 */

import { promises as fs } from 'node:fs';
import { utils } from 'ssh2';

import type { Credential } from '../inventory/model';
import { isPrivateKey, normalizePrivateKey, SecretNotFoundError } from '../secrets';
import type { SecretResolver } from '../secrets';
import { AuthenticationFailedError } from './errors';

export interface AuthOptions {
  privateKey?: string | Buffer;
  passphrase?: string;
  password?: string;
  agent?: string;
}

export interface AuthContext {
  host: string;
  user: string;
  secrets: SecretResolver;
}

/** ssh2 auth options for a credential; with none, the worker's ssh-agent. */
export async function resolveAuth(
  credential: Credential | undefined,
  ctx: AuthContext,
): Promise<AuthOptions> {
  switch (credential?.type) {
    case undefined:
      return agentAuth(undefined, ctx);
    case 'agent':
      return agentAuth(credential.socket, ctx);
    case 'key-file':
      return keyFileAuth(credential.path, credential.passphraseSecret, ctx);
    case 'secret':
      return secretAuth(credential.name, ctx);
  }
}

function agentAuth(socket: string | undefined, ctx: AuthContext): AuthOptions {
  const agent = socket ?? process.env.SSH_AUTH_SOCK;
  if (!agent) {
    throw new AuthenticationFailedError(
      ctx.host,
      ctx.user,
      'no credential given and SSH_AUTH_SOCK is not set',
    );
  }
  return { agent };
}

async function keyFileAuth(
  file: string,
  passphraseSecret: string | undefined,
  ctx: AuthContext,
): Promise<AuthOptions> {
  let privateKey: Buffer;
  try {
    privateKey = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new AuthenticationFailedError(ctx.host, ctx.user, `cannot read key file ${file}: ${code}`, {
      cause: err,
    });
  }
  const passphrase = passphraseSecret ? await resolveSecret(passphraseSecret, ctx) : undefined;
  checkKey(privateKey, passphrase, `key file ${file}`, ctx);
  return { privateKey, passphrase };
}

async function secretAuth(name: string, ctx: AuthContext): Promise<AuthOptions> {
  const value = await resolveSecret(name, ctx);
  if (!isPrivateKey(value)) return { password: value };

  const privateKey = normalizePrivateKey(value);
  checkKey(privateKey, undefined, `secret ${name}`, ctx);
  return { privateKey };
}

async function resolveSecret(name: string, ctx: AuthContext): Promise<string> {
  try {
    return await ctx.secrets.resolve(name);
  } catch (err) {
    const reason = err instanceof SecretNotFoundError ? err.message : `cannot resolve secret ${name}`;
    throw new AuthenticationFailedError(ctx.host, ctx.user, reason, { cause: err });
  }
}

/** Parses the key up front: ssh2 would throw from connect() with a less useful message. */
function checkKey(
  key: string | Buffer,
  passphrase: string | undefined,
  source: string,
  ctx: AuthContext,
): void {
  const parsed = utils.parseKey(key, passphrase);
  if (!(parsed instanceof Error)) return;
  let reason = `${source} is not a usable private key`;
  if (passphrase !== undefined) reason = `${source} cannot be decrypted with the passphrase given`;
  else if (/encrypted/i.test(parsed.message)) reason = `${source} is encrypted and no passphrase was given`;
  throw new AuthenticationFailedError(ctx.host, ctx.user, reason);
}
