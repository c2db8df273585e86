/**
 * Errors of the Sieve engine. Compile errors (lexer, parser, validator) carry the line
 * and column of the offending token so ManageSieve (PUTSCRIPT, CHECKSCRIPT) and the CLI
 * can show the user where; runtime errors end a script run, which then falls back to
 * the implicit keep (RFC 5228 §2.10.6).
 */

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based, in characters of the line. */
  column: number;
}

/** A script that cannot be compiled: syntax or validation error, with its position. */
export class SieveCompileError extends Error {
  constructor(
    readonly pos: Position,
    readonly reason: string,
  ) {
    super(`line ${pos.line}, column ${pos.column}: ${reason}`);
    this.name = 'SieveCompileError';
  }
}

/** An error while running a script (resource limit, conflicting actions). */
export class SieveRuntimeError extends Error {
  constructor(
    message: string,
    readonly pos?: Position,
  ) {
    super(pos ? `line ${pos.line}: ${message}` : message);
    this.name = 'SieveRuntimeError';
  }
}
