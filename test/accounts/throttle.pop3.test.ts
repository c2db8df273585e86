// The login throttle's gap tests (throttle-suite.ts) on pop3.
import { POP3 } from './login-clients.js';
import { throttleSuite } from './throttle-suite.js';

throttleSuite(POP3);
