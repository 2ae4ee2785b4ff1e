import { runStep, type StepContext, type StepDefinition } from '../../activities/steps/runner';
import { PackageManagerLockedError } from '../../activities/steps/errors';
import { fileChange } from '../../activities/steps/host';
import type { SshPool } from '../../src/ssh';
import { debianFacts } from '../fixtures/chapters/helpers';

/** A host reduced to one value, and a step that wants it to be `wanted`. */
interface Fake {
  value: string;
  applied: number;
  verified: number;
  checked: number;
}

function fakeStep(fake: Fake, overrides: Partial<StepDefinition<{ wanted: string }, string, string>> = {}) {
  const def: StepDefinition<{ wanted: string }, string, string> = {
    name: 'fake',
    probe: () => Promise.resolve(fake.value),
    plan: (state, ctx) => (state === ctx.params.wanted ? null : ctx.params.wanted),
    changes: (plan) => [fileChange('/etc/fake', fake.value, plan)],
    apply: (_ctx, plan) => {
      fake.applied++;
      fake.value = plan;
      return Promise.resolve();
    },
    verify: () => {
      fake.verified++;
      return Promise.resolve();
    },
    check: () => {
      fake.checked++;
      return Promise.resolve();
    },
    ...overrides,
  };
  return def;
}

function context(
  wanted: string,
  checkMode = false,
  signal = new AbortController().signal,
): StepContext<{ wanted: string }> {
  return {
    target: { host: 'h1', address: '127.0.0.1', port: 22, user: 'root' },
    facts: debianFacts(),
    params: { wanted },
    checkMode,
    ssh: {} as SshPool,
    heartbeat: () => undefined,
    signal,
  };
}

const options = { chapter: 'test', now: () => 1000 };

describe('runStep', () => {
  it('reports ok without applying when the host is converged, and still runs the health check', async () => {
    const fake = { value: 'b', applied: 0, verified: 0, checked: 0 };
    const report = await runStep(fakeStep(fake), context('b'), options);
    expect(report).toEqual({
      chapter: 'test',
      step: 'fake',
      host: 'h1',
      status: 'ok',
      changes: [],
      checkMode: false,
      durationMs: 0,
    });
    expect(fake).toMatchObject({ applied: 0, verified: 0, checked: 1 });
  });

  it('in check mode reports the diff and applies nothing', async () => {
    const fake = { value: 'a\n', applied: 0, verified: 0, checked: 0 };
    const report = await runStep(fakeStep(fake), context('b\n', true), options);
    expect(report.status).toBe('changed');
    expect(report.checkMode).toBe(true);
    expect(report.changes[0]?.diff).toContain('-a\n+b');
    expect(fake).toMatchObject({ value: 'a\n', applied: 0, checked: 0 });
  });

  it('applies, re-probes for convergence, verifies and checks', async () => {
    const fake = { value: 'a', applied: 0, verified: 0, checked: 0 };
    const report = await runStep(fakeStep(fake), context('b'), options);
    expect(report.status).toBe('changed');
    expect(fake).toEqual({ value: 'b', applied: 1, verified: 1, checked: 1 });
    expect((await runStep(fakeStep(fake), context('b'), options)).status).toBe('ok');
  });

  it('fails with the reason when apply does not converge', async () => {
    const fake = { value: 'a', applied: 0, verified: 0, checked: 0 };
    const stuck = fakeStep(fake, { apply: () => Promise.resolve() });
    const report = await runStep(stuck, context('b'), options);
    expect(report.status).toBe('failed');
    expect(report.reason).toBe(
      'NotConvergedError: step fake did not converge, still planned: update /etc/fake: h1',
    );
    expect(report.changes).toHaveLength(1);
    expect(fake.verified).toBe(0);
  });

  it('fails with a one-line reason when verify throws', async () => {
    const fake = { value: 'a', applied: 0, verified: 0, checked: 0 };
    const bad = fakeStep(fake, { verify: () => Promise.reject(new Error('wrong\nresult')) });
    expect(await runStep(bad, context('b'), options)).toMatchObject({
      status: 'failed',
      reason: 'Error: wrong\\nresult',
    });
  });

  it('skips with the reason before probing', async () => {
    const fake = { value: 'a', applied: 0, verified: 0, checked: 0 };
    const probe = jest.fn(() => Promise.resolve('a'));
    const skipped = fakeStep(fake, { skip: () => 'not requested', probe });
    expect(await runStep(skipped, context('b'), options)).toMatchObject({
      status: 'skipped',
      reason: 'not requested',
      changes: [],
    });
    expect(probe).not.toHaveBeenCalled();
  });

  it('throws retryable errors for the retry policy instead of reporting them', async () => {
    const fake = { value: 'a', applied: 0, verified: 0, checked: 0 };
    const locked = fakeStep(fake, {
      apply: () =>
        Promise.reject(
          new PackageManagerLockedError('h1', 'apt-get update', 'Could not get lock /var/lib/apt/lists/lock'),
        ),
    });
    await expect(runStep(locked, context('b'), options)).rejects.toMatchObject({
      name: 'PackageManagerLockedError',
      retryable: true,
    });
  });

  it('stops before applying when the activity is cancelled', async () => {
    const fake = { value: 'a', applied: 0, verified: 0, checked: 0 };
    const controller = new AbortController();
    const cancelling = fakeStep(fake, {
      probe: () => {
        controller.abort(new Error('cancelled'));
        return Promise.resolve(fake.value);
      },
    });
    await expect(runStep(cancelling, context('b', false, controller.signal), options)).rejects.toThrow(
      'cancelled',
    );
    expect(fake.applied).toBe(0);
  });
});
