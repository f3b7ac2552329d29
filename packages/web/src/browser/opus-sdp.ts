/**
 * The Opus parameters of an SDP, rewritten for the page's call settings (RFC 7587 §6.1
 * `useinbandfec`, `maxaveragebitrate`, `minptime`; RFC 4566 `a=ptime`). webrtc-call.ts applies
 * them to remote descriptions, so our encoder follows them.
 * @module
 */
import type { UiSettings } from '../app/types.ts';

/** Rewrites the Opus fmtp/ptime of an SDP for our wishes: RFC 7587 §6.1 parameters. */
export function mungeOpus(sdp: string, settings: UiSettings): string {
  const pt = /^a=rtpmap:(\d+) opus\/48000/im.exec(sdp)?.[1];
  if (pt === undefined) return sdp;
  const lines = sdp.split('\r\n');
  const out: string[] = [];
  for (const line of lines) {
    if (line.startsWith(`a=fmtp:${pt} `)) {
      const params = new Map(
        line
          .slice(`a=fmtp:${pt} `.length)
          .split(';')
          .map((p) => p.trim().split('=') as [string, string]),
      );
      if (settings.fec !== undefined) params.set('useinbandfec', settings.fec ? '1' : '0');
      if (settings.frameMs !== undefined) params.set('minptime', String(settings.frameMs));
      if (settings.bitrateKbps !== undefined)
        params.set('maxaveragebitrate', String(settings.bitrateKbps * 1000));
      out.push(`a=fmtp:${pt} ${[...params].map(([k, v]) => `${k}=${v}`).join(';')}`);
      continue;
    }
    if (line.startsWith('a=ptime:') && settings.frameMs !== undefined) continue;
    out.push(line);
    if (line.startsWith('m=audio') && settings.frameMs !== undefined) {
      // Placed right after the m-line so it applies to this media section.
      out.push(`a=ptime:${settings.frameMs}`);
    }
  }
  return out.join('\r\n');
}
