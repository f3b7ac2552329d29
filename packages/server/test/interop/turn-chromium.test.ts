/**
 * Interop with Chromium: a headless Debian Chromium page with iceTransportPolicy 'relay' calls a
 * werift peer through our relay (real call credentials from `iceServersFor`, strict peer
 * policy). Audio RTP must flow both ways, as the page's getStats() and werift both see, and the
 * selected pair must be relayed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'werift';
import { createTurnRelay } from '../../src/turn/index.ts';

const CHROMIUM = '/usr/bin/chromium';

/** Browser-side code, as a string: this package compiles without the DOM library. */
const PAGE_JS = `
window.turnTest = {
  async offer(iceServers, policy) {
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: policy });
    window.pc = pc;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
      setTimeout(resolve, 10000);
    });
    return pc.localDescription.sdp;
  },
  addCandidate(c) {
    return window.pc.addIceCandidate(c);
  },
  answer(sdp) {
    return window.pc.setRemoteDescription({ type: 'answer', sdp });
  },
  async stats() {
    const out = { packetsSent: 0, packetsReceived: 0, localType: '', remoteType: '' };
    const byId = new Map();
    (await window.pc.getStats()).forEach((s) => byId.set(s.id, s));
    for (const s of byId.values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.packetsSent = s.packetsSent;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') out.packetsReceived = s.packetsReceived;
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        out.localType = byId.get(s.localCandidateId)?.candidateType ?? '';
        out.remoteType = byId.get(s.remoteCandidateId)?.candidateType ?? '';
      }
    }
    return out;
  },
};
`;

interface PageStats {
  packetsSent: number;
  packetsReceived: number;
  localType: string;
  remoteType: string;
}

test(
  'Chromium relay-only calls a werift peer through our TURN, audio both ways',
  { skip: !existsSync(CHROMIUM), timeout: 90_000 },
  async () => {
    const calls = new Map<string, readonly [string, string]>([['call-c', ['browser', 'werift']]]);
    const relay = await createTurnRelay({
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 60000, max: 60999 },
      secret: 'chromium-secret',
      calls: { partiesOf: (id) => calls.get(id) },
      relayOnly: true,
    });
    // http://127.0.0.1 is a secure context, so getUserMedia works there.
    const site = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>turn</title>');
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    const sitePort = (site.address() as { port: number }).port;
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
      ],
    });
    const now = Date.now();
    const werift = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48_000,
            channels: 2,
            payloadType: 111,
          }),
        ],
      },
      iceServers: relay.iceServersFor('call-c', 'werift', now).flatMap((s) =>
        s.username === undefined
          ? []
          : [
              {
                urls: s.urls.find((u) => u.endsWith('udp'))!,
                username: s.username,
                credential: s.credential ?? '',
              },
            ],
      ),
      iceTransportPolicy: 'relay',
      iceUseIpv6: false,
    });
    try {
      const page = await (await browser.newContext({ permissions: ['microphone'] })).newPage();
      await page.goto(`http://127.0.0.1:${sitePort}/`);
      const iceServers = relay.iceServersFor('call-c', 'browser', now);
      assert.equal(relay.relayOnly, true);
      await page.addScriptTag({ content: PAGE_JS });
      const policy = relay.relayOnly ? 'relay' : 'all';
      const offer = await page.evaluate<string>(
        `turnTest.offer(${JSON.stringify(iceServers)}, ${JSON.stringify(policy)})`,
      );
      assert.match(offer, /typ relay/, 'Chromium gathered no relayed candidate from our TURN');
      assert.doesNotMatch(offer, /typ host/);

      let weriftReceived = 0;
      werift.onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => weriftReceived++));
      const transceiver = werift.addTransceiver('audio', { direction: 'sendrecv' });
      werift.onIceCandidate.subscribe((c) => {
        if (!c) return;
        const init = c.toJSON();
        const cand = {
          candidate: init.candidate ?? '',
          sdpMid: init.sdpMid ?? '0',
          sdpMLineIndex: init.sdpMLineIndex ?? 0,
        };
        void page.evaluate(`turnTest.addCandidate(${JSON.stringify(cand)})`).catch(() => {});
      });
      await werift.setRemoteDescription({ type: 'offer', sdp: offer });
      await werift.setLocalDescription(await werift.createAnswer());
      await page.evaluate(`turnTest.answer(${JSON.stringify(werift.localDescription!.sdp)})`);

      // werift sends Opus-silence frames (RFC 6716 TOC 0xF8 + empty) every 20 ms.
      let seq = 1;
      let stats: PageStats | undefined;
      for (let i = 0; i < 400; i++) {
        const header = new RtpHeader({
          payloadType: 111,
          sequenceNumber: seq,
          timestamp: seq * 960,
          marker: seq === 1,
        });
        seq++;
        if (werift.connectionState === 'connected') {
          void transceiver.sender
            .sendRtp(new RtpPacket(header, Buffer.from([0xf8, 0xff, 0xfe])))
            .catch(() => {});
        }
        await new Promise((r) => setTimeout(r, 20));
        if (i % 25 === 24) {
          stats = await page.evaluate<PageStats>('turnTest.stats()');
          if (stats.packetsReceived >= 25 && stats.packetsSent >= 25 && weriftReceived >= 25) break;
        }
      }
      assert.ok(stats, 'no stats');
      assert.ok(stats.packetsReceived >= 25, `browser received ${stats.packetsReceived}`);
      assert.ok(stats.packetsSent >= 25, `browser sent ${stats.packetsSent}`);
      assert.ok(weriftReceived >= 25, `werift received ${weriftReceived}`);
      assert.equal(stats.localType, 'relay');
      assert.equal(stats.remoteType, 'relay');
      assert.ok(relay.stats().packetsRelayed >= 100, `relayed ${relay.stats().packetsRelayed}`);
    } finally {
      await werift.close().catch(() => {});
      await browser.close();
      site.close();
      await relay.close();
    }
  },
);
