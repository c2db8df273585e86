// Mailbox name validation and the reversible Maildir++ folder encoding (src/store/names.ts).
import { describe, expect, it } from 'vitest';
import { accountSegments, canonicalName, folderOf, nameOfFolder, utf7Decode, utf7Encode } from '../../src/store/names.js';
import { StoreError } from '../../src/store/types.js';

describe('mailbox names', () => {
  it.each([
    ['INBOX', 'INBOX', ''],
    ['inbox', 'INBOX', ''],
    ['Inbox/Sub', 'INBOX/Sub', '.INBOX.Sub'],
    ['Sent', 'Sent', '.Sent'],
    ['Archive/2024', 'Archive/2024', '.Archive.2024'],
    ['Entwürfe', 'Entwürfe', '.Entw&APw-rfe'],
    ['a.b/c%d', 'a.b/c%d', '.a%2Eb.c%25d'],
    ['R&D', 'R&D', '.R&-D'],
    ['日本語/x', '日本語/x', '.&ZeVnLIqe-.x'],
    ['%2E', '%2E', '.%252E'],
    ['with space', 'with space', '.with space'],
  ])('%s → %s stored as %s, and back', (input, canon, folder) => {
    expect(canonicalName(input)).toBe(canon);
    expect(folderOf(canon)).toBe(folder);
    expect(nameOfFolder(folder)).toBe(canon);
  });

  it.each([
    ['', 'empty'],
    ['..', 'dot-dot'],
    ['../x', 'parent escape'],
    ['a/../../b', 'parent escape inside'],
    ['a/./b', 'dot segment'],
    ['/abs', 'leading slash'],
    ['a/', 'trailing slash'],
    ['a//b', 'empty segment'],
    ['~root', 'tilde'],
    ['a\u0000b', 'NUL'],
    ['a\nb', 'newline'],
    ['a\u007fb', 'DEL'],
    ['x'.repeat(513), 'too long'],
    [Array.from({ length: 33 }, () => 'a').join('/'), 'too deep'],
    ['é'.repeat(200), 'encoded folder over 255 bytes'],
    ['\ud800x', 'lone surrogate'],
  ])('refuses %j (%s)', (name) => {
    let err: unknown;
    try {
      canonicalName(name);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).kind).toBe('invalidName');
  });

  it('modified UTF-7 round-trips (RFC 3501 §5.1.3)', () => {
    for (const s of ['~peter/mail/台北/日本語', 'a&b', '&&', 'ü&ö', 'plain']) expect(utf7Decode(utf7Encode(s))).toBe(s);
    expect(utf7Encode('~peter/mail/台北/日本語')).toBe('~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  });

  it('account ids never leave the maildir root', () => {
    expect(accountSegments('bob@example.test')).toEqual({ local: 'bob', domain: 'example.test' });
    for (const bad of ['..@x.test', 'a/b@x.test', 'a@..', 'a@x/y', '@x.test', 'a@', 'noat', '.hidden@x.test']) {
      expect(() => accountSegments(bad), bad).toThrow(StoreError);
    }
  });

  it('folders of other tools that are not valid names are ignored', () => {
    expect(nameOfFolder('.')).toBeUndefined();
    expect(nameOfFolder('..')).toBeUndefined();
    expect(nameOfFolder('.a..b')).toBeUndefined();
    expect(nameOfFolder('cur')).toBeUndefined();
  });
});
