// FETCH attribute parsing — RFC 9051 §6.4.5 and §9:
// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
//             "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] / "BODY.PEEK" section [partial] /
//             "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary / "MODSEQ" /
//             "SAVEDATE" (RFC 8514 §3) / "EMAILID" / "THREADID" (RFC 8474 §5) /
//             "PREVIEW" [SP "(" "LAZY" ")"] (RFC 8970 §7)
// section = "[" [section-spec] "]"; partial = "<" number64 "." nz-number64 ">"
import { ImapBad } from '../../errors.js';
import { readSection, sectionToString, type PartialRange, type SectionSpec } from '../../mime-adapter.js';
import type { Parser } from '../../wire/parser.js';

export type SimpleItem = 'EMAILID' | 'THREADID' | 'SAVEDATE' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'UID' | 'MODSEQ' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT';

export type FetchItem =
  | { kind: SimpleItem }
  | { kind: 'section'; binary: boolean; peek: boolean; section: SectionSpec; label: string; partial?: PartialRange }
  | { kind: 'binarySize'; section: SectionSpec; label: string }
  /** PREVIEW [SP "(" "LAZY" ")"] (RFC 8970 §3, §7). */
  | { kind: 'preview'; lazy: boolean };

const SIMPLE = new Set<string>(['EMAILID', 'THREADID', 'SAVEDATE', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'UID', 'MODSEQ', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);

const MACROS: Record<string, SimpleItem[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

function name(p: Parser): string {
  const m = /^[A-Za-z0-9.]+/.exec(p.rest());
  if (!m) throw new ImapBad('Expected fetch attribute');
  p.take(m[0]);
  return m[0].toUpperCase();
}

/** "[section]" (or "[section-part]" for BINARY), by the one section grammar (mime/spec.ts), and its echo label. */
function section(p: Parser, binary: boolean): { section: SectionSpec; label: string } {
  const spec = readSection(p, binary);
  return { section: spec, label: sectionToString(spec) };
}

function partial(p: Parser): PartialRange | undefined {
  if (!p.tryTake('<')) return undefined;
  const origin = p.number(true);
  p.take('.');
  const length = p.number(true);
  if (length === 0) throw new ImapBad('Partial length must be non-zero');
  p.take('>');
  return { origin, length };
}

function item(p: Parser): FetchItem {
  const n = name(p);
  if ((n === 'BODY' || n === 'BODY.PEEK') && p.peek() === '[') {
    const s = section(p, false);
    return { kind: 'section', binary: false, peek: n === 'BODY.PEEK', ...s, partial: partial(p) };
  }
  if (n === 'BINARY' || n === 'BINARY.PEEK') {
    const s = section(p, true);
    return { kind: 'section', binary: true, peek: n === 'BINARY.PEEK', ...s, partial: partial(p) };
  }
  if (n === 'PREVIEW') return { kind: 'preview', lazy: p.tryTake(' (LAZY)') };
  if (n === 'BINARY.SIZE') return { kind: 'binarySize', ...section(p, true) };
  if (n === 'BODY.PEEK') throw new ImapBad('BODY.PEEK needs a section');
  if (!SIMPLE.has(n)) throw new ImapBad(`Unknown fetch attribute ${n}`);
  return { kind: n as SimpleItem };
}

export function parseFetchItems(p: Parser): FetchItem[] {
  if (p.peek() === '(') {
    const items: FetchItem[] = [];
    p.parenList(() => items.push(item(p)), false);
    return items;
  }
  const save = /^[A-Za-z]+/.exec(p.rest())?.[0]?.toUpperCase();
  if (save && MACROS[save] && (p.rest().length === save.length || p.rest()[save.length] === ' ')) {
    p.take(save);
    return MACROS[save]!.map((k) => ({ kind: k }));
  }
  return [item(p)];
}
