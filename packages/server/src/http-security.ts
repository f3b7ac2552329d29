/**
 * Web hardening shared by the server and the native client's control server (issue 17): the
 * security headers every HTTP response carries, the `/ws` Origin check, and the `/metrics`
 * access rule.
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Content-Security-Policy of every response. No inline script or style (the Vite build emits
 * none: `index.html` loads one module script and one stylesheet from `/assets`), nothing from
 * other origins except WebSocket connections (`wss:`: the web UI may sign in to a server other
 * than the one that served it), no framing (clickjacking), no plugins, no `<base>` rewriting,
 * no form posts.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self' wss:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers set on every HTTP response (static files, /healthz, /metrics, errors). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  // The URL of a page can hold a control token in its fragment (never sent) or a server name
  // in its query: send no Referer to anyone.
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // For browsers without CSP frame-ancestors.
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'microphone=(self), camera=(), geolocation=()',
};

/** Sets {@link SECURITY_HEADERS} on `res` (before its `writeHead`, which merges them). */
export function applySecurityHeaders(res: ServerResponse): void {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
}

/**
 * Normalises an origin (`https://Example.org:443/` → `https://example.org`); undefined if it is
 * not an http(s) origin.
 */
export function normalizeOrigin(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether a WebSocket upgrade may proceed, by its `Origin` (cross-site WebSocket hijacking):
 * - no `Origin` header: a native client or a script, not a browser page: allowed (browsers
 *   always send it, and the login still needs the user's key);
 * - the request's own origin (`<scheme>://<Host header>`): allowed;
 * - one of `allowed` (normalised origins, e.g. a reverse proxy's public origin): allowed;
 * - anything else, including `null` (sandboxed frames, `file:`): refused.
 * @param tls Whether the request came over TLS (scheme of its own origin).
 */
export function originAllowed(
  req: IncomingMessage,
  tls: boolean,
  allowed: readonly string[] = [],
): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  const o = normalizeOrigin(origin);
  if (o === undefined) return false;
  const host = req.headers.host;
  if (host !== undefined && o === normalizeOrigin(`${tls ? 'https' : 'http'}://${host}`))
    return true;
  return allowed.some((a) => normalizeOrigin(a) === o);
}

/** Whether `address` (a socket's remote address) is on this machine: 127.0.0.0/8 or ::1. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * Whether a `/metrics` request may be answered. With a token, only `Authorization: Bearer
 * <token>` (compared in constant time), from anywhere. Without one, only scrapes from this
 * machine: metrics are off the public listener.
 */
export function metricsAllowed(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined || token === '') return isLoopback(req.socket.remoteAddress);
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m?.[1]) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
