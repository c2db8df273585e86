// Modified UTF-7 lives in src/util/mutf7.ts: the store names Maildir++ folders with it too.
export { decodeUtf7, encodeUtf7, Utf7Error } from '../../util/mutf7.js';
