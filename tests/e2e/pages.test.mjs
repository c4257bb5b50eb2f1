// Browser tests of pages other than wshub's own layout: the built-in page
// when the endpoint is `/`, a tutorial's page served with --www (inline
// script, onclick), and the same page opened from a file (Origin: null).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { WAIT, connected, openPage, say, sharedBrowser, waitEntry, withServer } from './harness.mjs';

const T = { timeout: 90_000 };

const { browser } = sharedBrowser();
let dir;
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wshub-e2e-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A page as tutorials write them: an inline script, an onclick handler, and
 * a WebSocket URL of its own. `#out` shows the first message, or `error`.
 * (The empty icon keeps the browser from asking for /favicon.ico.)
 */
function tutorial(wsUrl) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>tutorial</title>
<link rel="icon" href="data:,"></head>
<body>
<button id="go" onclick="go()">Connect</button>
<p id="out">idle</p>
<script>
  function go() {
    var out = document.getElementById('out');
    var ws = new WebSocket(${wsUrl});
    ws.onmessage = function (e) { out.textContent = e.data; };
    ws.onerror = function () { out.textContent = 'error'; };
  }
</script>
</body></html>
`;
}

/** Waits, bounded, until the server's log matches `re`. */
async function logShows(server, re) {
  const deadline = Date.now() + WAIT;
  while (!re.test(server.log())) {
    if (Date.now() > deadline) assert.fail(`the server log never matched ${re}:\n${server.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Clicks Connect and returns what `#out` then shows (a message or `error`). */
async function clickAndRead(page) {
  await page.click('#go');
  const handle = await page.waitForFunction(
    () => {
      const t = document.getElementById('out').textContent;
      return t !== 'idle' ? t : false;
    },
    null,
    { timeout: WAIT },
  );
  return handle.jsonValue();
}

describe('other pages and paths', () => {
  test('the built-in page finds an endpoint at / through /wshub.json', T, () =>
    withServer({ args: ['--ws-path', '/'] }, async (server) => {
      assert.equal(server.wsPath, '/');
      const a = await openPage(browser(), server.url);
      try {
        await connected(a.page);
        await say(a.page, 'at the root');
        await waitEntry(a.page, 'li.msg .text', 'at the root');
        assert.deepEqual(a.problems, []);
      } finally {
        await a.context.close();
      }
    }));

  test('a page of ones own served with --www runs its inline script and onclick', T, async () => {
    const www = path.join(dir, 'own');
    mkdirSync(www);
    writeFileSync(path.join(www, 'index.html'), tutorial(`'ws://' + location.host + '/ws'`));
    await withServer({ args: ['--www', www] }, async (server) => {
      const a = await openPage(browser(), server.url);
      try {
        assert.equal(a.response.headers()['content-security-policy'], undefined);
        const got = await clickAndRead(a.page);
        assert.match(got, /"type":"welcome"/);
        assert.deepEqual(a.problems, []);
      } finally {
        await a.context.close();
      }
    });
  });

  test('a page opened from a file connects only with --allow-origin null', T, async () => {
    for (const allow of [false, true]) {
      await withServer({ args: ['--ws-path', '/', ...(allow ? ['--allow-origin', 'null'] : [])] }, async (server) => {
        const file = path.join(dir, `tutorial-${server.port}.html`);
        writeFileSync(file, tutorial(`'ws://127.0.0.1:${server.port}/'`));
        const context = await browser().newContext();
        try {
          const page = await context.newPage();
          await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: WAIT });
          const got = await clickAndRead(page);
          if (allow) {
            assert.match(got, /"type":"welcome"/);
          } else {
            assert.equal(got, 'error');
            // The refusal is logged with what to do about it (the log
            // comes through a pipe, so it may trail the page a little).
            await logShows(server, /origin null is not allowed: it is a page opened from a file/);
          }
        } finally {
          await context.close();
        }
      });
    }
  });
});
