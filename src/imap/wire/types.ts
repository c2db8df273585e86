/**
 * Wire vocabulary shared by the framer, parser and encoder (RFC 9051 §7.1, §9).
 */

/** Response codes we emit (RFC 9051 §7.1, RFC 5530, RFC 4315, RFC 7162, RFC 7889). */
export type ResponseCode =
  | 'ALERT'
  | 'ALREADYEXISTS'
  | 'AUTHENTICATIONFAILED'
  | 'AUTHORIZATIONFAILED'
  | 'CANNOT'
  | 'CLIENTBUG'
  | 'CLOSED'
  | 'CONTACTADMIN'
  | 'EXPUNGEISSUED'
  | 'INUSE'
  | 'LIMIT'
  | 'NONEXISTENT'
  | 'NOPERM'
  | 'OVERQUOTA'
  | 'PARSE'
  | 'PRIVACYREQUIRED'
  | 'READ-ONLY'
  | 'READ-WRITE'
  | 'SERVERBUG'
  | 'TOOBIG'
  | 'TRYCREATE'
  | 'UNAVAILABLE'
  | 'UNKNOWN-CTE'
  | 'HASCHILDREN'
  | 'NOMODSEQ'
  | 'BADCHARSET';

/** A literal as the framer delivered it: in memory, or spooled to a temp file when large. */
export type Literal = { kind: 'buffer'; data: Buffer } | { kind: 'file'; path: string; size: number };

/**
 * One complete command as framed: text lines split at each literal. For a command with
 * k literals there are k+1 lines; line i ends with "{n}" (or "{n+}") and literal i follows.
 */
export interface FramedCommand {
  lines: string[];
  literals: Literal[];
}
