// Password hashing: our scrypt format, and the Dovecot / docker-mailserver schemes we
// verify for imports. Vectors were made with `doveadm pw` (Dovecot 2.3), `openssl
// passwd`, python3's crypt module and the reference Argon2 test suite; where those tools
// are installed, fresh vectors are also made at test time.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import { hashPassword, needsRehash, shaCrypt, verifyPassword } from '../../src/accounts/passwords.js';
import { needs, peer } from '../helpers/peers.js';


describe('scrypt (new hashes)', () => {
  it('hashes in the documented self-describing format and verifies', async () => {
    const h = await hashPassword('correct horse');
    expect(h).toMatch(/^\{SCRYPT\}\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword('correct horse', h)).toBe(true);
    expect(await verifyPassword('correct horsE', h)).toBe(false);
    expect(await verifyPassword('', h)).toBe(false);
    expect(needsRehash(h)).toBe(false);
  });

  it('salts: the same password hashes differently each time', async () => {
    const [a, b] = await Promise.all([hashPassword('pw'), hashPassword('pw')]);
    expect(a).not.toBe(b);
  });

  it('handles non-ASCII passwords as UTF-8', async () => {
    const h = await hashPassword('pässwörd✓');
    expect(await verifyPassword('pässwörd✓', h)).toBe(true);
    expect(await verifyPassword('passwort', h)).toBe(false);
  });

  it('verifies a hash with other stored parameters (parameters travel with the hash)', async () => {
    // Made with: crypto.scryptSync('pw', 'c2FsdHNhbHQ', 32, { N: 1024, r: 8, p: 1 })
    const { scryptSync } = await import('node:crypto');
    const key = scryptSync('pw', Buffer.from('saltsaltsaltsalt'), 32, { N: 1024, r: 8, p: 1 });
    const h = `{SCRYPT}$scrypt$ln=10,r=8,p=1$${Buffer.from('saltsaltsaltsalt').toString('base64').replace(/=+$/, '')}$${key.toString('base64').replace(/=+$/, '')}`;
    expect(await verifyPassword('pw', h)).toBe(true);
    expect(await verifyPassword('pw2', h)).toBe(false);
    expect(needsRehash(h)).toBe(true);
  });
});

