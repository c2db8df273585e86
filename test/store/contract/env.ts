// What the contract sections share: the store under test, quotas the test sets, and
// small helpers over the public interface.
import { text } from 'node:stream/consumers';
import { expect } from 'vitest';
import { StoreError, type AccountId, type MailboxId, type MailStore, type Quota, type StoreErrorKind, type Uid } from '../../../src/store/types.js';

export interface StoreHandle {
  store: MailStore;
  /** Removes whatever the store left (temp directories). */
  cleanup: () => Promise<void>;
}

/** A fresh, empty store; `quotaOf` is the limit the store must enforce. */
export type MakeStore = (opts: { quotaOf: (account: AccountId) => Quota | undefined }) => Promise<StoreHandle>;

export interface Env {
  store: MailStore;
  quotas: Map<AccountId, Quota>;
  cleanup: () => Promise<void>;
}

export const A = 'alice@example.test';
export const B = 'bob@example.test';

export const msg = (n: number | string = 0, extra = ''): Buffer =>
  Buffer.from(`From: x@example.org\r\nTo: ${A}\r\nSubject: message ${n}\r\nMessage-ID: <m${n}@example.org>\r\n\r\nBody ${n}\r\n${extra}`);

/** The StoreError kind a promise rejects with (fails the test if it resolves or throws anything else). */
export async function kindOf(p: Promise<unknown>): Promise<StoreErrorKind> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return (e as StoreError).kind;
  }
  throw new Error('expected a StoreError');
}

export async function bytesOf(store: MailStore, account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<Buffer> {
  const { stream, size } = await store.readMessage(account, mailboxId, uid);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  const b = Buffer.concat(chunks);
  expect(b.length).toBe(size);
  return b;
}

export async function textOf(store: MailStore, account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<string> {
  return text((await store.readMessage(account, mailboxId, uid)).stream);
}

export async function uidsOf(store: MailStore, account: AccountId, name: string): Promise<number[]> {
  const mb = await store.getMailbox(account, name);
  return (await store.fetchMeta(account, mb.id, { fields: 'flags' })).map((m) => m.uid);
}

export async function flagsOf(store: MailStore, account: AccountId, name: string): Promise<Array<[number, string[]]>> {
  const mb = await store.getMailbox(account, name);
  return (await store.fetchMeta(account, mb.id)).map((m) => [m.uid, [...m.flags]]);
}

/** Appends n messages to a mailbox; returns their UIDs. */
export async function fill(store: MailStore, account: AccountId, name: string, n: number, flags?: string[]): Promise<Uid[]> {
  const out: Uid[] = [];
  for (let i = 0; i < n; i++) out.push((await store.append(account, name, { data: msg(`${name}-${i}`) }, { flags })).uid);
  return out;
}
