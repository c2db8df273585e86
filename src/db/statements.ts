/**
 * Prepared statements kept by their SQL text, so a query written inline at its call site
 * is prepared once per connection (better-sqlite3 statements belong to their database).
 */
import type Database from 'better-sqlite3';

export class StatementCache {
  private readonly stmts = new Map<string, Database.Statement>();

  constructor(private readonly db: Pick<Database.Database, 'prepare'>) {}

  get(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }
}
