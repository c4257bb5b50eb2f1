// Browser tests of the wshub page: real headless Chromium against the real
// release binary. Run with tests/e2e/run.sh (or `node --test` in this folder
// after `cargo build --release`).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addLog,
  connected,
  fits,
  freePort,
  messages,
  notes,
  onlineNames,
  openPage,
  say,
  screenshotPath,
  sharedBrowser,
  startServer,
  state,
  waitEntry,
} from './harness.mjs';

const T = { timeout: 90_000 };

const { browser, scenario } = sharedBrowser();

describe('chat mode', () => {
  test('1. the page loads without console errors, connected, showing my name', T, () =>
    scenario('load', {}, async ({ open }) => {
      const a = await open();
      const csp = a.response.headers()['content-security-policy'] ?? '';
      assert.match(csp, /script-src 'self'/, 'the server sends its CSP');
      const me = await connected(a.page);
      assert.match(me, /^guest-\d+$/);
      assert.ok(await a.page.isVisible('#status'));
      assert.match(await a.page.textContent('#status'), /connected/i);
      assert.equal(await a.page.textContent('#toggle'), 'Disconnect');
      assert.deepEqual(await onlineNames(a.page), [me]);
      // Let a round trip through the server pass, so late errors would show.
      await say(a.page, 'ping');
      await waitEntry(a.page, 'li.msg .text', 'ping');
      assert.deepEqual(a.problems, [], 'no console errors, page errors or failed requests');
    }));

  test('2. Enter sends; the message shows in both pages with sender and time', T, () =>
    scenario('message', {}, async ({ open }) => {
      const a = await open();
      const b = await open();
      const nameA = await connected(a.page);
      await connected(b.page);
      const before = Date.now();
      await say(a.page, 'hello from A');
      for (const p of [a.page, b.page]) {
        await waitEntry(p, 'li.msg', 'hello from A');
        const msg = (await messages(p)).find((m) => m.text === 'hello from A');
        assert.equal(msg.from, nameA);
        assert.match(msg.time, /\d{1,2}\D\d{2}/, 'a readable time');
        const ts = Date.parse(msg.datetime);
        assert.ok(Math.abs(ts - before) < 60_000, `datetime ${msg.datetime} is about now`);
      }
      assert.equal(await a.page.inputValue('#input'), '', 'the input is cleared after sending');
      assert.match((await messages(a.page)).at(-1).cls, /\bmine\b/);
      assert.doesNotMatch((await messages(b.page)).at(-1).cls, /\bmine\b/);
      assert.deepEqual([...a.problems, ...b.problems], []);
    }));

  test('3. online list; Disconnect shows leave in B; Connect joins again', T, () =>
    scenario('toggle', {}, async ({ open }) => {
      const a = await open();
      const nameA = await connected(a.page);
      const b = await open();
      const nameB = await connected(b.page);
      assert.deepEqual((await onlineNames(b.page)).sort(), [nameA, nameB].sort());
      await waitEntry(a.page, 'li.note', `${nameB} joined`);
      assert.deepEqual((await onlineNames(a.page)).sort(), [nameA, nameB].sort());

      await a.page.click('#toggle');
      await a.page.waitForSelector('#status[data-state="disconnected"]');
      assert.equal(await a.page.textContent('#toggle'), 'Connect');
      assert.ok(await a.page.isDisabled('#send'), 'Send is off while disconnected');
      await waitEntry(b.page, 'li.note', `${nameA} left`);
      await b.page.waitForFunction((n) => !document.querySelector(`#online li[data-name="${n}"]`), nameA);
      // No reconnect by itself after the user's Disconnect: B's next
      // message, sent after A's leave, must not reach A.
      await say(b.page, 'while A is away');
      await waitEntry(b.page, 'li.msg', 'while A is away');
      assert.equal(await state(a.page), 'disconnected');
      // And none later: the first automatic retry would come within 0.5 s.
      await assert.rejects(
        a.page.waitForSelector('#status:not([data-state="disconnected"])', { timeout: 1_500 }),
        /Timeout/,
        'no reconnect after the user pressed Disconnect',
      );

      await a.page.click('#toggle');
      const nameA2 = await connected(a.page);
      assert.notEqual(nameA2, nameA, 'a new connection gets a new guest name');
      await waitEntry(b.page, 'li.note', `${nameA2} joined`);
      await b.page.waitForSelector(`#online li[data-name="${nameA2}"]`);
      assert.equal(await a.page.textContent('#toggle'), 'Disconnect');
      // What B said meanwhile comes as the lobby's history, marked so, not
      // as a live message.
      await waitEntry(a.page, 'li.msg.history', 'while A is away');
      assert.ok(!(await messages(a.page)).some((m) => m.text === 'while A is away' && !m.cls.includes('history')));
      await say(a.page, 'back again');
      await waitEntry(b.page, 'li.msg', 'back again');
    }));

  test('4. HTML in a message is shown as text and never runs', T, () =>
    scenario('xss', {}, async ({ open }) => {
      const a = await open();
      const b = await open();
      await connected(a.page);
      await connected(b.page);
      const payload = '<img src=x onerror="window.__pwned=1">';
      await say(a.page, payload);
      for (const p of [a.page, b.page]) {
        await waitEntry(p, 'li.msg .text', payload);
        const texts = (await messages(p)).map((m) => m.text);
        assert.ok(texts.includes(payload), 'the literal text is shown');
        assert.equal(await p.$$eval('#log img, #online img', (l) => l.length), 0, 'no element was made from it');
      }
      // A name is user data too.
      await say(a.page, '/nick <b>bold</b>');
      for (const p of [a.page, b.page]) {
        await waitEntry(p, 'li.note', 'now <b>bold</b>.');
        assert.equal(await p.$$eval('#log b, #online b, #me b', (l) => l.length), 0);
      }
      // Any onerror would have run by now (the failed load of "x" is
      // local); the round trip gives it time.
      await say(b.page, 'after');
      await waitEntry(a.page, 'li.msg', 'after');
      for (const p of [a.page, b.page]) {
        assert.equal(await p.evaluate(() => typeof window.__pwned), 'undefined');
      }
    }));

  test('5. /nick renames in both pages; a taken name is an error only for its sender', T, () =>
    scenario('nick', {}, async ({ open }) => {
      const a = await open();
      const b = await open();
      const nameA = await connected(a.page);
      const nameB = await connected(b.page);
      await say(a.page, '/nick ada');
      await a.page.waitForFunction(() => document.getElementById('me').textContent === 'ada');
      await waitEntry(a.page, 'li.note', 'You are now ada');
      await waitEntry(b.page, 'li.note', `${nameA} is now ada`);
      await b.page.waitForSelector('#online li[data-name="ada"]');
      assert.deepEqual((await onlineNames(b.page)).sort(), ['ada', nameB].sort());
      assert.equal(await b.page.textContent('#me'), nameB);

      await say(a.page, 'I am ada');
      await waitEntry(b.page, 'li.msg', 'I am ada');
      assert.equal((await messages(b.page)).find((m) => m.text === 'I am ada').from, 'ada');

      await say(b.page, '/nick ada');
      await waitEntry(b.page, 'li.note.error', 'the name ada is taken');
      assert.equal(await b.page.textContent('#me'), nameB, 'B keeps its name');
      // The server orders what A receives: once B's next message is in A,
      // any error sent to A would be too.
      await say(b.page, 'after the refusal');
      await waitEntry(a.page, 'li.msg', 'after the refusal');
      assert.deepEqual(
        (await notes(a.page)).filter(([cls]) => cls.includes('error')),
        [],
        'A saw no error',
      );
      assert.ok(!(await notes(a.page)).some(([, t]) => t.includes('taken')));
      assert.equal(await a.page.textContent('#me'), 'ada');
    }));

  test('6. after a server restart on the same port both pages reconnect by themselves', T, async () => {
    const port = await freePort();
    let server = await startServer({ port });
    const opened = [];
    try {
      for (let i = 0; i < 2; i++) opened.push(await openPage(browser(), server.url));
      const [a, b] = opened;
      await connected(a.page);
      await connected(b.page);
      await say(a.page, 'before the restart');
      await waitEntry(b.page, 'li.msg', 'before the restart');

      await server.stop();
      for (const p of [a.page, b.page]) {
        await p.waitForSelector('#status[data-state="disconnected"]', { timeout: 5_000 });
        assert.equal(await p.textContent('#toggle'), 'Connect');
        await waitEntry(p, 'li.note', 'Connection lost');
      }
      await a.page.screenshot({ path: screenshotPath('disconnected.png') });

      server = await startServer({ port });
      const started = Date.now();
      const names = [];
      for (const p of [a.page, b.page]) {
        await p.waitForSelector('#status[data-state="connected"]', { timeout: 15_000 });
        names.push(await connected(p, { timeout: 15_000 }));
        // a new welcome: a second "You joined as"
        await p.waitForFunction(
          () => [...document.querySelectorAll('#log li.note')].filter((n) => n.textContent.startsWith('You joined as')).length === 2,
        );
      }
      const took = Date.now() - started;
      assert.ok(took < 15_000, `reconnected in ${took} ms`);
      assert.notEqual(names[0], names[1]);
      await say(a.page, 'after the restart');
      await waitEntry(b.page, 'li.msg', 'after the restart');
      const got = (await messages(b.page)).find((m) => m.text === 'after the restart');
      assert.equal(got.from, names[0]);
      await say(b.page, 'and back');
      await waitEntry(a.page, 'li.msg', 'and back');
    } catch (e) {
      for (const [i, p] of opened.entries()) {
        await p.page.screenshot({ path: screenshotPath(`failed-restart-${i}.png`) }).catch(() => {});
      }
      addLog(e, server);
      throw e;
    } finally {
      for (const p of opened) await p.context.close().catch(() => {});
      await server.stop();
    }
  });
});

