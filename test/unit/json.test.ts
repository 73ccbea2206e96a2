import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  hasPossiblyUnsafeNumber,
  isJsonObject,
  isLosslessNumber,
  jsonEqual,
  LosslessNumber,
  parseJson,
  stringifyJson,
} from '../../src/migration/json.ts';

describe('parseJson', () => {
  it('keeps integers beyond 2^53 as lossless numbers and safe numbers as plain numbers', () => {
    const value = parseJson('{"big":12345678901234567890,"max":9007199254740991,"over":9007199254740993,"n":42,"f":0.5}');
    expect(value).toEqual({
      big: new LosslessNumber('12345678901234567890'),
      max: 9007199254740991,
      over: new LosslessNumber('9007199254740993'),
      n: 42,
      f: 0.5,
    });
  });

  it.each([
    ['0.1', false],
    ['123456789012345', false],
    ['-123456789012345.5', false],
    ['1e5', false],
    ['-0', false],
    ['1234567890123456789', true],
    ['0.12345678901234567890123', true],
    ['1.0000000000000000001', true],
    ['1e400', true],
    ['-1e-400', true],
  ])('reads %s losslessly (lossless number: %s)', (text, lossless) => {
    const value = parseJson(`[${text}]`) as unknown[];
    expect(isLosslessNumber(value[0])).toBe(lossless);
    if (!lossless) expect(value[0]).toBe(JSON.parse(text));
  });

  it('agrees with JSON.parse on values without unsafe numbers, whichever parser runs', () => {
    const text = '{"a":[1,2.5,-3e2,"x\\u00e9",true,null,{"b":{}}],"digits":"1234567890123456789","e":"3e4"}';
    expect(parseJson(text)).toEqual(JSON.parse(text));
  });

  it.each([
    ['{"id":"0f3e4a1b-4e5f-4a7b-9c1d-2e3f4a5b6c7d"}', false, 'hex digits before an e, inside a string'],
    ['{"phone":"123456789012345678"}', false, 'a long digit run inside a string'],
    ['{"s":"a\\"1e5","n":1}', false, 'an escaped quote does not end the string'],
    ['{"s":"a\\\\","n":1234567890123456789}', true, 'an escaped backslash before the closing quote'],
    ['{"a":"x","n":12345678901234567}', true, 'a long number after a string'],
    ['[1e5,"x"]', true, 'an exponent outside strings'],
    ['{"a":"1e5","b":"2E3","c":3}', false, 'exponents only inside strings'],
    ['{"a":"unterminated 1e5', true, 'malformed text goes to the lossless parser'],
  ])('hasPossiblyUnsafeNumber(%s) is %s: %s', (text, expected) => {
    expect(hasPossiblyUnsafeNumber(text)).toBe(expected);
  });

  it('keeps the last of duplicate keys, as JSON.parse and jsonb do', () => {
    expect(parseJson('{"a":1,"a":2}')).toEqual({ a: 2 });
    expect(parseJson('{"a":1,"a":12345678901234567890}')).toEqual({ a: new LosslessNumber('12345678901234567890') });
  });

  it('reads a __proto__ key as data, not as a prototype', () => {
    const value = parseJson('{"__proto__":{"polluted":1},"n":12345678901234567890}');
    expect(isJsonObject(value)).toBe(true);
    expect(Object.keys(value as object)).toEqual(['__proto__', 'n']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('throws on invalid JSON', () => {
    expect(() => parseJson('{"a":')).toThrow();
    expect(() => parseJson('{"a":1234567890123456789')).toThrow();
  });
});

describe('stringifyJson', () => {
  it('writes big numbers back exactly as they were read', () => {
    const text = '{"input":{"id":12345678901234567890,"ratio":0.12345678901234567890123},"ok":[1,2.5,"s",null,false]}';
    expect(stringifyJson(parseJson(text))).toBe(text);
  });

  it('writes a big number nested deep in arrays and objects (the lossless path) exactly', () => {
    const text = '[{"a":[{"b":{"c":[1,12345678901234567890]}}]}]';
    expect(stringifyJson(parseJson(text))).toBe(text);
  });

  it('writes values without lossless numbers exactly as JSON.stringify does', () => {
    const value = { s: 'é"\\\n', n: [0, -1.5, 1e21], nested: { t: true, f: null }, d: new Date(0), u: [undefined] };
    expect(stringifyJson(value)).toBe(JSON.stringify(value));
  });

  it('drops undefined object values like JSON.stringify and refuses a value with no JSON form', () => {
    expect(stringifyJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(() => stringifyJson(undefined)).toThrow(TypeError);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and writes lossless numbers as their text', () => {
    const a = parseJson('{"b":{"y":1,"x":[{"d":2,"c":3}]},"a":98765432109876543210}');
    const b = parseJson('{"a":98765432109876543210,"b":{"x":[{"c":3,"d":2}],"y":1}}');
    expect(canonicalJson(a)).toBe('{"a":98765432109876543210,"b":{"x":[{"c":3,"d":2}],"y":1}}');
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('tells different values apart', () => {
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
    expect(canonicalJson(parseJson('[12345678901234567890]'))).not.toBe(canonicalJson(parseJson('[12345678901234567891]')));
  });

  it('treats undefined like JSON.stringify does', () => {
    expect(canonicalJson({ b: undefined, a: [undefined] })).toBe('{"a":[null]}');
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});

describe('isJsonObject', () => {
  it('accepts plain objects only', () => {
    expect(isJsonObject({})).toBe(true);
    expect(isJsonObject(Object.create(null))).toBe(true);
    expect(isJsonObject([])).toBe(false);
    expect(isJsonObject(null)).toBe(false);
    expect(isJsonObject(new LosslessNumber('1'))).toBe(false);
    expect(isJsonObject('{}')).toBe(false);
  });
});

describe('jsonEqual', () => {
  const pairs: Array<[string, unknown, unknown]> = [
    ['key order', parseJson('{"a":1,"b":{"c":[1,{"d":2,"e":3}]}}'), parseJson('{"b":{"c":[1,{"e":3,"d":2}]},"a":1}')],
    ['big integers by digits', parseJson('[12345678901234567890]'), parseJson('[12345678901234567890]')],
    ['different big integers', parseJson('[12345678901234567890]'), parseJson('[12345678901234567891]')],
    ['number against string', { a: 1 }, { a: '1' }],
    ['undefined value against absent key', { a: undefined, b: 1 }, { b: 1 }],
    ['undefined item against null', [undefined], [null]],
    ['extra key', { a: 1 }, { a: 1, b: 2 }],
    ['array against object', [], {}],
    ['null against object', null, {}],
    ['lengths', [1, 2], [1, 2, 3]],
    ['nested difference', parseJson('{"p":[{"t":"x"}]}'), parseJson('{"p":[{"t":"y"}]}')],
    ['lossless number against the same plain number', new LosslessNumber('42'), 42],
    ['empty string against null', '', null],
  ];
  it.each(pairs)('agrees with comparing canonicalJson: %s', (_label, a, b) => {
    expect(jsonEqual(a, b)).toBe(canonicalJson(a) === canonicalJson(b));
    expect(jsonEqual(b, a)).toBe(canonicalJson(a) === canonicalJson(b));
  });

  it('says equal for the first pairs and different for the others (the table above is not vacuous)', () => {
    expect(pairs.map(([label, a, b]) => [label, jsonEqual(a, b)])).toEqual([
      ['key order', true],
      ['big integers by digits', true],
      ['different big integers', false],
      ['number against string', false],
      ['undefined value against absent key', true],
      ['undefined item against null', true],
      ['extra key', false],
      ['array against object', false],
      ['null against object', false],
      ['lengths', false],
      ['nested difference', false],
      ['lossless number against the same plain number', true],
      ['empty string against null', false],
    ]);
  });
});
