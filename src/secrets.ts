/**
 * Named secrets, resolved on the worker only. Inventories and workflow inputs
 * carry secret names; the value never enters Temporal history, logs or errors.
 */

import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface SecretResolver {
  /** The secret's value; rejects with {@link SecretNotFoundError} when it is not there. */
  resolve(name: string): Promise<string>;
}

export class SecretNotFoundError extends Error {
  override readonly name = 'SecretNotFoundError';

  constructor(
    readonly secret: string,
    /** Where it was looked for, e.g. `env ROLLBOOK_SECRET_FLEET_KEY`. */
    readonly searched: readonly string[],
  ) {
    super(`secret not found: ${secret} (looked in ${searched.join(', ') || 'nothing'})`);
  }
}

export class InvalidSecretNameError extends Error {
  override readonly name = 'InvalidSecretNameError';

  constructor(readonly secret: string) {
    super(`invalid secret name: ${JSON.stringify(secret)} (use letters, digits, '.', '_' and '-')`);
  }
}

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Refuses names that could escape a directory or collide after mapping. */
export function validateSecretName(name: string): void {
  if (!SECRET_NAME.test(name) || name.includes('..')) throw new InvalidSecretNameError(name);
}

/** `fleet-key` → `ROLLBOOK_SECRET_FLEET_KEY`. */
export function secretEnvName(name: string): string {
  return `ROLLBOOK_SECRET_${name.toUpperCase().replace(/[.-]/g, '_')}`;
}

/** Secrets from environment variables named by {@link secretEnvName}. */
export function envSecretResolver(env: NodeJS.ProcessEnv = process.env): SecretResolver {
  return {
    resolve(name) {
      validateSecretName(name);
      const variable = secretEnvName(name);
      const value = env[variable];
      if (value === undefined || value === '') {
        return Promise.reject(new SecretNotFoundError(name, [`env ${variable}`]));
      }
      return Promise.resolve(value);
    },
  };
}

/**
 * Secrets as files `<dir>/<name>` (one trailing newline is dropped, so
 * `echo pw > file` works), as mounted by Docker or Kubernetes secrets.
 */
export function dirSecretResolver(dir: string): SecretResolver {
  return {
    async resolve(name) {
      validateSecretName(name);
      const file = path.join(dir, name);
      try {
        const value = await fs.readFile(file, 'utf8');
        return value.replace(/\r?\n$/, '');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SecretNotFoundError(name, [file]);
        throw err;
      }
    },
  };
}

/** Tries each resolver in order; the first one that has the secret wins. */
export function chainSecretResolvers(...resolvers: SecretResolver[]): SecretResolver {
  return {
    async resolve(name) {
      const searched: string[] = [];
      for (const resolver of resolvers) {
        try {
          return await resolver.resolve(name);
        } catch (err) {
          if (!(err instanceof SecretNotFoundError)) throw err;
          searched.push(...err.searched);
        }
      }
      throw new SecretNotFoundError(name, searched);
    },
  };
}

/** Environment first, then `$ROLLBOOK_SECRETS_DIR` when it is set. */
export function defaultSecretResolver(env: NodeJS.ProcessEnv = process.env): SecretResolver {
  const dir = env.ROLLBOOK_SECRETS_DIR;
  const resolvers = [envSecretResolver(env)];
  if (dir) resolvers.push(dirSecretResolver(dir));
  return chainSecretResolvers(...resolvers);
}

/** base64 of the `openssh-key-v1\0` magic that opens an unarmored OpenSSH key. */
const OPENSSH_KEY_BODY = 'b3BlbnNzaC1rZXktdjE';

/** Whether a secret holds a private key (PEM or OpenSSH) rather than a password. */
export function isPrivateKey(secret: string): boolean {
  const text = secret.trimStart();
  return text.startsWith('-----BEGIN ') || text.startsWith(OPENSSH_KEY_BODY);
}

/** The key in the armored form ssh2 parses; an unarmored OpenSSH body gets its armor back. */
export function normalizePrivateKey(secret: string): string {
  const text = secret.trim();
  if (!text.startsWith(OPENSSH_KEY_BODY)) return `${text}\n`;
  const body = text.replace(/\s+/g, '').replace(/(.{70})/g, '$1\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${body.trimEnd()}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
