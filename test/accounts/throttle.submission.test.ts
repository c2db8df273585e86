// The login throttle's gap tests (throttle-suite.ts) on submission.
import { SUBMISSION } from './login-clients.js';
import { throttleSuite } from './throttle-suite.js';

throttleSuite(SUBMISSION);
