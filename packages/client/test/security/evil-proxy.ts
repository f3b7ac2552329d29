/**
 * A hostile signalling server for tests (issue 17): a WebSocket proxy in front of a real server
 * that passes every server→client frame through a rewrite, as a malicious server would.
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** A parsed signalling frame. */
export type Frame = Record<string, unknown>;
/** Rewrites one frame from the server to a client (`to` is that client's name); null drops it. */
export type Rewrite = (frame: Frame, to: string) => Promise<Frame | null> | Frame | null;

/** A WebSocket message as text. */
function asText(d: RawData): string {
  if (Buffer.isBuffer(d)) return d.toString('utf8');
  return Array.isArray(d) ? Buffer.concat(d).toString('utf8') : Buffer.from(d).toString('utf8');
}

/** A signalling proxy whose server→client frames go through the current {@link Rewrite}. */
export class EvilProxy {
  readonly wss: WebSocketServer;
  rewrite: Rewrite = (f) => f;
  #upstream = '';
  constructor() {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    this.wss.on('connection', (client) => {
      const up = new WebSocket(this.#upstream, { perMessageDeflate: false });
      const early: RawData[] = [];
      let name = '?';
      // Frames are handled strictly in order per direction, even when a rewrite awaits.
      let chain = Promise.resolve();
      client.on('message', (data) => {
        try {
          const f = JSON.parse(asText(data)) as Frame;
          if (f.type === 'auth' && typeof f.name === 'string') name = f.name;
        } catch {
          // Not ours to judge: forwarded as is.
        }
        if (up.readyState === WebSocket.OPEN) up.send(asText(data));
        else early.push(data);
      });
      up.on('open', () => {
        for (const d of early.splice(0)) up.send(asText(d));
      });
      up.on('message', (data) => {
        chain = chain.then(async () => {
          const out = await this.rewrite(JSON.parse(asText(data)) as Frame, name);
          if (out !== null && client.readyState === WebSocket.OPEN)
            client.send(JSON.stringify(out));
        });
      });
      const closeBoth = () => {
        client.close();
        up.close();
      };
      // A close passes through with its code, as a transparent proxy's would: the server tells a
      // client that quits (1000) from one that dropped (a call waits for the latter).
      const passClose = (to: WebSocket) => (code: number, reason: Buffer) => {
        if (code === 1000 || (code >= 3000 && code <= 4999)) to.close(code, reason);
        closeBoth();
      };
      client.on('close', passClose(up));
      up.on('close', passClose(client));
      client.on('error', closeBoth);
      up.on('error', closeBoth);
    });
  }
  async listening(): Promise<number> {
    if (this.wss.address() === null) await new Promise((r) => this.wss.once('listening', r));
    return (this.wss.address() as AddressInfo).port;
  }
  set upstream(url: string) {
    this.#upstream = url;
  }
  close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    return new Promise((r) => this.wss.close(() => r()));
  }
}
