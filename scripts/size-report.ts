/**
 * `npm run size-report [-- --check] [dir...]`: the source files over 600 lines and the
 * functions over 80 lines (HELPERS.md, issue 15: "no source file over 600 lines, no
 * function over 80 lines outside parsers' tables"), in src/ by default, largest first.
 *
 * A function's length is its lines from the first to the last, less the lines of
 * tables inside it (an array or object literal of 10 lines or more holding only
 * constants: a parser's table); functions nested in a function are measured on their
 * own and not subtracted from the outer one. `--check` exits 1 when anything is over.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const MAX_FILE_LINES = 600;
export const MAX_FUNCTION_LINES = 80;
const TABLE_MIN_LINES = 10;

export interface Oversize {
  file: string;
  /** Function name (file entries have none). */
  name?: string;
  line: number;
  lines: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function functionName(node: ts.Node): string {
  const n = (node as { name?: ts.Node }).name;
  if (n && (ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isPrivateIdentifier(n))) return n.text;
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const p = node.parent;
  if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText();
  if (ts.isCallExpression(p)) return `(callback of ${p.expression.getText().slice(0, 40)})`;
  return '(anonymous)';
}

const isFunction = (n: ts.Node): n is ts.FunctionLikeDeclaration =>
  ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n);

/** Lines of `node` that belong to table literals not inside a nested function. */
function tableLines(sf: ts.SourceFile, body: ts.Node): number {
  let n = 0;
  const visit = (c: ts.Node): void => {
    if (isFunction(c)) return;
    if (ts.isArrayLiteralExpression(c) || ts.isObjectLiteralExpression(c)) {
      const lines = lineOf(sf, c.getEnd()) - lineOf(sf, c.getStart(sf)) + 1;
      if (lines >= TABLE_MIN_LINES && isData(c)) {
        n += lines;
        return;
      }
    }
    ts.forEachChild(c, visit);
  };
  ts.forEachChild(body, visit);
  return n;
}

/** Constants only: literals, and arrays and objects of them. */
function isData(node: ts.Node): boolean {
  if (ts.isArrayLiteralExpression(node)) return node.elements.every(isData);
  if (ts.isObjectLiteralExpression(node)) return node.properties.every((p) => ts.isPropertyAssignment(p) && isData(p.initializer));
  if (ts.isAsExpression(node) || ts.isParenthesizedExpression(node)) return isData(node.expression);
  if (ts.isPrefixUnaryExpression(node)) return isData(node.operand);
  return ts.isStringLiteral(node) || ts.isNumericLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isRegularExpressionLiteral(node) || node.kind === ts.SyntaxKind.TrueKeyword || node.kind === ts.SyntaxKind.FalseKeyword || node.kind === ts.SyntaxKind.NullKeyword;
}

const lineOf = (sf: ts.SourceFile, pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;

export function measure(file: string, text = readFileSync(file, 'utf8')): Oversize[] {
  const out: Oversize[] = [];
  const total = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (total > MAX_FILE_LINES) out.push({ file, line: 1, lines: total });
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    if (isFunction(node) && node.body) {
      const start = lineOf(sf, node.getStart(sf));
      const lines = lineOf(sf, node.getEnd()) - start + 1 - tableLines(sf, node.body);
      if (lines > MAX_FUNCTION_LINES) out.push({ file, name: functionName(node), line: start, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const dirs = argv.filter((a) => a !== '--check');
  const all = (dirs.length > 0 ? dirs : ['src']).flatMap((d) => sourceFiles(d)).flatMap((f) => measure(f));
  const files = all.filter((o) => o.name === undefined).sort((a, b) => b.lines - a.lines);
  const fns = all.filter((o) => o.name !== undefined).sort((a, b) => b.lines - a.lines);
  console.log(`Files over ${MAX_FILE_LINES} lines: ${files.length}`);
  for (const o of files) console.log(`  ${String(o.lines).padStart(5)}  ${o.file}`);
  console.log(`Functions over ${MAX_FUNCTION_LINES} lines (constant tables not counted): ${fns.length}`);
  for (const o of fns) console.log(`  ${String(o.lines).padStart(5)}  ${o.file}:${o.line}  ${o.name}`);
  return check && all.length > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
