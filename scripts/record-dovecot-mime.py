#!/usr/bin/env python3
"""Record Dovecot's answers for the MIME corpus in test/fixtures/mime/.

For every NAME.eml it runs Debian's dovecot-imapd (/usr/lib/dovecot/imap, PREAUTH on
stdin/stdout, with a throwaway config and a one-message Maildir in a temp dir, so no
port, no daemon and no password database are needed) and asks for a list of FETCH
items, one FETCH command per item. The answers go to NAME.dovecot.txt in this format,
one record per item:

    <item name as Dovecot answered it> <byte length of the value>\\n
    <value bytes, exactly as on the wire (quoted strings, literals...)>\\n

A tagged NO/BAD answer (e.g. BINARY of an unknown transfer encoding) is recorded as
item name "!<requested item>" and the value is the tagged status text ("DISCONNECTED"
when Dovecot dropped the session, as it does for BINARY of invalid base64).

MIME_FIXTURES=dir records the .eml files of another directory; DEBUG=1 shows Dovecot's log.

Items: a fixed list for every message (DEFAULT_ITEMS) plus the lines of NAME.items
(optional, one FETCH item per line, e.g. "BODY.PEEK[1.2.MIME]").

Usage: scripts/record-dovecot-mime.py [NAME ...]     (run as root; needs dovecot-imapd)
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
FIXTURES = os.environ.get('MIME_FIXTURES') or os.path.join(ROOT, 'test', 'fixtures', 'mime')
IMAP_BIN = '/usr/lib/dovecot/imap'

DEFAULT_ITEMS = [
    'RFC822.SIZE',
    'ENVELOPE',
    'BODY',
    'BODYSTRUCTURE',
    'BODY.PEEK[]',
    'BODY.PEEK[HEADER]',
    'BODY.PEEK[TEXT]',
    'BODY.PEEK[HEADER.FIELDS (Subject From X-Missing)]',
    'BODY.PEEK[HEADER.FIELDS.NOT (Subject From)]',
    'BODY.PEEK[]<3.40>',
    'BODY.PEEK[1]',
    'BODY.PEEK[1.MIME]',
    'BINARY.PEEK[1]',
    'BINARY.SIZE[1]',
]


class Reader:
    """Reads whole IMAP responses (lines with their literals) from a pipe."""

    def __init__(self, f):
        self.f = f

    def response(self):
        out = bytearray()
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError('dovecot closed the connection')
            out += line
            stripped = line.rstrip(b'\r\n')
            if stripped.endswith(b'}'):
                start = stripped.rfind(b'{')
                if start >= 0 and stripped[start + 1:-1].isdigit():
                    out += self.f.read(int(stripped[start + 1:-1]))
                    continue
            return bytes(out)


def split_item(resp):
    """'* 1 FETCH (NAME VALUE)\\r\\n' -> (NAME, VALUE)."""
    prefix = b'* 1 FETCH ('
    assert resp.startswith(prefix) and resp.endswith(b')\r\n'), resp[:80]
    body = resp[len(prefix):-3]
    i = 0
    depth = 0
    while i < len(body):
        c = body[i:i + 1]
        if c == b'[':
            depth += 1
        elif c == b']':
            depth -= 1
        elif c == b' ' and depth == 0:
            break
        i += 1
    return body[:i].decode('latin-1'), body[i + 1:]


def record(name):
    eml = os.path.join(FIXTURES, name + '.eml')
    items = list(DEFAULT_ITEMS)
    extra = os.path.join(FIXTURES, name + '.items')
    if os.path.exists(extra):
        with open(extra, encoding='utf-8') as f:
            items += [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
    tmp = tempfile.mkdtemp(prefix='dovecot-mime-')
    try:
        os.chmod(tmp, 0o777)
        for sub in ('cur', 'new', 'tmp'):
            os.makedirs(os.path.join(tmp, 'mail', sub))
        shutil.copyfile(eml, os.path.join(tmp, 'mail', 'cur', '1000000000.M1P1.fixture:2,'))
        conf = os.path.join(tmp, 'dovecot.conf')
        with open(conf, 'w') as f:
            f.write('base_dir = %s/run\nlog_path = %s/dovecot.log\n' % (tmp, tmp))
            f.write('mail_location = maildir:%s/mail\nssl = no\n' % tmp)
            f.write('mail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n')
        for dirpath, dirnames, filenames in os.walk(tmp):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o777)
            for fn in filenames:
                os.chmod(os.path.join(dirpath, fn), 0o666)
        env = {'USER': 'nobody', 'HOME': tmp, 'PATH': '/usr/bin:/bin'}
        stderr = None if os.environ.get('DEBUG') else subprocess.DEVNULL

        def start():
            proc = subprocess.Popen([IMAP_BIN, '-c', conf], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
            reader = Reader(proc.stdout)
            proc.stdin.write(b's SELECT INBOX\r\n')
            proc.stdin.flush()
            while not reader.response().startswith(b's '):
                pass
            return proc, reader

        proc, reader = start()
        # One command at a time: Dovecot runs pipelined FETCHes in parallel.
        records = []
        for i, item in enumerate(items):
            tag = b't%d' % i
            proc.stdin.write(b'%s FETCH 1 (%s)\r\n' % (tag, item.encode('utf-8')))
            proc.stdin.flush()
            pending = []
            try:
                while True:
                    resp = reader.response()
                    if resp.startswith(tag + b' '):
                        break
                    if resp.startswith(b'* 1 FETCH ('):
                        pending.append(resp)
            except EOFError:
                # Dovecot drops the connection on some broken input (e.g. BINARY of
                # invalid base64): record it and go on with a new session.
                records.append(('!' + item, b'DISCONNECTED'))
                proc.wait()
                proc, reader = start()
                continue
            status = resp[len(tag) + 1:-2]
            if status.startswith(b'OK'):
                assert len(pending) == 1, (name, item, pending)
                records.append(split_item(pending[0]))
            else:
                records.append(('!' + item, status))
        proc.stdin.write(b'z LOGOUT\r\n')
        proc.stdin.close()
        proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    with open(os.path.join(FIXTURES, name + '.dovecot.txt'), 'wb') as f:
        for item, value in records:
            f.write(b'%s %d\n' % (item.encode('latin-1'), len(value)))
            f.write(value + b'\n')


def main():
    names = sys.argv[1:] or sorted(f[:-4] for f in os.listdir(FIXTURES) if f.endswith('.eml'))
    for name in names:
        record(name)
        print('recorded', name)


if __name__ == '__main__':
    main()
