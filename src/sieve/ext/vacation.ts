/**
 * reject and ereject (RFC 5429) and vacation (RFC 5230, with :seconds of RFC 6131).
 * Both only add an action; whether and how a reply is sent is decided after the run
 * (src/sieve/vacation.ts: lists, auto-replies, once per sender per period) and at the
 * SMTP level for reject (src/sieve/deliver.ts).
 */
import { SieveRuntimeError } from '../errors.js';
import { sourceText } from '../strings.js';
import type { CommandDef, CompiledNode, CValue, Extension } from '../types.js';
import { parseSingleAddress } from './common.js';

const rejectCommand = (name: 'reject' | 'ereject'): CommandDef => ({
  kind: 'command',
  name,
  requires: name,
  positional: [{ name: 'reason', kind: 'string' }],
  run(node, it) {
    it.result.add({ type: 'reject', reason: it.arg(node, 0), ereject: name === 'ereject', pos: node.pos });
  },
});

const DAY = 86_400;
/** Pigeonhole's sieve_vacation_min_period: shorter periods are raised to one day. */
export const VACATION_MIN_SECONDS = DAY;
/** RFC 5230 §4.1: the default period is 7 days. */
export const VACATION_DEFAULT_DAYS = 7;

const vacation: CommandDef = {
  kind: 'command',
  name: 'vacation',
  requires: 'vacation',
  tags: [
    { name: 'days', param: 'number', group: 'period' },
    { name: 'seconds', param: 'number', group: 'period', requires: 'vacation-seconds' },
    { name: 'subject', param: 'string' },
    { name: 'from', param: 'string' },
    { name: 'addresses', param: 'stringList' },
    { name: 'mime' },
    { name: 'handle', param: 'string' },
  ],
  positional: [{ name: 'reason', kind: 'string' }],
  validate(node, v) {
    const from = node.tags.get('from');
    if (from !== undefined && from !== true && from.kind === 'string') {
      const s = v.constant(from.s);
      if (s !== undefined && !parseSingleAddress(s)) v.error(from.pos, `specified :from address "${s}" is invalid for the vacation action`);
    }
  },
  run(node, it) {
    const days = it.tagNumber(node, 'days');
    const secs = it.tagNumber(node, 'seconds');
    const seconds = Math.max(VACATION_MIN_SECONDS, secs ?? (days ?? VACATION_DEFAULT_DAYS) * DAY);
    const reason = it.arg(node, 0);
    const subject = it.tagString(node, 'subject');
    const from = it.tagString(node, 'from');
    if (from !== undefined && !parseSingleAddress(from)) throw new SieveRuntimeError(`specified :from address "${from}" is invalid for the vacation action`, node.pos);
    const mime = node.tags.has('mime');
    // RFC 5230 §4.2: invalid :addresses entries are ignored (Pigeonhole warns and goes on).
    const addresses = (it.tagList(node, 'addresses') ?? []).map((a) => parseSingleAddress(a)).filter((a): a is string => a !== undefined);
    // RFC 5230 §4.2: without :handle, the reason (Pigeonhole adds subject, from and mime,
    // as written in the script: variables unexpanded).
    const handle = it.tagString(node, 'handle') ?? defaultHandle(node, mime);
    it.result.add({ type: 'vacation', reason, seconds, subject, from, addresses, mime, handle, pos: node.pos });
  },
};

function defaultHandle(node: CompiledNode, mime: boolean): string {
  const src = (v: CValue | true | undefined) => (v !== undefined && v !== true && v.kind === 'string' ? sourceText(v.s) : undefined);
  const reason = node.args[0]?.kind === 'string' ? sourceText(node.args[0].s) : '';
  return `${reason}${src(node.tags.get('subject')) ?? '<default-subject>'}${src(node.tags.get('from')) ?? '<default-from>'}${mime ? '<MIME>' : '<NO-MIME>'}`;
}

export const rejectExtensions: Extension[] = [
  { name: 'reject', commands: [rejectCommand('reject')] },
  { name: 'ereject', commands: [rejectCommand('ereject')] },
];

export const vacationExtensions: Extension[] = [{ name: 'vacation', commands: [vacation] }, { name: 'vacation-seconds', implies: ['vacation'] }];
