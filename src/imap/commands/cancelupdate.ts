// CANCELUPDATE — RFC 5267 §4.3.5
// command-select =/ "CANCELUPDATE" 1*(SP quoted)
// Ends the update contexts the tags name (src/imap/context.ts). A tag that names none
// (never used with UPDATE, cancelled already, refused with NOUPDATE, or from an earlier
// SELECT) gets NO and nothing is cancelled.
import { cancelContexts } from '../context.js';
import { ImapBad, ImapNo } from '../errors.js';
import { viewOf } from './helpers.js';
import { SELECTED, type CommandSpec } from './types.js';

export const cancelupdate: CommandSpec = {
  name: 'CANCELUPDATE',
  states: SELECTED,
  handle: async (c, p) => {
    const tags: string[] = [];
    do {
      p.sp();
      const t = p.tryQuoted();
      if (t === undefined) throw new ImapBad('CANCELUPDATE takes quoted tags');
      tags.push(t);
    } while (!p.atEnd());
    p.end();
    const unknown = cancelContexts(viewOf(c), tags);
    if (unknown.length > 0) throw new ImapNo(`No update context for ${unknown.slice(0, 5).map((t) => JSON.stringify(t)).join(' ')}`);
    c.okText = 'No further updates';
  },
};
