/**
 * The shape of one command module (wildduck {state, schema, handler} + Dovecot flags +
 * typed per-command parsing as in mox/go-imap).
 */
import type { ConnStateName } from '../session.js';
import type { Parser } from '../wire/parser.js';
import type { ImapConnection } from '../connection.js';

export interface CommandContext {
  conn: ImapConnection;
  tag: string;
  /** The command name as dispatched, e.g. 'UID FETCH'. */
  name: string;
  /** Set by handlers: response code and text of the tagged OK. */
  okCode?: string;
  okText?: string;
}

export interface CommandSpec {
  name: string;
  states: readonly ConnStateName[];
  /** Dovecot COMMAND_FLAG_USES_SEQS: no untagged EXPUNGE after it (RFC 9051 §7.5.1). */
  usesSeqs?: boolean;
  handle(c: CommandContext, p: Parser): Promise<void>;
}

export const ANY: readonly ConnStateName[] = ['notAuthenticated', 'authenticated', 'selected'];
export const NOT_AUTH: readonly ConnStateName[] = ['notAuthenticated'];
export const AUTH_OR_SELECTED: readonly ConnStateName[] = ['authenticated', 'selected'];
export const SELECTED: readonly ConnStateName[] = ['selected'];
