/**
 * Test certificates made with openssl: a root, an intermediate, and leaves signed by the
 * intermediate, so tests can check that the full chain (leaf + intermediate) is served.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { peer } from '../helpers/peers.js';

export interface TestCa {
  rootPem: string;
  intermediatePem: string;
  /** Makes a leaf for `names` signed by the intermediate: its key and chain (leaf + intermediate) PEM. */
  leaf(names: string[], tag: string): { key: string; cert: string; leafPem: string };
}

export function makeTestCa(dir: string): TestCa {
  const ssl = (...args: string[]) => execFileSync(peer('openssl'), args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/CN=Test Root', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ssl('req', ...ec, '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=Test Intermediate');
  writeFileSync(path.join(dir, 'int.ext'), 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  ssl('x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-out', 'int.pem', '-days', '2', '-extfile', 'int.ext');
  const intermediatePem = readFileSync(path.join(dir, 'int.pem'), 'utf8');
  return {
    rootPem: readFileSync(path.join(dir, 'root.pem'), 'utf8'),
    intermediatePem,
    leaf(names, tag) {
      ssl('req', ...ec, '-keyout', `${tag}.key`, '-out', `${tag}.csr`, '-subj', `/CN=${names[0]}`);
      writeFileSync(path.join(dir, `${tag}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
      ssl('x509', '-req', '-in', `${tag}.csr`, '-CA', 'int.pem', '-CAkey', 'int.key', '-CAcreateserial', '-out', `${tag}.pem`, '-days', '2', '-extfile', `${tag}.ext`);
      const leafPem = readFileSync(path.join(dir, `${tag}.pem`), 'utf8');
      return { key: readFileSync(path.join(dir, `${tag}.key`), 'utf8'), cert: leafPem + intermediatePem, leafPem };
    },
  };
}