describe('raw modes', () => {
  test('7. echo mode: what is sent comes back and is shown', T, () =>
    scenario('echo', { mode: 'echo' }, async ({ open }) => {
      const a = await open();
      await connected(a.page, { chat: false });
      await say(a.page, 'hello echo');
      await waitEntry(a.page, 'li.msg.in .text', 'hello echo');
      await waitEntry(a.page, 'li.msg.out .text', 'hello echo');
      assert.equal(await a.page.getAttribute('body', 'data-mode'), 'raw');
      // JSON that is not the chat protocol is shown as it came.
      await say(a.page, '{"type":"message","from":"x","text":"y","ts":1}');
      await waitEntry(a.page, 'li.msg.in .text', '{"type":"message"');
      const ins = (await messages(a.page)).filter((m) => m.cls.includes('in')).map((m) => m.text);
      assert.deepEqual(ins, ['hello echo', '{"type":"message","from":"x","text":"y","ts":1}']);
      await a.page.screenshot({ path: screenshotPath('echo.png') });
      assert.deepEqual(a.problems, []);
    }));

  test('7b. broadcast mode: a binary message is shown as its size', T, () =>
    scenario('binary', { mode: 'broadcast' }, async ({ open }) => {
      const a = await open();
      await connected(a.page, { chat: false });
      const b = await open();
      await connected(b.page, { chat: false });
      // B sends binary through its own socket; the server relays it to A.
      await b.page.evaluate(
        () =>
          new Promise((resolve, reject) => {
            // ws: or wss:, as the page itself was served.
            const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
            const ws = new WebSocket(`${scheme}//${location.host}/ws`);
            ws.onopen = () => {
              ws.send(new Uint8Array([1, 2, 3, 4, 5]));
              setTimeout(() => resolve(ws.close()), 0);
            };
            ws.onerror = () => reject(new Error('socket error'));
          }),
      );
      await waitEntry(a.page, 'li.msg.in .text', '[binary 5 bytes]');
    }));
});

