/**
 * The command table: the one place that lists every command (wildduck `commands` Map,
 * Dovecot's command table). UID variants share their command's module.
 */
import { append } from './append.js';
import { authenticate } from './authenticate.js';
import { cancelupdate } from './cancelupdate.js';
import { capability } from './capability.js';
import { close, unselect } from './close.js';
import { compress } from './compress.js';
import { copy, move, uidCopy, uidMove } from './copy.js';
import { create } from './create.js';
import { del } from './delete.js';
import { enable } from './enable.js';
import { expunge, uidExpunge } from './expunge.js';
import { fetch, uidFetch } from './fetch/fetch.js';
import { getquota } from './getquota.js';
import { getquotaroot } from './getquotaroot.js';
import { id } from './id.js';
import { idle } from './idle.js';
import { list, lsub } from './list.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { getmetadata, setmetadata } from './metadata.js';
import { namespace } from './namespace.js';
import { notify } from './notify.js';
import { check, noop } from './noop.js';
import { rename } from './rename.js';
import { search, uidSearch } from './search/search.js';
import { examine, select } from './select.js';
import { setquota } from './setquota.js';
import { sort, uidSort } from './sort.js';
import { starttls } from './starttls.js';
import { status } from './status.js';
import { store, uidStore } from './store.js';
import { subscribe, unsubscribe } from './subscribe.js';
import { thread, uidThread } from './thread.js';
import type { CommandSpec } from './types.js';

const ALL: CommandSpec[] = [
  capability, noop, logout, starttls, authenticate, login, enable, id,
  select, examine, create, del, rename, subscribe, unsubscribe, list, lsub, namespace, status, append, idle,
  check, close, unselect, expunge, uidExpunge, search, uidSearch, fetch, uidFetch, store, uidStore,
  copy, uidCopy, move, uidMove,
  getquota, getquotaroot, setquota, // RFC 9208
  compress, // RFC 4978
  notify, // RFC 5465
  sort, uidSort, thread, uidThread, // RFC 5256, RFC 5957, RFC 5267
  getmetadata, setmetadata, // RFC 5464
  cancelupdate, // RFC 5267 §4.3.5
];

export const COMMANDS = new Map<string, CommandSpec>(ALL.map((c) => [c.name, c]));
