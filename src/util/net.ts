/**
 * Client addresses as the listeners see them: IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what
 * a dual-stack socket reports) unwrapped, loopback, and lists of networks in CIDR form
 * (`checks.trusted_networks`, `auth.penalty_exempt`).
 */
import { BlockList, isIP } from 'node:net';

/** `::ffff:192.0.2.1` → `192.0.2.1`; anything else unchanged. */
export function plainIp(addr: string): string {
  return addr.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}

/** 127.0.0.0/8 or ::1, mapped or not. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = plainIp(addr);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/**
 * A matcher for a list of networks ("192.0.2.0/24", "2001:db8::/32") and single
 * addresses. Entries that do not parse match nothing (the config loader checks them).
 */
export function networkMatcher(nets: readonly string[]): (addr: string) => boolean {
  if (nets.length === 0) return () => false;
  const list = new BlockList();
  for (const n of nets) {
    const [a, bits] = n.trim().split('/') as [string, string | undefined];
    const fam = isIP(a);
    if (!fam) continue;
    const type = fam === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(a, type);
    else list.addSubnet(a, Number(bits), type);
  }
  return (addr) => {
    const ip = plainIp(addr);
    const fam = isIP(ip);
    return fam !== 0 && list.check(ip, fam === 6 ? 'ipv6' : 'ipv4');
  };
}

/** The same matcher while the list is the same (config reloads replace the list). */
export function cachedNetworkMatcher(): (nets: readonly string[], addr: string) => boolean {
  let key: string | undefined;
  let match: (addr: string) => boolean = () => false;
  return (nets, addr) => {
    const k = nets.join(',');
    if (k !== key) {
      key = k;
      match = networkMatcher(nets);
    }
    return match(addr);
  };
}

/**
 * The unit a client is counted by: an IPv4 address, or the /64 of an IPv6 address (one
 * host usually holds a whole /64).
 */
export function clientKey(addr: string): string {
  const ip = plainIp(addr);
  if (isIP(ip) !== 6) return ip;
  const [head, tail] = ip.toLowerCase().split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const words = tail === undefined ? h : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${words
    .slice(0, 4)
    .map((w) => w.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * After a write() that returned false: resolves true when the socket drains, false when
 * it closes first (the peer went away), so a writer honours backpressure without
 * leaking listeners.
 */
export function drained(socket: import('node:net').Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}
