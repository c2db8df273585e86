// Unit tests of the Sieve engine (src/sieve): lexer and parser errors with positions,
// :matches and its captures, comparators, the result rules of RFC 5228 §2.10, the
// examples of the RFCs, and the run limits. Table-driven; the differential corpus
// (differential.test.ts) checks the same engine against Pigeonhole.
import { describe, expect, it } from 'vitest';
import { compileSieve, checkSieve, runSieve, SIEVE_CAPABILITIES } from '../../src/sieve/engine.js';
import { SieveCompileError } from '../../src/sieve/errors.js';
import { Lexer } from '../../src/sieve/lexer.js';
import { Budget, globMatch, matchAny } from '../../src/sieve/match.js';
import { SieveMessage, type SieveEnvelope } from '../../src/sieve/message.js';
import { executeOutcome, type SieveOutcome } from '../../src/sieve/result.js';
import { DEFAULT_RUN_LIMITS } from '../../src/sieve/interpreter.js';

const MSG = [
  'From: Coyote <coyote@desert.example.org>',
  'To: roadrunner+acme@acme.example.com',
  'Cc: Other <other@example.net>',
  'Subject: I have a present for you',
  'X-Caffeine: C8H10N4O2',
  'Date: Tue, 04 Jun 2024 12:00:00 +0200',
  'List-Id: ACME users <acme-users.lists.example>',
  '',
  'Look, I\'m sorry about the whole anvil thing.',
  '',
].join('\r\n');

function message(raw = MSG): SieveMessage {
  const b = Buffer.from(raw);
  const end = b.indexOf('\r\n\r\n');
  return new SieveMessage({ header: b.subarray(0, end + 4), size: b.length, raw: b });
}

function run(script: string, opts: { raw?: string; envelope?: Partial<SieveEnvelope>; mailboxes?: string[]; limits?: Partial<typeof DEFAULT_RUN_LIMITS> } = {}): SieveOutcome {
  const env = { message: message(opts.raw), envelope: { from: 'coyote@desert.example.org', to: 'roadrunner+acme@acme.example.com', ...opts.envelope }, mailboxExists: (m: string) => (opts.mailboxes ?? []).includes(m), zoneOffsetMinutes: 0 };
  return runSieve(compileSieve(script), env, { ...DEFAULT_RUN_LIMITS, ...opts.limits });
}

/** The outcome in one line per action, implicit keep last. */
function brief(o: SieveOutcome): string[] {
  if (o.error) return [`error: ${o.error}`];
  const out = o.actions.map((a) => {
    switch (a.type) {
      case 'store':
        return `store ${a.mailbox}${a.flags?.length ? ` [${a.flags.join(' ')}]` : ''}${a.copy ? ' copy' : ''}${a.create ? ' create' : ''}`;
      case 'redirect':
        return `redirect ${a.address}${a.copy ? ' copy' : ''}`;
      case 'reject':
        return `${a.ereject ? 'ereject' : 'reject'} ${a.reason}`;
      case 'vacation':
        return `vacation ${a.seconds} ${a.subject ?? '-'} ${a.handle}`;
      default:
        return a.type;
    }
  });
  if (o.implicitKeep) out.push(`keep${o.implicitKeep.flags.length ? ` [${o.implicitKeep.flags.join(' ')}]` : ''}`);
  return out;
}

describe('lexer (RFC 5228 §8.1)', () => {
  it.each([
    ['numbers with quantifiers', '1 10K 2m 3G', ['number:1', 'number:10240', 'number:2097152', 'number:3221225472']],
    ['escapes in quoted strings (§2.4.2)', '"a\\"b\\\\c\\d"', ['string:a"b\\cd']],
    ['multi-line with dot-stuffing', 'text: # comment\r\nline one\r\n..dot\r\n.\r\n', ['string:line one\r\n.dot\r\n']],
    ['multi-line with bare LF', 'text:\nx\n.\n', ['string:x\r\n']],
    ['comments', '# hash\n/* bracket\n comment */ keep;', ['identifier:keep', 'special:;']],
    ['tags and specials', ':is [ "a" , "b" ] ( ) { }', ['tag:is', 'special:[', 'string:a', 'special:,', 'string:b', 'special:]', 'special:(', 'special:)', 'special:{', 'special:}']],
  ])('%s', (_n, src, want) => {
    const toks = new Lexer(src).tokens().filter((t) => t.kind !== 'eof');
    expect(toks.map((t) => `${t.kind}:${'value' in t ? t.value : ''}`)).toEqual(want);
  });
});

