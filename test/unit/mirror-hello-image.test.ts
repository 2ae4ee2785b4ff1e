import {
  HELLO_IMAGE,
  HELLO_OUTPUT,
  HelloImageRecordError,
  parseHelloRecord,
} from '../../src/fleet/hello-image';

const RECORD = {
  ref: HELLO_IMAGE,
  imageId: `sha256:${'d'.repeat(64)}`,
  sha256: 'e'.repeat(64),
  busybox: '1:1.35.0-4+deb12u1+b1',
  output: HELLO_OUTPUT,
};

describe('parseHelloRecord', () => {
  it('reads the image id and the tar digest fleet/hello/build.sh wrote', () => {
    const parsed = parseHelloRecord(JSON.stringify(RECORD));
    expect(parsed.ref).toBe('rollbook/hello:1');
    expect(parsed.sha256).toBe('e'.repeat(64));
  });

  it('refuses a record of another image, naming the file and the rebuild command', () => {
    const other = JSON.stringify({ ...RECORD, ref: 'rollbook/hello:2' });
    expect(() => parseHelloRecord(other, '/s/hello-1.json')).toThrow(HelloImageRecordError);
    expect(() => parseHelloRecord(other, '/s/hello-1.json')).toThrow(
      /\/s\/hello-1.json: ref: .*fleet\/hello\/build.sh --force/,
    );
  });

  it('refuses a digest that is not 64 hex digits', () => {
    expect(() => parseHelloRecord(JSON.stringify({ ...RECORD, sha256: 'xyz' }))).toThrow(/sha256/);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parseHelloRecord('')).toThrow(/not JSON/);
  });
});
