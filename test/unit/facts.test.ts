import { execFileSync } from 'node:child_process';
import { FACTS_SCRIPT, parseFacts } from '../../src/facts';

describe('parseFacts', () => {
  it('reads a systemd host with a running Docker daemon', () => {
    const facts = parseFacts(
      [
        'os_id=debian',
        'os_version=12',
        'os_name=Debian GNU/Linux 12 (bookworm)',
        'kernel=6.1.0-18-amd64',
        'arch=x86_64',
        'pid1=systemd',
        'has_systemd=1',
        'docker_client=20.10.24+dfsg1',
        'docker_server=20.10.24+dfsg1',
      ].join('\n'),
    );
    expect(facts).toEqual({
      osId: 'debian',
      osVersion: '12',
      osName: 'Debian GNU/Linux 12 (bookworm)',
      osFamily: 'debian',
      kernel: '6.1.0-18-amd64',
      arch: 'x86_64',
      init: 'systemd',
      docker: { installed: true, clientVersion: '20.10.24+dfsg1', serverVersion: '20.10.24+dfsg1' },
    });
  });

  it('reports no init system in a container whose PID 1 is sshd, and a client without daemon', () => {
    const facts = parseFacts('os_id=debian\npid1=sshd\ndocker_client=20.10.24\ndocker_server=\n');
    expect(facts.init).toBe('none');
    expect(facts.docker).toEqual({ installed: true, clientVersion: '20.10.24' });
  });

  it('recognises SysV init and an absent Docker', () => {
    const facts = parseFacts('os_id=centos\nos_version=7\npid1=init\n');
    expect(facts.init).toBe('sysv');
    expect(facts.docker.installed).toBe(false);
  });

  it('probe script is valid POSIX sh and produces parseable output locally', () => {
    const stdout = execFileSync('/bin/sh', ['-c', FACTS_SCRIPT], { encoding: 'utf8' });
    const facts = parseFacts(stdout);
    expect(facts.kernel).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    expect(facts.arch).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
  });
});
