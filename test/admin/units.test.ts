// The small pure parts under the web admin and the metrics: the escaping template, the
// login redirect guard, sessions and CSRF tokens, the recent-events ring, and the
// reason labels of SMTP refusals.
import { describe, expect, it } from 'vitest';
import { html, Html, table } from '../../src/admin/html.js';
import { safeNext } from '../../src/admin/login.js';
import { Sessions, tokenMatches } from '../../src/admin/session.js';
import { RecentEvents } from '../../src/metrics/recent.js';
import { rejectionReason } from '../../src/metrics/smtp.js';

describe('html', () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const evil = `"><script>alert('x')</script>&`;
    expect(html`<a title="${evil}">${evil}</a>`.value).toBe(
      '<a title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</a>',
    );
  });

  it('keeps Html made by the tag, joins arrays, drops null, undefined and false', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`${inner}${[html`<br>`, '<', 1]}${null}${undefined}${false}`.value).toBe('<b>&lt;i&gt;</b><br>&lt;1');
    expect(new Html('<x>').toString()).toBe('<x>');
  });

  it('escapes table cells', () => {
    expect(table(['<h>'], [['<c>']]).value).toContain('<th>&lt;h&gt;</th>');
    expect(table(['<h>'], [['<c>']]).value).toContain('<td>&lt;c&gt;</td>');
  });
});

describe('safeNext', () => {
  it.each([
    ['/admin/domains', '/admin/domains'],
    ['/account', '/account'],
    ['//evil.example/admin', '/admin/'],
    ['https://evil.example/admin', '/admin/'],
    ['/adminx', '/admin/'],
    ['/admin/\\evil', '/admin/'],
    ['/other', '/admin/'],
    [null, '/admin/'],
  ])('%s → %s', (next, want) => {
    expect(safeNext(next, '/admin/')).toBe(want);
  });
});

describe('sessions', () => {
  it('end when idle, and per account except the one kept', () => {
    let idle = 60_000;
    const s = new Sessions(() => idle);
    const a = s.create('a@example.test');
    const a2 = s.create('a@example.test');
    const b = s.create('b@example.test');
    expect(s.get(a.id)).toBe(a);
    expect(a.id).not.toBe(a2.id);
    expect(a.csrf).not.toBe(a2.csrf);
    s.endAllOf('a@example.test', a.id);
    expect(s.get(a2.id)).toBeUndefined();
    expect(s.get(a.id)).toBe(a);
    idle = -1;
    expect(s.get(b.id)).toBeUndefined();
    expect(s.get(undefined)).toBeUndefined();
  });

  it('compares tokens in full', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abd', 'abc')).toBe(false);
    expect(tokenMatches('ab', 'abc')).toBe(false);
    expect(tokenMatches(null, 'abc')).toBe(false);
  });
});

describe('RecentEvents', () => {
  it('keeps the newest, newest first', () => {
    const r = new RecentEvents(3);
    expect(r.list()).toEqual([]);
    for (let i = 0; i < 5; i++) r.push({ at: new Date(i), kind: 'received', protocol: 'smtp', to: [], reply: String(i) });
    expect(r.list().map((e) => e.reply)).toEqual(['4', '3', '2']);
  });
});

describe('rejectionReason', () => {
  it.each([
    ['rcpt', 550, '5.1.1', 'unknown_user'],
    ['rcpt', 554, '5.7.1', 'relay_denied'],
    ['data', 550, '5.7.1', 'policy'],
    ['connect', 554, '5.7.1', 'blocked'],
    ['connect', 421, '4.7.0', 'too_many_connections'],
    ['data', 451, '4.7.0', 'policy_tempfail'],
    ['data', 552, '5.3.4', 'too_big'],
    ['rcpt', 452, '4.2.2', 'over_quota'],
    ['auth', 535, '5.7.8', 'auth_failed'],
    ['other', 500, '5.5.2', 'protocol_error'],
    ['other', 503, undefined, 'protocol_error'],
    ['data', 451, '4.3.0', 'local_error'],
    ['other', 421, undefined, 'service_closing'],
    ['mail', 550, '5.9.9', 'permanent'],
    ['mail', 450, '4.9.9', 'temporary'],
  ] as const)('%s %s %s → %s', (stage, code, enhanced, want) => {
    expect(rejectionReason(stage, code, enhanced)).toBe(want);
  });
});
