/**
 * Live progress of a running rollout: the CLI polls the rollout's progress query
 * and prints one line per host event; on a terminal it also draws a progress bar.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import { progressQuery, type HostProgress, type RolloutProgress } from '../rollout/messages';

export interface WatchOptions {
  intervalMs?: number;
  /** Draw a bar; default when stdout is a terminal. */
  bar?: boolean;
  write?: (line: string) => void;
}

function describe(host: string, now: HostProgress): string {
  switch (now.state) {
    case 'running':
      return now.step ? `${host}: ${now.chapter}/${now.step}` : `${host}: started (wave ${now.wave})`;
    case 'succeeded':
      return `${host}: succeeded (${now.changed ?? 0} steps changed)`;
    default:
      return `${host}: ${now.state}${now.reason ? ` (${now.reason})` : ''}`;
  }
}

function eventKey(progress: HostProgress): string {
  return `${progress.state}/${progress.chapter ?? ''}/${progress.step ?? ''}`;
}

/** Prints progress until `done` settles; returns the last progress seen. */
export async function watchRollout(
  handle: WorkflowHandle,
  done: Promise<unknown>,
  opts: WatchOptions = {},
): Promise<RolloutProgress | undefined> {
  const write = opts.write ?? ((line: string) => console.log(line));
  const useBar = opts.bar ?? Boolean(process.stdout.isTTY);
  const bar = useBar
    ? new SingleBar(
        { format: ' {bar} {value}/{total} hosts | {phase}', clearOnComplete: true },
        Presets.shades_classic,
      )
    : undefined;
  const seen = new Map<string, string>();
  let last: RolloutProgress | undefined;
  let phase = '';
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);

  const poll = async (): Promise<void> => {
    try {
      last = await handle.query(progressQuery);
    } catch {
      return; // not started yet, or closed between polls; the result tells the rest
    }
    const total = Object.keys(last.hosts).length;
    const ended =
      last.counts.succeeded + last.counts.failed + last.counts.cancelled + last.counts['not-started'];
    if (bar && !bar.isActive) bar.start(total, ended, { phase: last.phase });
    for (const [host, progress] of Object.entries(last.hosts)) {
      const key = eventKey(progress);
      if (progress.state === 'pending' || seen.get(host) === key) continue;
      seen.set(host, key);
      const line = describe(host, progress);
      if (bar) bar.update(ended, { phase: last.phase });
      if (bar) process.stdout.write('\r\x1b[K');
      write(line);
    }
    if (last.phase !== phase) {
      phase = last.phase;
      write(`rollout: ${phase}${last.phase === 'awaiting-approval' ? ` (wave ${last.wave})` : ''}`);
    }
    bar?.update(ended, { phase: last.phase });
  };

  while (!finished) {
    await poll();
    await Promise.race([
      done.catch(() => undefined),
      new Promise((r) => setTimeout(r, opts.intervalMs ?? 1_000)),
    ]);
  }
  await poll();
  bar?.stop();
  return last;
}
