/**
 * Live progress of a running rollout: the CLI pages through the rollout's host
 * events (so nothing between two polls is missed) and prints one line per
 * event; on a terminal it also draws a progress bar.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { WorkflowHandle } from '@temporalio/client';
import { hostEventsQuery, progressQuery, type HostEvent, type RolloutProgress } from '../rollout/messages';

export interface WatchOptions {
  /** Poll interval; default 500 ms. */
  intervalMs?: number;
  /** Draw a bar; default when stdout is a terminal. */
  bar?: boolean;
  write?: (line: string) => void;
}

export function describeEvent(event: HostEvent): string {
  switch (event.kind) {
    case 'step':
      return `${event.host}: ${event.chapter}/${event.step}`;
    case 'running':
      return `${event.host}: started`;
    default:
      return `${event.host}: ${event.kind}${event.reason ? ` (${event.reason})` : ''}`;
  }
}

function endedHosts(progress: RolloutProgress): number {
  const { counts } = progress;
  return counts.succeeded + counts.failed + counts.cancelled + counts['not-started'];
}

/** Prints progress until `done` settles; returns the last progress seen. */
export async function watchRollout(
  handle: WorkflowHandle,
  done: Promise<unknown>,
  opts: WatchOptions = {},
): Promise<RolloutProgress | undefined> {
  // MultiBar, even for one bar: only its log() prints lines above a bar that keeps redrawing in place.
  const bars =
    (opts.bar ?? Boolean(process.stdout.isTTY))
      ? new MultiBar(
          { format: ' {bar} {value}/{total} hosts | {phase}', stream: process.stdout, hideCursor: true },
          Presets.shades_classic,
        )
      : undefined;
  let bar: SingleBar | undefined;
  const write = (line: string) => (bars ? bars.log(`${line}\n`) : (opts.write ?? console.log)(line));
  let since = 0;
  let phase = '';
  let last: RolloutProgress | undefined;
  let finished = false;
  void done.then(
    () => (finished = true),
    () => (finished = true),
  );

  const poll = async (): Promise<void> => {
    try {
      const page = await handle.query(hostEventsQuery, since);
      if (page.dropped > 0) write(`(${page.dropped} host events not shown)`);
      for (const event of page.events) write(describeEvent(event));
      since = page.next;
      last = await handle.query(progressQuery);
    } catch {
      return; // not started yet, or closed between polls; the result tells the rest
    }
    if (last.phase !== phase) {
      phase = last.phase;
      write(`rollout: ${phase}${phase === 'awaiting-approval' ? ` (wave ${last.wave})` : ''}`);
    }
    bar ??= bars?.create(Object.keys(last.hosts).length, 0, { phase });
    bar?.update(endedHosts(last), { phase });
  };

  while (!finished) {
    await poll();
    await Promise.race([
      done.catch(() => undefined),
      new Promise((r) => setTimeout(r, opts.intervalMs ?? 500)),
    ]);
  }
  await poll();
  bars?.stop();
  return last;
}
