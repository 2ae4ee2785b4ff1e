/**
 * Host facts: what rollbook learns about a host before it changes anything.
 * The probe is one constant shell script (no interpolated values) whose
 * `key=value` lines {@link parseFacts} turns into {@link HostFacts}.
 */

export type InitSystem = 'systemd' | 'sysv' | 'openrc' | 'upstart' | 'none';

export interface HostFacts {
  /** `ID` from /etc/os-release, e.g. `debian`, `ubuntu`, `centos`. */
  osId: string;
  /** `VERSION_ID` from /etc/os-release, e.g. `12`; empty when the file has none. */
  osVersion: string;
  /** `PRETTY_NAME` from /etc/os-release. */
  osName: string;
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

export function parseFacts(stdout: string): HostFacts {
  const values = readLines(stdout);
  const clientVersion = values.get('docker_client');
  const serverVersion = values.get('docker_server');
  return {
    osId: values.get('os_id') ?? 'unknown',
    osVersion: values.get('os_version') ?? '',
    osName: values.get('os_name') ?? '',
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
