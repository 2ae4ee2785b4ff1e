/**
 * The command audit of fleet hosts. sshd runs every session through
 * /usr/local/sbin/fleet-audit (fleet/fleet-audit), which appends one line per
 * session: `<epoch seconds.micros> <command>`, with `\\`, `\n` and `\r` escaped.
 * Port forwarding (e.g. to /var/run/docker.sock) opens no session and is not logged.
 */

export const AUDIT_LOG = '/var/log/rollbook-audit.log';

/** The sftp subsystem as it appears in the log. */
export const SFTP_SESSION = '/usr/lib/openssh/sftp-server';

export interface AuditEntry {
  /** When the session started, in milliseconds since the epoch. */
  atMs: number;
  /** The command as the client sent it; empty for an interactive login. */
  command: string;
}

/** Parses the log; lines that do not look like entries are skipped. */
export function parseAuditLog(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+(?:\.\d+)?) (.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined) continue;
    entries.push({ atMs: Math.round(Number(match[1]) * 1000), command: unescapeCommand(match[2]) });
  }
  return entries;
}

function unescapeCommand(text: string): string {
  const replacements: Record<string, string> = { '\\\\': '\\', '\\n': '\n', '\\r': '\r' };
  return text.replace(/\\[\\nr]/g, (seq) => replacements[seq] ?? seq);
}