describe('layout', () => {
  // A small conversation that exercises long names, long words and notices.
  async function converse(a, b) {
    await connected(a.page);
    await connected(b.page);
    await say(a.page, '/nick ada');
    await waitEntry(b.page, 'li.note', 'is now ada');
    await say(b.page, '/nick grace_hopper_with_a_long_name');
    await waitEntry(a.page, 'li.note', 'is now grace_hopper_with_a_long_name');
    await say(a.page, 'Hi Grace! The server on the Pi is up again.');
    await say(b.page, 'Great, thanks. It reconnected by itself here.');
    await say(a.page, 'A long word must wrap: ' + 'x'.repeat(120));
    await say(b.page, '/nick ada');
    await waitEntry(a.page, 'li.msg', 'x'.repeat(120));
    await waitEntry(b.page, 'li.note.error', 'taken');
  }

  test('8+9. phone (390x844): nothing overflows, input and Send visible; screenshots', T, () =>
    scenario('phone', {}, async ({ open, server }) => {
      const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
      const a = await open(phone);
      const b = await open(phone);
      await converse(a, b);
      await fits(a.page, 390);
      await fits(b.page, 390);
      await a.page.screenshot({ path: screenshotPath('phone.png') });
      await a.page.emulateMedia({ colorScheme: 'dark' });
      await a.page.screenshot({ path: screenshotPath('phone-dark.png') });
      // The soft keyboard takes half the screen: still usable.
      await a.page.setViewportSize({ width: 390, height: 420 });
      await fits(a.page, 390);
      // B while the server is away: the longest status still fits.
      await server.stop();
      await b.page.waitForSelector('#status[data-state="disconnected"]');
      await fits(b.page, 390);
      await b.page.screenshot({ path: screenshotPath('phone-disconnected.png') });
    }));

  test('9. desktop (1280x800): screenshots', T, () =>
    scenario('desktop', {}, async ({ open }) => {
      const a = await open();
      const b = await open();
      await converse(a, b);
      await fits(a.page, 1280);
      await a.page.screenshot({ path: screenshotPath('desktop.png') });
      await a.page.emulateMedia({ colorScheme: 'dark' });
      await a.page.screenshot({ path: screenshotPath('desktop-dark.png') });
    }));
});
