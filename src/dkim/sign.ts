/**
 * DKIM signing of outgoing mail (RFC 6376 §5, RFC 8463 for Ed25519) with mailauth's
 * `dkimSign`: relaxed/relaxed canonicalization, SHA-256, the domain's active key.
 *
 * The caller prepends the returned `DKIM-Signature:` field to the message. Signing
 * reads the message once as a stream (the body hash needs every byte); nothing of the
 * message or the key is logged.
 */
import type { Readable } from 'node:stream';
import type { dkimSign as DkimSign } from 'mailauth';

/** mailauth is loaded on first use (it costs ~40 MB resident; the CLI never needs it). */
let mailauthModule: Promise<typeof import('mailauth')> | undefined;
const loadMailauth = () => (mailauthModule ??= import('mailauth'));
import type { Db } from '../db/index.js';
import { activeKey } from './keys.js';

/** Header fields we sign (RFC 6376 §5.4.1's recommended set, From first and required). */
export const SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
];

export class DkimSignError extends Error {}

/**
 * Signs the message with the active key of `domain`. Returns the `DKIM-Signature`
 * header field(s) with a trailing CRLF, or undefined when the domain has no key (the
 * message then goes out unsigned, and the caller logs that). Throws DkimSignError when
 * the key is unusable.
 */
export async function signMessage(db: Db, domain: string, message: Readable | Buffer, signTime = new Date()): Promise<{ header: string; selector: string } | undefined> {
  const key = activeKey(db, domain);
  if (!key) return undefined;
  const res = await (await loadMailauth()).dkimSign(message, {
    canonicalization: 'relaxed/relaxed',
    algorithm: key.algorithm === 'ed25519' ? 'ed25519-sha256' : 'rsa-sha256',
    signTime,
    headerList: SIGNED_HEADERS,
    signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey }],
  } as Parameters<typeof DkimSign>[1]);
  if (res.errors?.length || !res.signatures.trim()) {
    // The error objects can carry key material in their properties: keep only the message.
    throw new DkimSignError(`DKIM signing failed for ${domain} (selector ${key.selector}): ${res.errors?.[0]?.message ?? 'no signature'}`);
  }
  return { header: res.signatures, selector: key.selector };
}
