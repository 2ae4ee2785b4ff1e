import {
  planWaves,
  thresholdExceeded,
  toleratedFailures,
  wavesSchema,
  failureThresholdSchema,
} from '../../src/rollout/policy';

describe('planWaves', () => {
  it('repeats a fixed count until every host is covered', () => {
    expect(planWaves(7, 3)).toEqual([3, 3, 1]);
  });

  it('turns a percentage into a count of the selected hosts, at least one', () => {
    expect(planWaves(10, '25%')).toEqual([2, 2, 2, 2, 2]);
    expect(planWaves(3, '10%')).toEqual([1, 1, 1]);
  });

  it('follows a ramp and repeats its last entry', () => {
    expect(planWaves(40, [1, 5, '25%'])).toEqual([1, 5, 10, 10, 10, 4]);
  });

  it('returns no wave for no host', () => {
    expect(planWaves(0, 5)).toEqual([]);
  });
});

describe('failure threshold', () => {
  it('tolerates exactly the threshold and stops when it is exceeded', () => {
    const tolerated = toleratedFailures(1, 6);
    expect(thresholdExceeded(1, tolerated)).toBe(false);
    expect(thresholdExceeded(2, tolerated)).toBe(true);
  });

  it('rounds a percentage down, so 10% of 9 hosts tolerates none', () => {
    expect(toleratedFailures('10%', 9)).toBe(0);
    expect(toleratedFailures('10%', 20)).toBe(2);
  });

  it('never stops without a threshold', () => {
    expect(thresholdExceeded(1000, toleratedFailures(undefined, 10))).toBe(false);
  });
});

describe('policy schemas', () => {
  it.each([[-1], [0], ['0%'], ['150%'], ['abc'], [[]], [1.5]])('rejects the wave size %j', (value) => {
    expect(wavesSchema.safeParse(value).success).toBe(false);
  });

  it.each([[-1], ['-5%'], ['101%']])('rejects the failure threshold %j', (value) => {
    expect(failureThresholdSchema.safeParse(value).success).toBe(false);
  });
});
