// The MIME corpus through the whole IMAP path (store with analyzer → FETCH → wire bytes)
// must give exactly the answers Dovecot gave for the same files (recorded in
// test/fixtures/mime/*.dovecot.txt by scripts/record-dovecot-mime.py).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawImap } from '../helpers/raw-imap.js';
import { PASS, startImapFixture, USER, type ImapFixture } from './fixture.js';

const DIR = path.join(import.meta.dirname, '../fixtures/mime');
const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.dovecot.txt'))
  .map((f) => f.replace(/\.dovecot\.txt$/, ''))
  .filter((n) => readdirSync(DIR).includes(`${n}.eml`))
  .sort();

function records(file: string): Array<[string, Buffer]> {
  const d = readFileSync(file);
  const out: Array<[string, Buffer]> = [];
  let i = 0;
  while (i < d.length) {
    const j = d.indexOf(10, i);
    const hdr = d.subarray(i, j).toString('latin1');
    const sp = hdr.lastIndexOf(' ');
    const len = Number(hdr.slice(sp + 1));
    out.push([hdr.slice(0, sp), d.subarray(j + 1, j + 1 + len)]);
    i = j + 1 + len + 1;
  }
  return out;
}

let f: ImapFixture;
let raw: RawImap;
beforeAll(async () => {
  f = await startImapFixture();
  for (const name of cases) {
    await f.ctx.store.createMailbox(USER, `corpus/${name}`);
    await f.ctx.store.append(USER, `corpus/${name}`, { data: readFileSync(path.join(DIR, `${name}.eml`)) });
  }
  raw = await RawImap.connect(f.port);
  await raw.cmd(`LOGIN ${USER} ${PASS}`);
});
afterAll(async () => {
  raw.close();
  await f.close();
});

describe('MIME corpus through IMAP matches Dovecot', () => {
  it.each(cases)('%s', async (name) => {
    await raw.cmd(`EXAMINE "corpus/${name}"`);
    for (const [item, value] of records(path.join(DIR, `${name}.dovecot.txt`))) {
      if (item.startsWith('!')) {
        // Dovecot answered NO [code]: we must refuse with the same code (RFC 3516 §4.3).
        const status = (await raw.cmd(`FETCH 1 (${item.slice(1)})`, true)).toString();
        expect(status.split(' ').slice(0, 2).join(' '), `${name} ${item}`).toBe(value.toString().split(' ').slice(0, 2).join(' '));
        continue;
      }
      // Ask with .PEEK and an exact partial length; the response names the item as recorded.
      let req = item.replace(/^BODY\[/, 'BODY.PEEK[').replace(/^BINARY\[/, 'BINARY.PEEK[');
      const partial = /<(\d+)>$/.exec(item);
      if (partial) {
        const len = Number(/^~?\{(\d+)\}/.exec(value.toString('latin1'))?.[1] ?? 0);
        if (len === 0) continue; // an empty partial answer does not tell the requested length
        req = req.replace(/<\d+>$/, `<${partial[1]}.${len}>`);
      }
      const got = await raw.cmd(`FETCH 1 (${req})`);
      const want = Buffer.concat([Buffer.from(`* 1 FETCH (${item} `), value, Buffer.from(')\r\n')]);
      expect(got.toString('latin1'), `${name} ${item}`).toBe(want.toString('latin1'));
    }
  });
});