describe('compile errors carry line and column', () => {
  it.each([
    ['keep;\n  foo;', 2, 3, 'unknown command "foo"'],
    ['require "fileinto";\nfileinto "a" "b";', 2, 1, 'requires 1 positional argument(s), but 2 were given'],
    ['if true {\n keep;\n', 3, 1, 'expected a command or "}"'],
    ['keep\ndiscard;', 1, 1, 'missing ";" after the keep command'],
    ['redirect "x@y.z" ;\n"abc', 2, 5, 'unterminated string'],
    ['if header :is "a" "b" keep;', 1, 1, 'the if command requires a block'],
    ['require ["copy"];\nif header :contains :matches "a" "b" { keep; }', 2, 21, '":matches" conflicts with ":contains"'],
    ['if exists "bad name" { keep; }', 1, 11, 'header field name "bad name" is invalid'],
    ['99999999999999999999 ;', 1, 1, 'number is too large'],
    ['keep @;', 1, 6, 'unexpected character "@"'],
  ])('%j', (src, line, column, reason) => {
    let err: unknown;
    try {
      compileSieve(src);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SieveCompileError);
    const e = err as SieveCompileError;
    expect(e.message).toContain(reason);
    expect(e.pos).toEqual({ line, column });
    expect(e.message).toMatch(new RegExp(`^line ${line}, column ${column}: `));
  });

  it('refuses scripts over the size limit and nesting beyond 32 levels', () => {
    expect(checkSieve('keep;'.repeat(100), { maxBytes: 100 })).toMatch(/larger than 100 bytes/);
    expect(checkSieve(`${'if true {'.repeat(40)}${'}'.repeat(40)}`)).toMatch(/nested deeper than 32/);
    expect(checkSieve(`if ${'not '.repeat(40)}true { keep; }`)).toMatch(/nested deeper than 32/);
    expect(checkSieve('keep;')).toBeUndefined();
  });
});

describe(':matches (RFC 5228 §2.7.1) and its captures (RFC 5229 §3.2)', () => {
  it.each([
    ['[acme-users] [fwd] version 1.0 is out', '[*] *', ['[acme-users] [fwd] version 1.0 is out', 'acme-users', '[fwd] version 1.0 is out']],
    ['john@example.com', '*@*', ['john@example.com', 'john', 'example.com']],
    ['abc', 'a?c', ['abc', 'b']],
    ['abc', '*', ['abc', 'abc']],
    ['', '*', ['', '']],
    ['a*b', 'a\\*b', ['a*b']],
    ['axb', 'a\\*b', undefined],
    ['abcabc', '*b*', ['abcabc', 'a', 'cabc']],
    ['x.y.z', '*.*', ['x.y.z', 'x', 'y.z']],
    ['€uro', '?uro', ['€uro', '€']],
    ['😀!', '?!', ['😀!', '😀']],
    ['abc', 'ab', undefined],
    ['ab', 'abc*', undefined],
  ])('%j against %j', (value, pattern, want) => {
    expect(globMatch(value, value, pattern, new Budget(1e6))).toEqual(want);
  });

  it('stays linear on a pattern that makes backtracking regexes explode', () => {
    const value = 'a'.repeat(5000);
    const budget = new Budget(1e9);
    expect(globMatch(value, value, '*a*a*a*a*a*a*a*a*b', budget)).toBeUndefined();
    // O(n·m) at worst: far below the 2^n of naive backtracking.
    expect(1e9 - budget.left).toBeLessThan(value.length * 20 * 2);
  });

  it.each([
    ['i;ascii-numeric eq', { comparator: 'i;ascii-numeric', type: 'value', relop: 'eq' }, ['0042'], ['42'], true],
    ['i;ascii-numeric: non-digits are +infinity', { comparator: 'i;ascii-numeric', type: 'value', relop: 'gt' }, ['abc'], ['99999'], true],
    ['i;ascii-numeric: two non-numbers are equal', { comparator: 'i;ascii-numeric', type: 'is' }, ['x'], ['y'], true],
    ['i;octet is case-sensitive', { comparator: 'i;octet', type: 'is' }, ['A'], ['a'], false],
    ['i;ascii-casemap folds ASCII only', { comparator: 'i;ascii-casemap', type: 'is' }, ['ÄB'], ['äb'], false],
    [':count counts values', { comparator: 'i;ascii-numeric', type: 'count', relop: 'ge' }, ['a', 'b', 'c'], ['3'], true],
    [':contains "" matches anything', { comparator: 'i;ascii-casemap', type: 'contains' }, ['x'], [''], true],
  ] as const)('%s', (_n, spec, values, keys, want) => {
    expect(matchAny(spec, [...values], [...keys], new Budget(1e6)).ok).toBe(want);
  });
});

