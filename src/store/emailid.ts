/**
 * EMAILID (RFC 8474 §5.1: 1*255 of ALPHA / DIGIT / "_" / "-"), given to a message when
 * it is first stored and carried by its copies: "M" and 96 random bits, so it says
 * nothing of the message. Both stores make it here (one per delivered message: from the
 * random pool, not a randomBytes call each).
 */
import { randomHex } from '../util/random.js';

export function newEmailId(): string {
  return 'M' + randomHex(12);
}
