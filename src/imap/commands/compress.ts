// COMPRESS — RFC 4978 §3
// compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE"
// After the tagged OK both directions are raw deflate (connection.ts switches the socket
// to compress.ts's DeflateSocket once the OK is written).
import { ImapBad, ImapNo } from '../errors.js';
import { AUTH_OR_SELECTED, type CommandSpec } from './types.js';

export const compress: CommandSpec = {
  name: 'COMPRESS',
  states: AUTH_OR_SELECTED,
  async handle(c, p) {
    p.sp();
    const algorithm = p.atom().toUpperCase();
    p.end();
    // RFC 4978 §3: only once per connection; COMPRESSIONACTIVE is RFC 5530's code for it.
    if (c.conn.compress !== 'off') throw new ImapNo('Compression already active', 'COMPRESSIONACTIVE');
    if (algorithm !== 'DEFLATE') throw new ImapBad(`Unknown compression algorithm ${algorithm}`);
    c.conn.compress = 'asked';
    c.okText = 'DEFLATE active';
  },
};
