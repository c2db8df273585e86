// The one normalisation rule for addresses (src/accounts/address.ts), as a table.
import { describe, expect, it } from 'vitest';
import { AddressError, normalizeDomain, parseAddress, subaddressBase } from '../../src/accounts/address.js';

describe('parseAddress normalisation', () => {
  const ok: [string, string][] = [
    ['user@example.test', 'user@example.test'],
    ['User@Example.TEST', 'user@example.test'],
    ['  <Bob@Example.test>  ', 'bob@example.test'],
    ['bob@example.test.', 'bob@example.test'],
    ['Jürgen@Bücher.Example', 'jürgen@xn--bcher-kva.example'],
    ['info@xn--bcher-kva.example', 'info@xn--bcher-kva.example'],
    ['info@BÜCHER.example', 'info@xn--bcher-kva.example'],
    ['"john.doe"@example.test', 'john.doe@example.test'],
    ['user+tag@example.test', 'user+tag@example.test'],
    ['ÅSA@example.test', 'åsa@example.test'],
    // NFC: "e" + combining acute equals the precomposed "é"
    ['re\u0301sume\u0301@example.test', 'r\u00e9sum\u00e9@example.test'],
  ];
  it.each(ok)('%j → %j', (input, canonical) => {
    expect(parseAddress(input).address).toBe(canonical);
  });

  const bad = [
    'no-at-sign',
    '@example.test',
    'user@',
    'user@[127.0.0.1]',
    'user%other.test@example.test',
    '@a.test:user@example.test',
    'a!b@example.test',
    'a b@example.test',
    'a..b@example.test',
    '.a@example.test',
    'user@exa mple.test',
    'user@-bad.test',
    `${'x'.repeat(65)}@example.test`,
  ];
  it.each(bad)('rejects %j', (input) => {
    expect(() => parseAddress(input)).toThrow(AddressError);
  });

  it('splits the domain from the local part', () => {
    expect(parseAddress('A.B@Mail.Example.TEST')).toEqual({ local: 'a.b', domain: 'mail.example.test', address: 'a.b@mail.example.test' });
  });

  it('normalises domains alone', () => {
    expect(normalizeDomain('Bücher.Example.')).toBe('xn--bcher-kva.example');
    expect(() => normalizeDomain('')).toThrow(AddressError);
  });

  it('finds the plus-addressing base (RFC 5233)', () => {
    expect(subaddressBase('user+tag')).toBe('user');
    expect(subaddressBase('user+a+b')).toBe('user');
    expect(subaddressBase('user')).toBeUndefined();
    expect(subaddressBase('+tag')).toBeUndefined();
  });
});
