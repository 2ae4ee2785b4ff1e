import {
  HostPatternError,
  inventoryFromDocument,
  selectHosts,
  validateHostPattern,
} from '../../src/inventory';

/**
 * web1..web3 in web (web3 also in canary, a child of web), db1 and db2 in db,
 * lb.example.com in no group; prod holds web and db.
 */
const inventory = inventoryFromDocument({
  hosts: {
    'lb.example.com': null,
    web1: null,
    web2: null,
    web3: null,
    db1: null,
    db2: { address: '2001:db8::2' },
  },
  groups: {
    web: { hosts: ['web1', 'web2'], children: ['canary'] },
    canary: { hosts: ['web3'] },
    db: { hosts: ['db1', 'db2'] },
    prod: { children: ['web', 'db'] },
  },
});

const names = (pattern: string): string[] => selectHosts(inventory, pattern).map((host) => host.name);

function patternError(pattern: string): HostPatternError {
  try {
    selectHosts(inventory, pattern);
  } catch (err) {
    if (err instanceof HostPatternError) return err;
    throw err;
  }
  throw new Error(`expected "${pattern}" to fail`);
}

describe('selectHosts', () => {
  it('selects every host with all or *, in inventory order', () => {
    const every = ['lb.example.com', 'web1', 'web2', 'web3', 'db1', 'db2'];
    expect(names('all')).toEqual(every);
    expect(names('*')).toEqual(every);
  });

  it('selects a host by name and a group with the hosts of its children', () => {
    expect(names('db1')).toEqual(['db1']);
    expect(names('web')).toEqual(['web1', 'web2', 'web3']);
    expect(names('ungrouped')).toEqual(['lb.example.com']);
  });

  it('unions terms separated by ":" or ",", keeping inventory order and dropping repeats', () => {
    expect(names('db:web')).toEqual(['web1', 'web2', 'web3', 'db1', 'db2']);
    expect(names('db1,web1,db1')).toEqual(['web1', 'db1']);
  });

  it('intersects with & and excludes with !, with or without a leading ":"', () => {
    expect(names('prod:&web')).toEqual(['web1', 'web2', 'web3']);
    expect(names('prod:!web')).toEqual(['db1', 'db2']);
    expect(names('prod&canary')).toEqual(['web3']);
    expect(names('web!canary')).toEqual(['web1', 'web2']);
    expect(names('web,!web2')).toEqual(['web1', 'web3']);
  });

  it('applies unions, then intersections, then exclusions, whatever their order', () => {
    expect(names('!canary:web')).toEqual(['web1', 'web2']);
    expect(names('&web:db1:canary')).toEqual(['web3']);
    expect(names('!db:&prod:web:db')).toEqual(['web1', 'web2', 'web3']);
  });

  it('starts from all when there are only exclusions or intersections', () => {
    expect(names('!prod')).toEqual(['lb.example.com']);
    expect(names('&db')).toEqual(['db1', 'db2']);
  });

  it('matches globs with * and ? against host and group names', () => {
    expect(names('web?')).toEqual(['web1', 'web2', 'web3']);
    expect(names('*.example.com')).toEqual(['lb.example.com']);
    expect(names('can*')).toEqual(['web3']);
    expect(names('d?1')).toEqual(['db1']);
  });

  it('matches ~regex at the start of names, like Ansible', () => {
    expect(names('~web[13]')).toEqual(['web1', 'web3']);
    expect(names('~(db|lb)')).toEqual(['lb.example.com', 'db1', 'db2']);
    expect(names('~.*2$')).toEqual(['web2', 'db2']);
    expect(patternError('~eb').message).toBe('pattern "~eb" matches no host; no host or group matches "~eb"');
  });

  it('matches names only, never addresses', () => {
    expect(patternError('2001:db8::2').message).toBe(
      'invalid host pattern "2001:db8::2": it is an IPv6 address; patterns match inventory names, not addresses',
    );
  });

  it('throws when the whole pattern matches nothing, naming the terms that matched nothing', () => {
    const error = patternError('wbe:dbb');
    expect(error.message).toBe('pattern "wbe:dbb" matches no host; no host or group matches "wbe", "dbb"');
    expect(error.unmatched).toEqual(['wbe', 'dbb']);
    expect(patternError('web:&db').message).toBe('pattern "web:&db" matches no host');
  });

  it('returns what matched when only some terms match nothing', () => {
    expect(names('web1:nosuchhost')).toEqual(['web1']);
  });
});

describe('host pattern validation', () => {
  it('finds nothing wrong with well-formed patterns', () => {
    for (const pattern of ['all', 'web:&prod:!canary', 'web*,db?', '~web[0-9]+$', 'a.b-c_d']) {
      expect(validateHostPattern(pattern)).toEqual([]);
    }
  });

  it('reports empty patterns and empty terms by position', () => {
    expect(validateHostPattern('')).toEqual(['the pattern is empty']);
    expect(validateHostPattern('  ')).toEqual(['the pattern is empty']);
    expect(validateHostPattern('web::db')).toEqual(['empty term at character 5']);
    expect(validateHostPattern(':web')).toEqual(['empty term at character 1']);
    expect(validateHostPattern('web:')).toEqual(['empty term at the end of the pattern']);
    expect(validateHostPattern('web:&')).toEqual(['empty term at the end of the pattern']);
    expect(validateHostPattern('web:!!db')).toEqual(['two operators in a row at character 6']);
  });

  it('reports characters that cannot appear, each once', () => {
    expect(validateHostPattern('web;db')).toEqual(['character ";" at 4 cannot appear in a host pattern']);
    expect(validateHostPattern('a b c')).toEqual(['character " " at 2 cannot appear in a host pattern']);
    expect(validateHostPattern('`id`')).toEqual(['character "`" at 1 cannot appear in a host pattern']);
    expect(validateHostPattern(`'web'`)).toEqual([`character "'" at 1 cannot appear in a host pattern`]);
    expect(validateHostPattern('"web"')).toEqual(['character "\\"" at 1 cannot appear in a host pattern']);
    expect(validateHostPattern('web\n')).toEqual(['character "\\n" at 4 cannot appear in a host pattern']);
  });

  it('allows regex syntax such as $ only after ~', () => {
    expect(validateHostPattern('$web')).toEqual([
      'character "$" in term "$web" is allowed only in a ~regex term',
    ]);
    expect(validateHostPattern('web[1]')).toEqual([
      'character "[" in term "web[1]" is allowed only in a ~regex term',
    ]);
    expect(validateHostPattern('~web$')).toEqual([]);
  });

  it('reports invalid and empty regular expressions', () => {
    expect(validateHostPattern('~web(')).toEqual([
      'term "~web(" is not a valid regular expression: Invalid regular expression: /web(/: Unterminated group',
    ]);
    expect(validateHostPattern('web:~')).toEqual(['term at character 5 is an empty regular expression']);
  });

  it('makes selectHosts throw the same problems, one line each', () => {
    const error = patternError('web;db::x');
    expect(error.problems).toEqual([
      'character ";" at 4 cannot appear in a host pattern',
      'empty term at character 8',
    ]);
    expect(error.message.split('\n')).toEqual([
      'invalid host pattern "web;db::x": character ";" at 4 cannot appear in a host pattern',
      'invalid host pattern "web;db::x": empty term at character 8',
    ]);
  });
});
