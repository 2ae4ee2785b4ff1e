/**
 * Where the worker finds image tars that chapters copy onto hosts (nothing is
 * pulled from a registry): `<dir>/<last path part of the name>-<tag>.tar`, e.g.
 * `rollbook/hello:1` → `<dir>/hello-1.tar`, as fleet/hello/build.sh writes it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import type { ImageSource } from '../activities/steps/runner';

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function dirImageSource(dir: string): ImageSource {
  const digests = new Map<string, Promise<string>>();
  return {
    async tarFor(ref: string) {
      const match = /^(?:.*\/)?([a-z0-9._-]+):([A-Za-z0-9._-]+)$/.exec(ref);
      if (!match)
        throw new Error(`image reference ${ref} has no name:tag form this worker can map to a file`);
      const tarFile = path.join(dir, `${match[1]}-${match[2]}.tar`);
      if (!existsSync(tarFile))
        throw new Error(`no tar for image ${ref} at ${tarFile}; build or copy it there`);
      let digest = digests.get(tarFile);
      if (!digest) digests.set(tarFile, (digest = sha256Of(tarFile)));
      return { tarFile, sha256: await digest };
    },
  };
}
