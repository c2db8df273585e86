// NOOP — RFC 9051 §6.1.2; CHECK — RFC 3501 §6.4.1 (removed in RFC 9051, kept as NOOP).
// Pending changes are flushed by dispatch after the command (RFC 9051 §6.1.2: NOOP as a poll; §5.2).
import { ANY, SELECTED, type CommandSpec } from './types.js';

export const noop: CommandSpec = {
  name: 'NOOP',
  states: ANY,
  async handle(_c, p) {
    p.end();
  },
};

export const check: CommandSpec = {
  name: 'CHECK',
  states: SELECTED,
  async handle(_c, p) {
    p.end();
  },
};