describe('SHA-crypt (Drepper), {SHA512-CRYPT} and {SHA256-CRYPT}', () => {
  // From Drepper's specification's own test table.
  const spec: [string, string, string, 'sha256' | 'sha512'][] = [
    ['$6$saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1', 'sha512'],
    ['$6$rounds=10000$saltstringsaltstring', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.', 'sha512'],
    ['$6$rounds=10$roundstoolow', 'the minimum number is still observed', '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.', 'sha512'],
    ['$5$saltstring', 'Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5', 'sha256'],
    ['$5$rounds=5000$toolongsaltstring', 'This is just a test', '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5', 'sha256'],
  ];
  it.each(spec)('spec vector %s', (setting, pw, expected, alg) => {
    expect(shaCrypt(pw, setting, alg)).toBe(expected);
  });

  const dovecot: [string, string][] = [
    ['Sommer 2024!', '{SHA512-CRYPT}$6$ASsYo8dTdX8g5PO6$QnnUy.78CYYsoSE7PhKkZ.EeZUrT8VPx7ZG3j5k47JSkoxT6zInSnRTo/i6qP0OiFky8Tez0RVMAjrpAlMtlW1'],
    ['x', '{SHA512-CRYPT}$6$rounds=20000$W7JngocU.ao4yhIw$ZiXjmKeim1.WhWFiX/np8Qw0yFaF7bC7Kw87e2RESA77kh504gxTcjRcI0Q1YgabIyGQgHkIdJ4kz3.UIvjoB/'],
    ['pässwörd✓', '{SHA512-CRYPT}$6$10b8/Vdodp4CNQ/q$g1xwkt9Ai5/7wFg/PjVcqnVLhXQbxAHEfsKz0OGuLOV1IpRXkxoGdHt/NtoIIKyC1KEbLy01FUXg.Qn4IC5nu1'],
    ['Sommer 2024!', '{SHA256-CRYPT}$5$aLsYrJ1GuWoStQsb$cM/e1zoX7IlLfwu5Ca8XlocrwMSe5Yysb9lsffSgex7'],
    // openssl passwd -6 -salt saltstring, without a scheme prefix (bare crypt string)
    ['Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
    // {CRYPT} dispatches on the $id$
    ['Hello world!', '{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
  ];
  it.each(dovecot)('verifies imported hash for %j', async (pw, hash) => {
    expect(await verifyPassword(pw, hash)).toBe(true);
    expect(await verifyPassword(pw + '!', hash)).toBe(false);
    expect(await verifyPassword(pw.slice(1), hash)).toBe(false);
  });

  it('matches openssl passwd -6/-5 for fresh random salts', needs('openssl'), () => {
    for (const alg of ['6', '5'] as const) {
      const salt = Math.random().toString(36).slice(2, 12);
      const out = execFileSync(peer('openssl'), ['passwd', `-${alg}`, '-salt', salt, 'test pass ü'], { encoding: 'utf8' }).trim();
      expect(shaCrypt('test pass ü', out, alg === '6' ? 'sha512' : 'sha256')).toBe(out);
    }
  });

  it('matches python3 crypt with rounds= and long passwords', needs('python3'), () => {
    const script = `
import warnings; warnings.simplefilter('ignore')
import crypt
print(crypt.crypt('x'*200, '$6$rounds=1234$abcdefgh'))
print(crypt.crypt('', '$5$rounds=1000$ab'))`;
    let out: string[];
    try {
      out = execFileSync(peer('python3'), ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n');
    } catch {
      return; // python3 without the crypt module (3.13+)
    }
    expect(shaCrypt('x'.repeat(200), out[0]!, 'sha512')).toBe(out[0]);
    expect(shaCrypt('', out[1]!, 'sha256')).toBe(out[1]);
  });

  it('verifies hashes made by doveadm pw right now', needs('doveadm'), async () => {
    for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT']) {
      const h = execFileSync(peer('doveadm'), ['pw', '-s', scheme, '-p', 'fresh ✓ pw'], { encoding: 'utf8' }).trim();
      expect(h.startsWith(`{${scheme}}`)).toBe(true);
      expect(await verifyPassword('fresh ✓ pw', h)).toBe(true);
      expect(await verifyPassword('fresh pw', h)).toBe(false);
    }
  });
});

describe('bcrypt, {BLF-CRYPT} and bare $2a$/$2b$/$2y$', () => {
  it('verifies Dovecot BLF-CRYPT ($2y$)', async () => {
    const h = '{BLF-CRYPT}$2y$05$7pGeUzhCWPotOoYhgk7ZK.iABx1gYc5MWNCQlsqE95lUrro.yKYpG';
    expect(await verifyPassword('Sommer 2024!', h)).toBe(true);
    expect(await verifyPassword('Sommer 2024?', h)).toBe(false);
    const h2 = '{BLF-CRYPT}$2y$10$NRl3jn7cpFRRCQCIbucNqudNTmIjrPp0q.BBncTxZ67PZ7Z0UwIfO';
    expect(await verifyPassword('pässwörd✓', h2)).toBe(true);
  });

  it('verifies bare bcrypt strings of each variant', async () => {
    const b = bcrypt.hashSync('hunter2', 4); // $2b$
    expect(b.startsWith('$2b$')).toBe(true);
    for (const v of ['2a', '2b', '2y']) {
      const h = b.replace(/^\$2b\$/, `$${v}$`);
      expect(await verifyPassword('hunter2', h)).toBe(true);
      expect(await verifyPassword('hunter3', h)).toBe(false);
    }
    // The well-known OpenBSD vector: "U*U" with salt "CCCCCCCCCCCCCCCCCCCCC."
    expect(await verifyPassword('U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW')).toBe(true);
  });
});

describe('Argon2, {ARGON2ID} and {ARGON2I}', () => {
  it('verifies the reference implementation test vectors', async () => {
    // phc-winner-argon2 src/test.c
    expect(await verifyPassword('password', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')).toBe(true);
    expect(await verifyPassword('password', '$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG')).toBe(true);
    expect(await verifyPassword('passwore', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc')).toBe(false);
  });

  it('verifies Dovecot ARGON2ID / ARGON2I hashes', async () => {
    const id = '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$00voqxg+FQrqgeaGbNmOjA$08ahmRah9c1jOuX/mcvXd6zkdVeP5HhQxLHABa/SWfM';
    expect(await verifyPassword('Sommer 2024!', id)).toBe(true);
    expect(await verifyPassword('Sommer 2025!', id)).toBe(false);
    const i = '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$foHPJkvBx1mpKZLut/4MgA$1dw5TI/xy1x/w9cOUlsOLgZsRObUv1On6jgU1CHP0ng';
    expect(await verifyPassword('Sommer 2024!', i)).toBe(true);
  });
});

describe('bad input never throws', () => {
  const bad = [
    '',
    'plaintext',
    '{PLAIN}secret',
    '{MD5-CRYPT}$1$abc$def',
    '{NOPE}$6$x$y',
    '{SCRYPT}$scrypt$ln=99,r=8,p=1$c2FsdA$aGFzaA',
    '{SCRYPT}$scrypt$ln=14,r=8$c2FsdA$aGFzaA',
    '{SCRYPT}$scrypt$ln=14,r=8,p=1$c2FsdA$',
    '{SHA512-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5',
    '{SHA512-CRYPT}$6$saltstring$short',
    '{BLF-CRYPT}$2y$05$tooshort',
    '{BLF-CRYPT}$2y$99$7pGeUzhCWPotOoYhgk7ZK.iABx1gYc5MWNCQlsqE95lUrro.yKYpG',
    '{ARGON2ID}$argon2id$v=16$m=65536,t=3,p=1$00voqxg+FQrqgeaGbNmOjA$08ahmRah9c1jOuX/mcvXd6zkdVeP5HhQxLHABa/SWfM',
    '{ARGON2ID}$argon2id$v=19$m=9999999999,t=3,p=1$00voqxg+FQrqgeaGbNmOjA$08ah',
    '{ARGON2ID}garbage',
  ];
  it.each(bad)('%j verifies as false', async (h) => {
    await expect(verifyPassword('secret', h)).resolves.toBe(false);
  });

  it('a same-length wrong hash goes through the constant-time comparison and is false', async () => {
    const good = '{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1';
    const flipped = good.slice(0, -1) + '2';
    expect(await verifyPassword('Hello world!', flipped)).toBe(false);
    expect(await verifyPassword('Hello world!', good)).toBe(true);
  });
});
