/**
 * The test DNS server as its own process for the inbound-checks bench, so answering
 * queries does not share the measured server's event loop. Reads the zone as JSON on
 * stdin, prints `{"port":N}` on stdout, exits when stdin closes or on SIGTERM.
 */
import { startDnsServer, type Zone } from '../../test/helpers/dns-server.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d: string) => {
  input += d;
  const nl = input.indexOf('\n');
  if (nl < 0) return;
  const zone = JSON.parse(input.slice(0, nl)) as Zone;
  input = input.slice(nl + 1);
  void startDnsServer(zone).then((dns) => {
    process.stdout.write(`${JSON.stringify({ port: dns.port })}\n`);
    const stop = () => void dns.close().then(() => process.exit(0));
    process.stdin.on('end', stop);
    process.on('SIGTERM', stop);
  });
});
