// Browser tests of subprotocols: `new WebSocket(url, [...])` in real headless
// Chromium against the release binary. Chromium fails a connection whose 101
// names no subprotocol when it asked for some, so these show both sides.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT, openPage, sharedBrowser, within, withServer } from './harness.mjs';

const T = { timeout: 60_000 };

const { browser } = sharedBrowser();

/**
 * Opens `new WebSocket(ws://.../ws, offer)` from the server's own page; resolves
 * to {opened: true, protocol} on open, or {opened: false, code} if the
 * browser fails or closes it first.
 */
async function offerFromPage(server, offer) {
  const { context, page } = await openPage(browser(), server.url);
  try {
    return await within(WAIT, `a WebSocket offering ${offer}`, page.evaluate(
      (offered) => new Promise((resolve) => {
        const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
        const ws = new WebSocket(`${scheme}//${location.host}/ws`, offered);
        ws.onopen = () => {
          resolve({ opened: true, protocol: ws.protocol });
          ws.close(1000);
        };
        ws.onclose = (e) => resolve({ opened: false, code: e.code });
      }),
      offer,
    ));
  } finally {
    await context.close().catch(() => {});
  }
}

describe('subprotocols', () => {
  test('10. with --protocol chat.v2, new WebSocket(url, ["x", "chat.v2"]) opens with ws.protocol "chat.v2"', T, () =>
    withServer({ mode: 'echo', args: ['--protocol', 'chat.v2'] }, async (server) => {
      const result = await offerFromPage(server, ['x', 'chat.v2']);
      assert.deepEqual(result, { opened: true, protocol: 'chat.v2' });
    }));

  test('11. without it the browser fails the connection, and the server log says how to allow it', T, () =>
    withServer({ mode: 'echo' }, async (server) => {
      const result = await offerFromPage(server, ['x', 'chat.v2']);
      assert.deepEqual(result, { opened: false, code: 1006 });
      assert.match(server.log(), /offered subprotocols \[x, chat\.v2\] and none was chosen.*--protocol NAME/);
    }));
});
