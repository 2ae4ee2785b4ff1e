/**
 * dockerode over the pooled SSH connection against a real dockerd: a systemd
 * fleet host on an internal network installs docker.io from the fleet's apt
 * mirror. Independent of Temporal.
 */
import { readAuditLog, startFleet, stopFleet } from '../../src/fleet';
import type { FleetInfo } from '../../src/fleet';
import { mirrorSource, startMirror, stopMirror } from '../../src/fleet/mirror';
import { SshPool } from '../../src/ssh';
import type { SshTarget } from '../../src/ssh';

const fleetName = `ssh-dk-${process.pid}-${Date.now().toString(36)}`.slice(0, 32);
let fleet: FleetInfo;
let target: SshTarget;
const pools: SshPool[] = [];

function pool(): SshPool {
  const p = new SshPool({ knownHostsFile: fleet.knownHostsFile });
  pools.push(p);
  return p;
}

beforeAll(async () => {
  fleet = await startFleet({ name: fleetName, count: 1, kind: 'systemd', internal: true });
  const mirror = await startMirror({ network: fleet.network, name: fleetName });
  const h = fleet.hosts[0]!;
  const credential = { type: 'key-file', path: fleet.privateKeyFile } as const;
  target = { host: h.name, address: h.address, port: h.port, user: h.user, credential };

  const p = pool();
  await p.run(target, 'rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*');
  await p.writeFile(target, '/etc/apt/sources.list.d/mirror.sources', mirrorSource(mirror));
  const install = 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io';
  await p.run(target, `${install} && systemctl is-active docker`, { timeoutMs: 600_000 });
}, 900_000);

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await stopMirror(fleetName);
  await stopFleet(fleetName);
});

describe('docker(target) against dockerd', () => {
  it('answers Engine API calls through streamlocal channels on one connection', async () => {
    const p = pool();
    const docker = p.docker(target);
    expect(String(await docker.ping())).toBe('OK');
    expect((await docker.version()).ApiVersion).toMatch(/^1\.\d+$/);

    const pings = await Promise.all(Array.from({ length: 30 }, () => docker.ping()));
    expect(pings.map(String)).toEqual(Array.from({ length: 30 }, () => 'OK'));
    expect(p.connectionCount()).toBe(1);
    expect((await readAuditLog(fleet, target.host)).filter((c) => c.includes('dial-stdio'))).toEqual([]);
  });

  it('falls back to docker system dial-stdio when sshd refuses streamlocal forwarding', async () => {
    const setup = pool();
    const refuse =
      "sed -i 's/^AllowStreamLocalForwarding yes/AllowStreamLocalForwarding no/' /etc/ssh/sshd_config.d/rollbook.conf";
    await setup.run(target, `${refuse} && systemctl restart ssh`);
    await setup.close();

    const docker = pool().docker(target);
    expect(String(await docker.ping())).toBe('OK');
    expect((await docker.listContainers({ all: true })).length).toBeGreaterThanOrEqual(0);
    expect((await readAuditLog(fleet, target.host)).filter((c) => c.includes('dial-stdio'))).toHaveLength(2);
  });
});
