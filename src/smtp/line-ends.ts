/**
 * Line ends of a message at receipt, fixed once before anything reads the message.
 *
 * RFC 5322 §2.2 and §2.3: CR and LF appear in a message only together, as CRLF; RFC 5321
 * §2.3.8 / §4.1.1.4: an SMTP client sends no bare CR or LF. Receivers that read a bare CR
 * or LF differently disagree about where a header field ends: a `From:` or a forged
 * `Authentication-Results:` hidden behind a bare CR is one field to one parser and two to
 * a mail client. So every byte that follows passes through here first, and the checks
 * (the submission From-ownership rule, the port-25 check against spoofing our own
 * domains, the removal of forged Authentication-Results) and the queue all see CRLF only:
 *
 * - bare LF (`\n`) → CRLF (Postfix `smtpd_forbid_bare_newline = normalize`);
 * - CR CR … LF → CRLF;
 * - a bare CR in the header block (not followed, after more CRs, by LF) → the message is
 *   refused (`554 5.6.0`): the header would read differently to each parser and there is
 *   no faithful repair;
 * - a bare CR in the body → CRLF (it can only have meant a line end; outbound mail then
 *   never carries a bare CR, RFC 5321 §4.1.1.4).
 *
 * The common case (CRLF everywhere) copies nothing: a chunk is cut only where a line end
 * is rewritten.
 */

const CRLF = Buffer.from('\r\n');
const CR = 13;
const LF = 10;

export class LineEndNormalizer {
  /** CRs seen and not yet written: what they are depends on the next byte. */
  private crRun = 0;
  /** No content byte since the last line end. */
  private lineEmpty = true;
  private inHeader = true;
  /** A bare CR was found in the header block (the message must be refused). */
  bareCrInHeader = false;
  /** Line ends rewritten (bare LF, CR CR LF, bare CR in the body). */
  rewritten = 0;

  /** The normalised bytes of `chunk` (the same buffer when nothing changed). */
  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    const n = chunk.length;
    let from = 0; // bytes from here are copied as they are
    let lineStart = 0;
    let i = 0;
    if (this.crRun > 0) {
      i = from = lineStart = this.crs(chunk, 0, out);
      if (i < 0) return Buffer.alloc(0);
    }
    let nextCr = chunk.indexOf(CR, i);
    let nextLf = chunk.indexOf(LF, i);
    while (nextCr >= 0 || nextLf >= 0) {
      if (nextLf >= 0 && (nextCr < 0 || nextLf < nextCr)) {
        // A bare LF: CRLF instead.
        const k = nextLf;
        if (k > from) out.push(chunk.subarray(from, k));
        out.push(CRLF);
        this.rewritten++;
        this.lineEnd(k > lineStart);
        i = from = lineStart = k + 1;
      } else if (nextCr + 1 < n && chunk[nextCr + 1] === LF) {
        // CRLF: copied as it is.
        this.lineEnd(nextCr > lineStart);
        i = lineStart = nextCr + 2;
      } else {
        const k = nextCr;
        const hadContent = k > lineStart;
        if (k > from) out.push(chunk.subarray(from, k));
        if (hadContent) this.lineEmpty = false;
        i = from = lineStart = this.crs(chunk, k, out);
        if (i < 0) return Buffer.concat(out);
      }
      if (nextCr >= 0 && nextCr < i) nextCr = chunk.indexOf(CR, i);
      if (nextLf >= 0 && nextLf < i) nextLf = chunk.indexOf(LF, i);
    }
    if (n > lineStart) this.lineEmpty = false;
    if (out.length === 0) return chunk;
    if (from < n) out.push(chunk.subarray(from));
    return Buffer.concat(out);
  }

  /** What is left at the end of the message (CRs at the very end are bare). */
  end(): Buffer {
    if (this.crRun === 0) return Buffer.alloc(0);
    this.bareCr();
    return CRLF;
  }

  /**
   * A run of CRs starting at `j` (continuing one from the previous chunk): with an LF
   * after it, one CRLF; before anything else, a bare CR. Returns the index after the
   * run, or -1 when the chunk ends inside it (decided by the next chunk).
   */
  private crs(chunk: Buffer, j: number, out: Buffer[]): number {
    while (j < chunk.length && chunk[j] === CR) {
      this.crRun++;
      j++;
    }
    if (j === chunk.length) return -1;
    out.push(CRLF);
    if (chunk[j] === LF) {
      if (this.crRun > 1) this.rewritten++;
      this.crRun = 0;
      this.lineEnd(false);
      return j + 1;
    }
    this.bareCr();
    return j;
  }

  private bareCr(): void {
    this.crRun = 0;
    if (this.inHeader) this.bareCrInHeader = true;
    this.rewritten++;
    this.lineEnd(false);
  }

  /** A line ends; an empty one ends the header block (RFC 5322 §2.1). */
  private lineEnd(content: boolean): void {
    if (this.inHeader && this.lineEmpty && !content) this.inHeader = false;
    this.lineEmpty = true;
  }
}

/** Normalises a whole message held in one buffer (tests, small callers). */
export function normalizeLineEnds(data: Buffer): { data: Buffer; bareCrInHeader: boolean; rewritten: number } {
  const n = new LineEndNormalizer();
  const out = Buffer.concat([n.push(data), n.end()]);
  return { data: out, bareCrInHeader: n.bareCrInHeader, rewritten: n.rewritten };
}
