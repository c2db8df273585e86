// The size matrix on submission → a local mailbox, 587 (STARTTLS) and 465 (implicit
// TLS) (the matrix itself: test/sizes/smtp-matrix.ts).
import { smtpMatrix } from './smtp-matrix.js';

smtpMatrix([
  { name: 'submission 587 (STARTTLS)', listener: 'submission' },
  { name: 'submissions 465', listener: 'submissions' },
]);
