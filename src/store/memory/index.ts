/**
 * The in-memory store (./store.ts): the MailStore contract without durability, for
 * fast protocol tests.
 */
export { MemoryStore, type MemoryStoreOptions } from './store.js';
