#!/usr/bin/python3
"""Independent DKIM check with python3-dkim (dkimpy): reads a message on stdin and
verifies every DKIM-Signature, looking up keys with dnspython at the DNS server given
as 127.0.0.1:PORT (the tests' loopback server). Prints "pass" or "fail" per signature."""
import sys
import dkim
import dns.resolver

server, port = sys.argv[1].rsplit(':', 1)
res = dns.resolver.Resolver(configure=False)
res.nameservers = [server]
res.port = int(port)
res.timeout = res.lifetime = 5


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode('ascii')
    try:
        ans = res.resolve(name, 'TXT')
    except Exception:
        return None
    for rr in ans:
        return b''.join(rr.strings)
    return None


msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
n = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])
if n == 0:
    print('none')
    sys.exit(1)
ok = True
for i in range(n):
    good = d.verify(idx=i, dnsfunc=dnsfunc)
    print('pass' if good else 'fail')
    ok = ok and good
sys.exit(0 if ok else 1)
