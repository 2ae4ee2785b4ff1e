/**
 * A local Temporal server (`temporal server start-dev`) for tests and the demo,
 * run from the CLI binary that `scripts/setup` installs. Nothing downloads at run
 * time: when no binary is found this fails with the command that installs one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { STATE_DIR } from '../paths';
import { searchAttributeFlags } from './search-attributes';

export interface DevServerOptions {
  /** Address to bind; default 127.0.0.1. */
  ip?: string;
  /** gRPC port; default a free port. */
  port?: number;
  /** Web UI port; default none (headless). */
  uiPort?: number;
  /** SQLite file that keeps state across restarts; default in-memory. */
  dbFile?: string;
  /** File that receives the server's stdout and stderr; default `<state>/temporal-<port>.log`. */
  logFile?: string;
  /** Extra `--dynamic-config-value KEY=JSON` settings. */
  dynamicConfig?: Record<string, unknown>;
  /** How long to wait for the server to answer; default 60 s (a cold 2-core machine needs more than 5 s). */
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  port: number;
  uiUrl?: string;
  pid: number;
  logFile: string;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** The Temporal CLI binary: `$ROLLBOOK_TEMPORAL_BIN`, the project-local install, then PATH. */
export function findTemporalBinary(): string {
  const candidates = [
    process.env.ROLLBOOK_TEMPORAL_BIN,
    path.join(STATE_DIR, 'tools', 'temporal-bin', 'bin', 'temporal'),
    ...(process.env.PATH ?? '').split(':').map((dir) => path.join(dir, 'temporal')),
  ];
  const found = candidates.find((candidate) => candidate && existsSync(candidate));
  if (!found)
    throw new Error('no Temporal CLI binary found: run scripts/setup, or set ROLLBOOK_TEMPORAL_BIN');
  return found;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function serverArgs(opts: DevServerOptions, ip: string, port: number): string[] {
  const dynamic = {
    'frontend.enableUpdateWorkflowExecution': true,
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
    ...opts.dynamicConfig,
  };
  return [
    'server', 'start-dev', '--ip', ip, '--port', String(port),
    '--log-level', 'warn', '--log-format', 'json',
    ...(opts.uiPort ? ['--ui-port', String(opts.uiPort), '--ui-ip', ip] : ['--headless']),
    ...(opts.dbFile ? ['--db-filename', opts.dbFile] : []),
    ...searchAttributeFlags(),
    ...Object.entries(dynamic).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ]; // prettier-ignore
}

/** Starts `temporal server start-dev` and resolves once its frontend answers. */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(ip));
  const logFile = opts.logFile ?? path.join(STATE_DIR, `temporal-${port}.log`);
  mkdirSync(path.dirname(logFile), { recursive: true });
  if (opts.dbFile) mkdirSync(path.dirname(opts.dbFile), { recursive: true });

  const log = openSync(logFile, 'a');
  const child = spawn(findTemporalBinary(), serverArgs(opts, ip, port), {
    // Same process group: Ctrl-C or a closed terminal stops the server with its parent.
    stdio: ['ignore', log, log],
  });
  const address = `${ip}:${port}`;
  try {
    await waitUntilServing(address, child, opts.startTimeoutMs ?? 60_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message} (log: ${logFile})`);
  }
  return {
    address,
    port,
    uiUrl: opts.uiPort ? `http://${ip}:${opts.uiPort}` : undefined,
    pid: child.pid ?? -1,
    logFile,
    stop: () => stopProcess(child),
  };
}

async function waitUntilServing(address: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exit: { code?: number } = {};
  child.once('exit', (code) => (exit.code = code ?? -1));
  for (;;) {
    if (exit.code !== undefined)
      throw new Error(`Temporal dev server exited with code ${exit.code} while starting`);
    if (await answers(address)) return;
    if (Date.now() > deadline)
      throw new Error(`Temporal dev server at ${address} did not answer in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** True when a Temporal frontend at `address` answers a system-info call. */
export async function answers(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2_000 });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close();
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
