#!/usr/bin/env python3
"""Record Dovecot's SEARCH answers (BODY, TEXT, HEADER, FROM, TO, CC, BCC, SUBJECT) for
fixtures of test/fixtures/mime into test/fixtures/mime/search.dovecot.json: a list of
{"fixture", "charset": "UTF-8" | null, "key", "field" (HEADER only), "value", "match"}.
Runs /usr/lib/dovecot/imap in PREAUTH mode per fixture, as record-dovecot-mime.py does.
"""
import json
import os
import shutil
import subprocess
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
F = os.path.join(ROOT, 'test', 'fixtures', 'mime')
Q = {
 'base64-qp': ['BODY needle', 'BODY AAECAP', 'BODY "soft break"', 'TEXT "Transfer encodings"', 'BODY "Transfer encodings"', 'BODY zeros.bin', 'TEXT zeros.bin', 'BODY Content-Type'],
 'nested-mixed-alternative': ['BODY %PDF', 'BODY JVBERi0', 'BODY "lait, tr"', 'BODY "<p>"', 'BODY eacute', 'BODY preamble', 'BODY epilogue', 'TEXT preamble'],
 'rfc822-attached': ['BODY "Inner plain"', 'TEXT "Inner Sender"', 'BODY "Inner Sender"', 'BODY "Inner html"', 'SUBJECT "Inner"', 'BODY "inner.eml"'],
 'encoded-words': ['SUBJECT "and caf"', 'SUBJECT "UTF-8"', 'FROM "Keld"', 'FROM "keld@example"', 'TO "Moore"', 'BODY "SGVsbG8"', 'HEADER Subject ""', 'HEADER X-Nope ""'],
 'latin1-headers': ['BODY "fran"', 'SUBJECT "sum"'],
 'simple-text': ['FROM "alice example"', 'FROM "<alice@example.org>"', 'TO "carol"', 'BCC hidden', 'HEADER Message-ID simple.1', 'TEXT "Return-Path"', 'BODY "hello carol"', 'BODY "  "'],
}
UTF = {'encoded-words': ['SUBJECT "café"', 'FROM "Jørn"', 'TO "日本語"', 'CC "Quoted é"'], 'latin1-headers': ['SUBJECT "Résumé"', 'BODY "Résumé"'], '8bit-headers': ['SUBJECT "Grüße"', 'FROM "Müller"'], 'nested-mixed-alternative': ['BODY "Café au lait, très"']}
records = []
for name in sorted(set(Q) | set(UTF)):
    tmp = tempfile.mkdtemp(); os.chmod(tmp, 0o777)
    for sub in ('cur','new','tmp'): os.makedirs(os.path.join(tmp,'mail',sub))
    shutil.copyfile(f'{F}/{name}.eml', f'{tmp}/mail/cur/1.x:2,')
    conf=f'{tmp}/d.conf'; open(conf,'w').write(f'base_dir = {tmp}/run\nlog_path = {tmp}/log\nmail_location = maildir:{tmp}/mail\nssl=no\nmail_uid=nobody\nmail_gid=nogroup\nfirst_valid_uid=0\nfirst_valid_gid=0\n')
    for dp, dn, fn in os.walk(tmp):
        for d in dn: os.chmod(os.path.join(dp,d),0o777)
        for f in fn: os.chmod(os.path.join(dp,f),0o666)
    cmds = b's SELECT INBOX\r\n'
    qs = [(q, False) for q in Q.get(name, [])] + [(q, True) for q in UTF.get(name, [])]
    for i,(q,u) in enumerate(qs):
        qb = q.encode()
        if u:
            cmds += b't%d SEARCH CHARSET UTF-8 %s\r\n' % (i, qb)
        else:
            cmds += b't%d SEARCH %s\r\n' % (i, qb)
    cmds += b'z LOGOUT\r\n'
    out = subprocess.run(['/usr/lib/dovecot/imap','-c',conf], input=cmds, capture_output=True, env={'USER':'nobody','HOME':tmp,'PATH':'/usr/bin:/bin'}).stdout
    shutil.rmtree(tmp)
    res = [l[8:].strip() == b'1' for l in out.split(b'\r\n') if l.startswith(b'* SEARCH')]
    assert len(res) == len(qs), (name, out)
    for (q, u), r in zip(qs, res):
        parts = q.split(' ', 2 if q.startswith('HEADER') else 1)
        rec = {'fixture': name, 'charset': 'UTF-8' if u else None, 'key': parts[0]}
        if parts[0] == 'HEADER':
            rec['field'] = parts[1]
        v = parts[-1]
        rec['value'] = v[1:-1] if v.startswith('"') else v
        rec['match'] = r
        records.append(rec)
with open(os.path.join(F, 'search.dovecot.json'), 'w', encoding='utf-8') as f:
    json.dump(records, f, ensure_ascii=False, indent=0)
    f.write('\n')
print(len(records), 'answers recorded')
