/**
 * HTML parts for the classifier: the visible text (tags, comments, <style> and <script>
 * removed, character references decoded), the URLs of links and images, and which tags
 * were used. Not an HTML parser: a linear scan with indexOf, so unclosed comments or
 * tags in hostile input cost one pass, never a backtracking regex.
 */

export interface HtmlText {
  text: string;
  urls: string[];
  /** Lower-case tag names seen (distinct, bounded). */
  tags: string[];
  /** Comments present (a classic way of hiding words between letters). */
  comments: boolean;
}

const MAX_URLS = 64;
const MAX_TAGS = 64;

export function htmlToText(html: string): HtmlText {
  const out: string[] = [];
  const urls: string[] = [];
  const tags = new Set<string>();
  let comments = false;
  let pos = 0;
  const n = html.length;
  while (pos < n) {
    const lt = html.indexOf('<', pos);
    if (lt < 0) {
      out.push(html.slice(pos));
      break;
    }
    if (lt > pos) out.push(html.slice(pos, lt));
    if (html.startsWith('<!--', lt)) {
      comments = true;
      const end = html.indexOf('-->', lt + 4);
      pos = end < 0 ? n : end + 3;
      continue;
    }
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) break; // an unclosed tag: the rest is not text
    // The tag is read where it lies (a string per tag was most of what this allocated).
    const name = tagName(html, lt + 1, gt);
    pos = gt + 1;
    if (!name) continue;
    if (tags.size < MAX_TAGS) tags.add(name);
    // The first 4 KB of a tag: an unclosed quote must not rescan a huge tag per attribute.
    // Only a tag with an attribute value can hold one (most are <br>, <p>, </td> …).
    const end = Math.min(gt, lt + 1 + 4096);
    if (urls.length < MAX_URLS && hasCode(html, lt + 1, end, 61)) collectUrls(html.slice(lt + 1, end), urls);
    if ((name === 'style' || name === 'script') && html.charCodeAt(lt + 1) !== 47) {
      // Raw text elements: skip to the closing tag.
      const close = name === 'style' ? CLOSE_STYLE : CLOSE_SCRIPT;
      close.lastIndex = pos;
      const m = close.exec(html);
      pos = m ? m.index : n;
      out.push(' ');
      continue;
    }
    // Block-level tags separate words; inline ones (b, i, span, font) may split a word.
    if (BLOCK.has(name)) out.push(' \n ');
  }
  return { text: decodeEntities(out.join('')), urls, tags: [...tags], comments };
}

const CLOSE_STYLE = /<\/style/gi;
const CLOSE_SCRIPT = /<\/script/gi;

const BLOCK = new Set(['br', 'p', 'div', 'td', 'th', 'tr', 'table', 'li', 'ul', 'ol', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'blockquote', 'title', 'body', 'head', 'html', 'center', 'pre', 'img', 'form', 'input', 'option', 'select', 'textarea', 'dd', 'dt', 'dl']);

/** The lower-case name (at most 12 letters and digits) of the tag html[from, to), after a "/" if any. */
function tagName(html: string, from: number, to: number): string | undefined {
  let i = from < to && html.charCodeAt(from) === 47 ? from + 1 : from;
  const start = i;
  while (i < to && i - start < 12) {
    const c = html.charCodeAt(i) | 0x20;
    if (!((c >= 0x61 && c <= 0x7a) || (i > start && html.charCodeAt(i) >= 0x30 && html.charCodeAt(i) <= 0x39))) break;
    i++;
  }
  return i > start ? html.slice(start, i).toLowerCase() : undefined;
}

/** Whether html[from, to) holds the code unit `code`. */
function hasCode(html: string, from: number, to: number, code: number): boolean {
  for (let i = from; i < to; i++) if (html.charCodeAt(i) === code) return true;
  return false;
}

const URL_ATTR = /\b(?:href|src|action|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi;

/** href= / src= / action= values inside one tag. */
function collectUrls(inner: string, urls: string[]): void {
  const re = URL_ATTR;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(inner)) && urls.length < MAX_URLS) {
    const u = (m[1] ?? m[2] ?? m[3] ?? '').trim();
    if (u) urls.push(decodeEntities(u));
  }
}

const NAMED: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  copy: '©',
  reg: '®',
  trade: '™',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  middot: '·',
  bull: '•',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  laquo: '«',
  raquo: '»',
  rsquo: '’',
  lsquo: '‘',
  rdquo: '”',
  ldquo: '“',
  shy: '',
  zwnj: '',
  zwj: '',
};

/** Character references (HTML §13.5): named ones from a short table, all numeric ones. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});?/g, (all, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return ' ';
      return String.fromCodePoint(code);
    }
    const v = NAMED[ref.toLowerCase()];
    return v ?? all;
  });
}