describe('RFC examples', () => {
  it('RFC 5228 §9 (the complete example, adapted to the capabilities we have)', () => {
    const script = `
      require ["fileinto"];
      if header :is "X-Caffeine" "" { discard; stop; }
      if header :contains "from" "coyote" { discard; }
      elsif header :contains ["subject"] ["$$$"] { discard; }
      elsif anyof (address :all :is ["From", "Sender"] "boss@example.com", header :contains "to" "boss") { fileinto "Important"; }
      else { fileinto "Other"; }`;
    expect(brief(run(script))).toEqual(['discard']);
    expect(brief(run(script, { raw: MSG.replace('Coyote <coyote@desert.example.org>', 'boss@example.com') }))).toEqual(['store Important']);
  });

  it('RFC 5229 §3.2: List-ID captures and the subject example', () => {
    const script = 'require ["fileinto","variables"]; if header :matches "List-Id" "*<*@*" { fileinto "INBOX.lists.${2}"; stop; } if header :matches "Subject" "I * a *" { fileinto "${1}-${2}"; }';
    expect(brief(run(script))).toEqual(['store have-present for you']);
  });

  it('RFC 5229 §4.1: modifiers in precedence order (:length after :upper)', () => {
    const script = 'require ["variables","fileinto"]; set :length :upper "n" "abc"; set :upperfirst :lower "s" "hELLO"; fileinto "${n}-${s}";';
    expect(brief(run(script))).toEqual(['store 3-Hello']);
  });

  it('RFC 5232 §3, §5: flags at action time, implicit keep with the final flags', () => {
    const script = 'require ["imap4flags","fileinto"]; setflag "\\\\Seen"; fileinto "A"; addflag ["$Label1 \\\\Flagged"]; removeflag "\\\\Seen"; keep;';
    expect(brief(run(script))).toEqual(['store A [\\Seen]', 'store INBOX [$Label1 \\Flagged]']);
    expect(brief(run('require "imap4flags"; addflag "\\\\Answered \\\\Recent \\\\Bogus ok";'))).toEqual(['keep [\\Answered ok]']);
  });

  it('RFC 5233: :user and :detail of the envelope recipient', () => {
    const script = 'require ["envelope","subaddress","fileinto","variables"]; if envelope :detail :matches "to" "*" { fileinto "${1}"; } if envelope :user "to" "roadrunner" { addflag_x; }';
    expect(checkSieve(script)).toMatch(/unknown command "addflag_x"/);
    expect(brief(run(script.replace(' addflag_x;', ' keep;')))).toEqual(['store acme', 'store INBOX']);
  });

  it('RFC 5231: relational :count over addresses, :value over strings', () => {
    const script = 'require ["relational","comparator-i;ascii-numeric","fileinto"]; if address :count "eq" :comparator "i;ascii-numeric" ["to","cc"] "2" { fileinto "two"; } if header :value "gt" "subject" "H" { fileinto "after-h"; }';
    expect(brief(run(script))).toEqual(['store two', 'store after-h']);
  });

  it('RFC 5173: body :text, :content and :raw', () => {
    const mp = ['From: a@b.example', 'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable', '', 'caf=E9 au lait', '--b', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', Buffer.from('secret anvil').toString('base64'), '--b--', ''].join('\r\n');
    const script = 'require ["body","fileinto"]; if body :contains "café" { fileinto "text"; } if body :raw :contains "=E9" { fileinto "raw"; } if body :content "application" :contains "anvil" { fileinto "app"; } if body :text :contains "anvil" { fileinto "wrong"; }';
    expect(brief(run(script, { raw: mp }))).toEqual(['store text', 'store raw', 'store app']);
  });

  it('RFC 5260: date parts in a zone, :originalzone and :index', () => {
    const script = 'require ["date","index","fileinto","variables"]; if date :zone "-0500" :matches "date" "time" "*" { set "t" "${1}"; } if date :originalzone :matches "date" "zone" "*" { set "z" "${1}"; } if date :matches "date" "weekday" "*" { set "w" "${1}"; } fileinto "${t} ${z} ${w}";';
    expect(brief(run(script))).toEqual(['store 05:00:00 +0200 2']);
    expect(checkSieve('require "date"; if date "date" "century" "20" { keep; }')).toMatch(/unknown date part/);
    expect(checkSieve('require "date"; if date :zone "CET" "date" "year" "2024" { keep; }')).toMatch(/invalid time zone/);
  });

  it('RFC 5228 §2.4.2.4: encoded characters only when required', () => {
    expect(brief(run('require ["encoded-character","fileinto"]; fileinto "${hex:41 42}${unicode:1F600}${hex:zz}";'))).toEqual(['store AB😀${hex:zz}']);
    expect(brief(run('require "fileinto"; fileinto "${hex:41}";'))).toEqual(['store ${hex:41}']);
  });

  it('RFC 5490: mailboxexists and fileinto :create', () => {
    const script = 'require ["mailbox","fileinto"]; if mailboxexists "Lists" { fileinto "Lists"; } else { fileinto :create "New"; }';
    expect(brief(run(script, { mailboxes: ['Lists'] }))).toEqual(['store Lists']);
    expect(brief(run(script))).toEqual(['store New create']);
  });

  it('RFC 5228 §5.4: the null reverse-path is matched as "" by envelope :all', () => {
    const script = 'require ["envelope"]; if envelope :all :is "from" "" { discard; }';
    expect(brief(run(script, { envelope: { from: '' } }))).toEqual(['discard']);
    expect(brief(run(script))).toEqual(['keep']);
  });
});

describe('result rules (RFC 5228 §2.10, RFC 5429, RFC 5230)', () => {
  it.each([
    ['implicit keep when nothing is done', '', ['keep']],
    ['discard cancels only the implicit keep', 'discard; keep;', ['discard', 'store INBOX']],
    ['fileinto :copy and redirect :copy keep the implicit keep', 'require ["fileinto","copy"]; fileinto :copy "A"; redirect :copy "x@y.example";', ['store A copy', 'redirect x@y.example copy', 'keep']],
    ['one store per mailbox, the last flags win', 'require ["fileinto","imap4flags"]; fileinto :flags "a" "A"; fileinto :flags "b" "A";', ['store A [b]']],
    ['keep and fileinto "INBOX" are one store', 'require "fileinto"; keep; fileinto "inbox";', ['store INBOX']],
    ['redirect to the same address once', 'redirect "a@b.example"; redirect "a@B.EXAMPLE";', ['redirect a@b.example']],
    ['reject conflicts with fileinto', 'require ["reject","fileinto"]; fileinto "A"; reject "no";', ['error: line 1: reject/ereject action conflicts with the store action (line 1)']],
    ['reject with discard is fine', 'require "reject"; reject "no"; discard;', ['reject no', 'discard']],
    ['ereject', 'require "ereject"; ereject "go away";', ['ereject go away']],
    ['a second vacation is an error', 'require "vacation"; vacation "a"; vacation "b";', ['error: line 1: duplicate vacation action not allowed (line 1)']],
    ['more than 4 redirects is an error', 'redirect "a@x.example"; redirect "b@x.example"; redirect "c@x.example"; redirect "d@x.example"; redirect "e@x.example";', ['error: line 1: number of redirect actions exceeds the limit (5 > 4)']],
    ['vacation defaults: 7 days, Pigeonhole handle', 'require "vacation"; vacation "Away";', ['vacation 604800 - Away<default-subject><default-from><NO-MIME>', 'keep']],
    ['vacation :days 0 is raised to one day', 'require "vacation"; vacation :days 0 :subject "S" "x";', ['vacation 86400 S x<S>'.replace('<S>', 'S<default-from><NO-MIME>'), 'keep']],
    ['stop ends the script', 'require "fileinto"; fileinto "A"; stop; fileinto "B";', ['store A']],
  ])('%s', (_n, script, want) => {
    expect(brief(run(script))).toEqual(want);
  });

  it('executes an outcome through the functions it is given, implicit keep last', async () => {
    const calls: string[] = [];
    await executeOutcome(run('require ["fileinto","copy","vacation","imap4flags"]; addflag "\\\\Seen"; fileinto :copy "A"; redirect "x@y.example"; vacation "v"; keep;'), {
      store: (m, f, o) => void calls.push(`store ${m} ${f.join(',')} ${o.implicit ? 'implicit' : ''}`.trim()),
      redirect: (a) => void calls.push(`redirect ${a}`),
      reject: (r) => void calls.push(`reject ${r}`),
      vacation: (v) => void calls.push(`vacation ${v.reason}`),
    });
    expect(calls).toEqual(['store A \\Seen', 'redirect x@y.example', 'vacation v', 'store INBOX \\Seen']);
  });
});

describe('run limits: a script that runs too long keeps the message', () => {
  it('a work budget ends a run of long :matches over a huge header (implicit keep, error says why)', () => {
    const raw = MSG.replace('X-Caffeine: C8H10N4O2', `X-Long: ${'a'.repeat(200_000)}`);
    const script = `if anyof (${Array.from({ length: 30 }, (_, i) => `header :matches "x-long" "*a*a*a*a*a*${i}"`).join(', ')}) { discard; }`;
    const o = run(script, { raw, limits: { cpuBudget: 5_000_000 } });
    expect(o.error).toMatch(/CPU limit/);
    expect(o.actions).toEqual([]);
    expect(o.implicitKeep).toEqual({ mailbox: 'INBOX', flags: [] });
  });

  it('variables are bounded in number and length (RFC 5229 §3)', () => {
    const many = Array.from({ length: 10 }, (_, i) => `set "v${i}" "x";`).join(' ');
    expect(run(`require "variables"; ${many}`, { limits: { maxVariables: 5 } }).error).toMatch(/too many variables/);
    const o = run('require ["variables","fileinto"]; set "a" "0123456789"; set "b" "${a}${a}${a}"; fileinto "${b}";', { limits: { maxVariableSize: 12 } });
    expect(brief(o)).toEqual(['store 012345678901']);
  });

  it('a redirect to an address built at run time that is not an address fails the run', () => {
    expect(run('require "variables"; set "a" "not an address"; redirect "${a}";').error).toMatch(/redirect address "not an address" is invalid/);
  });
});

it('announces every extension it implements (ManageSieve SIEVE capability)', () => {
  expect(SIEVE_CAPABILITIES).toEqual(
    ['body', 'comparator-i;ascii-numeric', 'copy', 'date', 'encoded-character', 'envelope', 'ereject', 'fileinto', 'imap4flags', 'index', 'mailbox', 'reject', 'relational', 'subaddress', 'vacation', 'vacation-seconds', 'variables'],
  );
});
