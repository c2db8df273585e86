// The size matrix on port 25 → Maildir (the matrix itself: test/sizes/smtp-matrix.ts).
import { smtpMatrix } from './smtp-matrix.js';

smtpMatrix([{ name: 'port 25', listener: 'smtp' }]);
