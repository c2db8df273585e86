// python imaplib as the client of a FETCH: logs in (password "pw"), selects INBOX and
// prints the first response line of `FETCH set items` as imaplib hands it over.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { peer } from '../helpers/peers.js';

const run = promisify(execFile);

const PY = String.raw`
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
M.login(sys.argv[2], 'pw')
M.select('INBOX')
typ, data = M.fetch(sys.argv[3], sys.argv[4])
print(data[0].decode())
M.logout()
`;

export async function imaplibFetch(port: number, user: string, set: string, items: string): Promise<string> {
  const { stdout } = await run(peer('python3'), ['-c', PY, String(port), user, set, items]);
  return stdout.trim();
}
