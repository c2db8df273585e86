/**
 * A vitest reporter (after the default one) for the tests skipped because an external
 * peer is not installed (test/helpers/peers.ts `needs()`): one line per such test naming
 * the Debian package, then a closing count per package and the apt-get line that
 * installs them all. A run with every peer installed prints nothing.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class PeerReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    const perPeer = new Map<string, number>();
    let otherSkipped = 0;
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        if (t.result().state !== 'skipped') continue;
        const peer = t.meta().missingPeer;
        if (!peer) {
          otherSkipped++;
          continue;
        }
        lines.push(`  skipped  ${m.relativeModuleId} > ${t.fullName}: needs ${peer}`);
        perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1);
      }
    }
    if (lines.length === 0) return;
    const total = [...perPeer.values()].reduce((a, b) => a + b, 0);
    const packages = [...new Set([...perPeer.keys()].flatMap((p) => [...p.matchAll(/Debian package (\S+?)\)/g)].map((x) => x[1]!)))].sort();
    const out = [
      '',
      'Tests skipped because a peer they talk to is not installed:',
      ...lines,
      '',
      `${total} test${total === 1 ? '' : 's'} skipped for missing peers: ${[...perPeer].map(([p, n]) => `${p} ×${n}`).join('; ')}.`,
      `Install them to run these too: apt-get install ${packages.join(' ')}`,
    ];
    if (otherSkipped > 0) out.push(`(${otherSkipped} more skipped for other reasons: it.skip / todo)`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
}
