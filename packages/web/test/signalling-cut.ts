/**
 * Cuts a page's signalling and nothing else: the page's WebSockets are routed through the test
 * (Playwright's routeWebSocket), which can close them (both ends) and refuse new ones for a while.
 * WebRTC media does not go through it.
 */
import type { Page, WebSocketRoute } from 'playwright-core';

/**
 * Routes `page`'s WebSockets to the server through the test so that {@link SignallingCut.cut}
 * can close them all (both ends) and refuse new ones until {@link SignallingCut.restore}.
 */
export class SignallingCut {
  /** Each routed page-side connection with its server side. */
  #live = new Map<WebSocketRoute, WebSocketRoute>();
  #cut = false;
  /** Connections the page opened while cut, closed at once. */
  refused = 0;

  /** Installs the route on `page`; call before the page opens its WebSocket. */
  static async on(page: Page): Promise<SignallingCut> {
    const c = new SignallingCut();
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => c.#route(ws));
    return c;
  }

  #route(ws: WebSocketRoute): void {
    if (this.#cut) {
      this.refused++;
      void ws.close({ code: 1001, reason: 'cut by the test' });
      return;
    }
    this.#live.set(ws, ws.connectToServer());
    ws.onClose(() => this.#live.delete(ws));
  }

  /** Closes every routed connection and refuses new ones. */
  async cut(): Promise<void> {
    this.#cut = true;
    const live = [...this.#live];
    this.#live.clear();
    await Promise.all(
      live.map(async ([page, upstream]) => {
        // The server side is a real WebSocket in the page, whose close() takes 1000 or 3000-4999.
        await upstream.close({ code: 3000, reason: 'cut' });
        await page.close({ code: 1001, reason: 'cut' });
      }),
    );
  }

  /** Accepts connections again. */
  restore(): void {
    this.#cut = false;
  }
}
