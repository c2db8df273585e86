// The login throttle's gap tests (throttle-suite.ts) on ManageSieve.
import { MANAGESIEVE } from './login-clients.js';
import { throttleSuite } from './throttle-suite.js';

throttleSuite(MANAGESIEVE);
