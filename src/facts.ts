/**
 * Host facts: what rollbook learns about a host before it changes anything.
 * The probe is one constant shell script (no interpolated values) whose
 * `key=value` lines {@link parseFacts} turns into {@link HostFacts}.
 */

export type InitSystem = 'systemd' | 'sysv' | 'openrc' | 'upstart' | 'none';

/** Which package family a distribution belongs to: apt (`debian`), yum/dnf (`rhel`), or neither. */
export type OsFamily = 'debian' | 'rhel' | 'unknown';

export interface HostFacts {
  /** `ID` from /etc/os-release, e.g. `debian`, `ubuntu`, `centos`. */
  osId: string;
  /** `VERSION_ID` from /etc/os-release, e.g. `12`; empty when the file has none. */
  osVersion: string;
  /** `PRETTY_NAME` from /etc/os-release. */
  osName: string;
  /** `VERSION_CODENAME` (or `UBUNTU_CODENAME`) from /etc/os-release, e.g. `bookworm`; absent when the file has none (CentOS 7). */
  osCodename?: string;
  /** From `ID` and `ID_LIKE`: `debian` for Debian, Ubuntu and derivatives, `rhel` for RHEL, CentOS, Fedora and rebuilds. */
  osFamily: OsFamily;
  /** `uname -r`. */
  kernel: string;
  /** `uname -m`, e.g. `x86_64`, `aarch64`. */
  arch: string;
  /** The service manager that runs as PID 1, or `none` when PID 1 is a plain process (a container). */
  init: InitSystem;
  docker: {
    /** A `docker` client is on the PATH. */
    installed: boolean;
    clientVersion?: string;
    /** Set when the daemon answered `docker version`. */
    serverVersion?: string;
  };
}

export const FACTS_SCRIPT = [
  'if [ -r /etc/os-release ]; then . /etc/os-release; fi',
  'echo "os_id=${ID:-unknown}"',
  'echo "os_version=${VERSION_ID:-}"',
  'echo "os_name=${PRETTY_NAME:-}"',
  'echo "os_codename=${VERSION_CODENAME:-${UBUNTU_CODENAME:-}}"',
  'echo "os_like=${ID_LIKE:-}"',
  'echo "kernel=$(uname -r)"',
  'echo "arch=$(uname -m)"',
  'echo "pid1=$(cat /proc/1/comm 2>/dev/null)"',
  'if [ -d /run/systemd/system ]; then echo has_systemd=1; fi',
  'if [ -x /sbin/openrc ] || [ -x /usr/sbin/openrc ]; then echo has_openrc=1; fi',
  'if [ -x /sbin/initctl ] && /sbin/initctl version 2>/dev/null | grep -q upstart; then echo has_upstart=1; fi',
  'if command -v docker >/dev/null 2>&1; then',
  '  echo "docker_client=$(docker version --format "{{.Client.Version}}" 2>/dev/null || echo unknown)"',
  '  echo "docker_server=$(docker version --format "{{.Server.Version}}" 2>/dev/null)"',
  'fi',
].join('\n');

function readLines(stdout: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return values;
}

function initSystem(values: Map<string, string>): InitSystem {
  const pid1 = values.get('pid1') ?? '';
  if (values.has('has_systemd') && pid1 === 'systemd') return 'systemd';
  if (values.has('has_upstart') && pid1 === 'init') return 'upstart';
  if (values.has('has_openrc') && pid1 === 'init') return 'openrc';
  if (pid1 === 'init') return 'sysv';
  return 'none';
}

const RHEL_LIKE = new Set(['rhel', 'centos', 'fedora', 'rocky', 'almalinux', 'ol', 'amzn']);

/** The family from `ID` and the space-separated `ID_LIKE` list. */
export function osFamilyOf(osId: string, osLike = ''): OsFamily {
  const ids = [osId, ...osLike.split(/\s+/)].map((id) => id.toLowerCase());
  if (ids.some((id) => id === 'debian' || id === 'ubuntu')) return 'debian';
  if (ids.some((id) => RHEL_LIKE.has(id))) return 'rhel';
  return 'unknown';
}

export function parseFacts(stdout: string): HostFacts {
  const values = readLines(stdout);
  const clientVersion = values.get('docker_client');
  const serverVersion = values.get('docker_server');
  const osId = values.get('os_id') ?? 'unknown';
  const osCodename = values.get('os_codename');
  return {
    osId,
    osVersion: values.get('os_version') ?? '',
    osName: values.get('os_name') ?? '',
    ...(osCodename ? { osCodename } : {}),
    osFamily: osFamilyOf(osId, values.get('os_like')),
    kernel: values.get('kernel') ?? '',
    arch: values.get('arch') ?? '',
    init: initSystem(values),
    docker: {
      installed: clientVersion !== undefined,
      ...(clientVersion ? { clientVersion } : {}),
      ...(serverVersion ? { serverVersion } : {}),
    },
  };
}
