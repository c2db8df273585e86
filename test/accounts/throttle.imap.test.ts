// The login throttle's gap tests (throttle-suite.ts) on imap.
import { IMAP } from './login-clients.js';
import { throttleSuite } from './throttle-suite.js';

throttleSuite(IMAP);
