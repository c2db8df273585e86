/** A date as RFC 5322 §3.3 writes it, in UTC: "Mon, 7 Dec 2026 00:40:00 +0000". */
export function rfc5322Date(d: Date = new Date()): string {
  return d.toUTCString().replace('GMT', '+0000');
}
