/**
 * apt-get as every chapter runs it to change packages: never asking a question,
 * keeping a config file changed on the host (such as a patched init script), and
 * waiting up to two minutes for a dpkg lock another process holds.
 */
export function aptGetArgv(...args: string[]): string[] {
  return [
    'env',
    'DEBIAN_FRONTEND=noninteractive',
    'apt-get',
    '-y',
    '-q',
    ...['-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'],
    ...['-o', 'DPkg::Lock::Timeout=120'],
    ...args,
  ];
}
