// Browser tests of the wire view (issue 16): with `--explain` the page shows
// its own connection as the server saw it on the wire (the handshake, then
// every frame both ways); without it, no view and no extra socket.
// Run with tests/e2e/run.sh, or `node --test wire.test.mjs` here after
// `cargo build --release`.

import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  WAIT,
  connected,
  fits,
  messages,
  say,
  screenshotPath,
  sharedBrowser,
  waitEntry,
  within,
} from './harness.mjs';

const T = { timeout: 120_000 };
const EXPLAIN = { mode: 'echo', args: ['--explain'] };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const RFC = 'https://www.rfc-editor.org/rfc/rfc6455#section-';

// Texts of the three length forms: 7-bit (0-125), 16-bit (126-65535) and
// 64-bit (65536 and more); ASCII, so bytes = characters.
const SHORT = 'hello wire';
const MID = ('three hundred bytes: ' + 'abcdefghij'.repeat(30)).slice(0, 300);
const LONG = ('seventy thousand bytes: ' + '0123456789'.repeat(7000)).slice(0, 70_000);

const { scenario } = sharedBrowser();

/** Every note of the view, as the tests read them. */
function wireNotes(page) {
  return page.$$eval('#wire-log li.wire-note', (lis) =>
    lis.map((li) => ({
      step: li.dataset.step,
      conn: li.dataset.conn,
      from: li.dataset.from ?? null,
      opcode: li.dataset.opcode ?? null,
      form: li.dataset.form ?? null,
      length: li.dataset.length ?? null,
      text: li.querySelector('.wire-text')?.textContent ?? null,
      close: li.querySelector('.wire-close')?.dataset.code ?? null,
      all: li.textContent,
    })),
  );
}

/**
 * Waits for a frame note from `from` with `opcode` (and `form`, and text
 * starting with `start`, and close code `code`, when given); returns it
 * as {bits, byteNames, ext, key, masked, unmasked, plain, text, all, refs}.
 */
async function waitFrame(page, { from, opcode, form = null, start = null, code = null }) {
  const handle = await page.waitForFunction(
    ([from, opcode, form, start, code]) => {
      const lis = document.querySelectorAll(
        `#wire-log li.wire-note[data-step="frame"][data-from="${from}"][data-opcode="${opcode}"]`,
      );
      for (const li of lis) {
        if (form !== null && li.dataset.form !== form) continue;
        const text = li.querySelector('.wire-text')?.textContent ?? '';
        if (start !== null && !text.startsWith(start)) continue;
        if (code !== null && li.querySelector('.wire-close')?.dataset.code !== String(code)) continue;
        const value = (sel) => li.querySelector(sel + ' .wire-value')?.textContent ?? null;
        return {
          bits: [...li.querySelectorAll('.wire-byte')].map((b) =>
            [...b.querySelectorAll('.bit')].map((c) => c.dataset.field + '=' + c.textContent)),
          byteNames: [...li.querySelectorAll('.wire-byte-name')].map((e) => e.textContent),
          ext: [...li.querySelectorAll('.wire-form .wire-box .hex')].map((e) => e.textContent),
          key: [...li.querySelectorAll('.wire-key .wire-box .hex')].map((e) => e.textContent),
          masked: value('.wire-row.masked'),
          unmasked: value('.wire-row.unmasked'),
          plain: value('.wire-row.plain'),
          text,
          all: li.textContent,
          refs: [...li.querySelectorAll('a.rfc')].map((a) => ({ href: a.href, target: a.target, rel: a.rel, text: a.textContent })),
        };
      }
      return false;
    },
    [from, opcode, form, start, code],
    { timeout: WAIT },
  );
  return handle.jsonValue();
}

/** Waits for a note of `step` (the first one) and returns its text. */
async function waitStep(page, step) {
  const li = page.locator(`#wire-log li.wire-note[data-step="${step}"]`).first();
  await li.waitFor({ state: 'attached', timeout: WAIT });
  return li.textContent();
}

/** The bits of a byte as the view draws them, field by field. */
function drawn(byte, fields) {
  const out = [];
  let bit = 7;
  for (const [field, width] of fields) {
    for (let i = 0; i < width; i++, bit--) out.push(`${field}=${(byte >> bit) & 1}`);
  }
  return out;
}

const BYTE0 = [['fin', 1], ['rsv', 3], ['opcode', 4]];
const BYTE1 = [['mask', 1], ['len', 7]];

/** The WebSockets a page opens, by URL, in order. */
function watchSockets() {
  const urls = [];
  return { urls, onPage: (page) => page.on('websocket', (ws) => urls.push(ws.url())) };
}

const secretOf = (url) => /[?&]wire=([0-9a-f]{32})(?:&|$)/.exec(url)?.[1] ?? null;

/** Polls (bounded) until the server's stdout includes `text`. */
async function stdoutShows(server, text) {
  const deadline = Date.now() + WAIT;
  while (!server.stdout().includes(text)) {
    if (Date.now() > deadline) assert.fail(`the server's stdout never showed ${JSON.stringify(text)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the wire view (--explain)', () => {
  test('1. handshake, the three length forms both ways, and the closing handshake', T, () =>
    scenario('wire-frames', EXPLAIN, async ({ open }) => {
      const sockets = watchSockets();
      const a = await open({ onPage: sockets.onPage });
      await connected(a.page, { chat: false });
      assert.ok(await a.page.isVisible('#wire-toggle'), 'the Wire button is offered');
      assert.ok(await a.page.isVisible('#wire'), 'on a laptop the view is beside the log');
      assert.ok(await a.page.isVisible('#log'));
      assert.equal(await a.page.getAttribute('#wire-state', 'data-state'), 'open');

      // The view socket first, then the page's socket with the same secret.
      assert.equal(sockets.urls.length, 2, `two sockets: ${sockets.urls.join(', ')}`);
      const [viewUrl, mainUrl] = sockets.urls;
      assert.match(viewUrl, /^wss?:\/\/127\.0\.0\.1:\d+\/wshub-wire\?wire=[0-9a-f]{32}$/);
      assert.equal(secretOf(mainUrl), secretOf(viewUrl));

      // 1. the request, its WebSocket headers pointed out.
      const request = await waitStep(a.page, 'request');
      assert.match(request, /GET \//);
      const pointed = await a.page.$$eval('#wire-log li[data-step="request"] .wire-line.pointed', (ds) =>
        ds.map((d) => ({ header: d.dataset.header, text: d.querySelector('.wire-line-text').textContent, why: d.querySelector('.why')?.textContent ?? '' })),
      );
      const keyLine = pointed.find((p) => p.header === 'sec-websocket-key');
      assert.ok(keyLine, `Sec-WebSocket-Key is pointed out: ${JSON.stringify(pointed)}`);
      assert.ok(keyLine.why.length > 3, 'and why');
      for (const h of ['upgrade', 'connection', 'sec-websocket-version']) {
        assert.ok(pointed.some((p) => p.header === h), `${h} is pointed out`);
      }
      const key = keyLine.text.slice(keyLine.text.indexOf(':') + 1).trim();
      assert.doesNotMatch(request, new RegExp(secretOf(mainUrl)), 'the secret is not shown');

      // 2. the accept computation, checked here; 3. the 101 carrying it.
      await waitStep(a.page, 'accept');
      const acc = await a.page.$eval('#wire-log li[data-step="accept"]', (li) =>
        Object.fromEntries(['key', 'guid', 'concat', 'sha1', 'value'].map((k) => [k, li.querySelector(`.accept-${k} .wire-value`)?.textContent])),
      );
      const sha1 = createHash('sha1').update(key + GUID);
      const digest = sha1.digest();
      assert.deepEqual(acc, {
        key,
        guid: GUID,
        concat: key + GUID,
        sha1: digest.toString('hex'),
        value: digest.toString('base64'),
      });
      const response = await waitStep(a.page, 'response');
      assert.match(response, /HTTP\/1\.1 101/);
      assert.ok(response.includes('Sec-WebSocket-Accept: ' + acc.value), response);

      // The three forms, each both ways.
      for (const [text, form, len7, ext] of [[SHORT, '7-bit', SHORT.length, []], [MID, '16-bit', 126, ['01', '2c']],
        [LONG, '64-bit', 127, ['00', '00', '00', '00', '00', '01', '11', '70']]]) {
        const start = text.slice(0, 24);
        await say(a.page, text);
        const c = await waitFrame(a.page, { from: 'client', opcode: 1, form, start });
        const s = await waitFrame(a.page, { from: 'server', opcode: 1, form, start });
        assert.deepEqual(c.bits, [drawn(0x81, BYTE0), drawn(0x80 | len7, BYTE1)], `${form}: the client's header bits`);
        assert.deepEqual(s.bits, [drawn(0x81, BYTE0), drawn(len7, BYTE1)], `${form}: the server's header bits`);
        assert.equal(c.byteNames[0], 'byte 0 = 0x81');
        assert.deepEqual(c.ext, ext, `${form}: the extended length bytes`);
        assert.deepEqual(s.ext, ext);
        assert.equal(c.key.length, 4, 'the client frame shows its masking key');
        assert.deepEqual(s.key, [], 'server frames are not masked');
        assert.ok(c.masked && c.unmasked, 'masked and unmasked payload');
        // The unmasked hex is the text's bytes, and the masked one is them
        // XOR the key, byte by byte.
        const unmasked = c.unmasked.split(' … ')[0].trim().split(' ');
        const masked = c.masked.split(' … ')[0].trim().split(' ');
        assert.deepEqual(unmasked, [...Buffer.from(text.slice(0, unmasked.length))].map((b) => b.toString(16).padStart(2, '0')));
        masked.forEach((m, i) => assert.equal(parseInt(m, 16), parseInt(unmasked[i], 16) ^ parseInt(c.key[i % 4], 16)));
        assert.ok(s.plain, 'the server frame shows its payload unmasked');
        if (text.length > 16) {
          assert.ok(c.all.includes(`(${text.length} bytes in all)`), `${form}: the cut says the length`);
        }
        for (const f of [c, s]) {
          assert.ok(f.refs.length > 0, 'linked to RFC 6455');
          for (const r of f.refs) {
            assert.ok(r.href.startsWith(RFC), r.href);
            assert.equal(r.target, '_blank');
            assert.equal(r.rel, 'noopener');
            assert.match(r.text, /^RFC 6455 §\d/);
          }
        }
      }

      // Disconnect: the page's close 1000, the server's answer, the TCP close.
      await a.page.click('#toggle');
      await a.page.waitForSelector('#status[data-state="disconnected"]');
      await waitFrame(a.page, { from: 'client', opcode: 8, code: 1000 });
      await waitFrame(a.page, { from: 'server', opcode: 8, code: 1000 });
      await waitStep(a.page, 'closed');

      const all = await wireNotes(a.page);
      assert.equal(new Set(all.map((n) => n.conn)).size, 1, 'one connection');
      const seps = await a.page.$$eval('#wire-log .wire-sep', (l) => l.map((e) => e.textContent));
      assert.deepEqual(seps, [`Connection #${all[0].conn}`]);
      assert.ok(await a.page.isVisible('#wire'), 'the view stays after Disconnect');
      // For a person to look at: the handshake's steps, and the close.
      await a.page.locator('#wire-log li[data-step="request"]').scrollIntoViewIfNeeded();
      await a.page.screenshot({ path: screenshotPath('wire-handshake.png') });
      await a.page.locator('#wire-log li[data-step="closed"]').scrollIntoViewIfNeeded();
      await a.page.screenshot({ path: screenshotPath('wire-close.png') });
      assert.deepEqual(a.problems, []);
    }));

  test('2. echo stays exact while the view is open', T, () =>
    scenario('wire-echo', EXPLAIN, async ({ open }) => {
      const a = await open();
      await connected(a.page, { chat: false });
      assert.equal(await a.page.getAttribute('#wire-state', 'data-state'), 'open');
      const sent = [SHORT, MID, LONG, 'héllo ✓ wire 🚀', '<b>not bold</b>'];
      for (const t of sent) await say(a.page, t);
      await waitEntry(a.page, 'li.msg.in .text', '<b>not bold</b>');
      const got = (await messages(a.page)).filter((m) => m.cls.includes('in')).map((m) => m.text);
      assert.equal(got.length, sent.length);
      got.forEach((t, i) => assert.ok(t === sent[i], `echo ${i} exact (${t.length} vs ${sent[i].length} characters)`));
      // The view saw them too, as text frames from the server.
      await waitFrame(a.page, { from: 'server', opcode: 1, start: '<b>not bold</b>' });
      assert.equal(await a.page.$$eval('#wire-log b', (l) => l.length), 0, 'text, not HTML');
      assert.deepEqual(a.problems, []);
    }));

  test('3. a reconnect shows in the same view, with the same secret', T, () =>
    scenario('wire-reconnect', EXPLAIN, async ({ open }) => {
      const sockets = watchSockets();
      const a = await open({ onPage: sockets.onPage });
      await connected(a.page, { chat: false });
      await waitStep(a.page, 'response');
      await a.page.click('#toggle');
      await a.page.waitForSelector('#status[data-state="disconnected"]');
      await a.page.click('#toggle');
      await connected(a.page, { chat: false });
      await say(a.page, 'second connection');
      await waitFrame(a.page, { from: 'server', opcode: 1, start: 'second connection' });
      assert.equal(sockets.urls.length, 3, `one view, two connections: ${sockets.urls.join(', ')}`);
      const secrets = sockets.urls.map(secretOf);
      assert.ok(secrets[0] && secrets.every((s) => s === secrets[0]), 'one secret');
      const conns = [...new Set((await wireNotes(a.page)).map((n) => n.conn))];
      assert.equal(conns.length, 2, `two connections in the view: ${conns}`);
      const seps = await a.page.$$eval('#wire-log .wire-sep', (l) => l.map((e) => e.textContent));
      assert.deepEqual(seps, conns.map((c) => `Connection #${c}`));
      assert.deepEqual(a.problems, []);
    }));

  test('4. two students: neither view shows the other', T, () =>
    scenario('wire-two', EXPLAIN, async ({ open }) => {
      const a = await open();
      const b = await open();
      await connected(a.page, { chat: false });
      await connected(b.page, { chat: false });
      const textA = 'from A ' + randomUUID();
      const textB = 'from B ' + randomUUID();
      await say(a.page, textA);
      await say(b.page, textB);
      await waitFrame(a.page, { from: 'server', opcode: 1, start: textA });
      await waitFrame(b.page, { from: 'server', opcode: 1, start: textB });
      // One more round trip each, after both texts went through the server.
      await say(a.page, 'done A');
      await say(b.page, 'done B');
      await waitFrame(a.page, { from: 'server', opcode: 1, start: 'done A' });
      await waitFrame(b.page, { from: 'server', opcode: 1, start: 'done B' });
      const viewA = await a.page.textContent('#wire-log');
      const viewB = await b.page.textContent('#wire-log');
      assert.ok(!viewA.includes(textB) && !viewA.includes('done B'), "A's view shows nothing of B's");
      assert.ok(!viewB.includes(textA) && !viewB.includes('done A'), "B's view shows nothing of A's");
      const connsA = new Set((await wireNotes(a.page)).map((n) => n.conn));
      const connsB = new Set((await wireNotes(b.page)).map((n) => n.conn));
      assert.equal(connsA.size, 1);
      assert.equal(connsB.size, 1);
      const [ca] = connsA;
      const [cb] = connsB;
      assert.notEqual(ca, cb);
      assert.ok(!viewA.includes('#' + cb), "A's view never names B's connection");
      assert.ok(!viewB.includes('#' + ca), "B's view never names A's connection");
      assert.deepEqual([...a.problems, ...b.problems], []);
    }));

  test('5. cookie values and the secret never reach the page or the terminal', T, () =>
    scenario('wire-cookie', EXPLAIN, async ({ open, server }) => {
      const value = 'c00kie' + randomUUID().replaceAll('-', '');
      const sockets = watchSockets();
      const a = await open({ cookies: [{ name: 'session', value, url: server.url }], onPage: sockets.onPage });
      await connected(a.page, { chat: false });
      const secret = secretOf(sockets.urls[0]);
      assert.ok(secret, 'the page made a secret');
      // The page has the cookie (and the Cookie line below shows the
      // browser sent it), else this test would prove nothing.
      assert.ok((await a.context.cookies(server.url)).some((c) => c.value === value));
      await say(a.page, 'cookie check');
      await waitFrame(a.page, { from: 'server', opcode: 1, start: 'cookie check' });
      const request = await waitStep(a.page, 'request');
      const lines = await a.page.$$eval('#wire-log li[data-step="request"] .wire-line-text', (l) => l.map((e) => e.textContent));
      assert.ok(lines.some((l) => /^Cookie:\s*\(hidden\)$/i.test(l)), `Cookie: (hidden) in ${JSON.stringify(lines)}`);
      assert.ok(lines[0].includes('wire=(hidden)'), `the secret hidden in ${JSON.stringify(lines[0])}`);
      const view = await a.page.textContent('#wire-log');
      assert.ok(!view.includes(value), 'the cookie value is not in the view');
      assert.ok(!view.includes(secret), 'the secret is not in the view');
      assert.ok(request.length > 0);
      // The terminal: the connection was explained there too, without them.
      await stdoutShows(server, 'cookie check');
      const out = server.stdout();
      assert.match(out, /sec-websocket-key/i);
      assert.ok(!out.includes(value), 'the cookie value is not on stdout');
      assert.ok(!out.includes(secret), 'the secret is not on stdout');
      assert.deepEqual(a.problems, []);
    }));

  test('6. the view keeps at most 300 notes, the newest', T, () =>
    scenario('wire-many', EXPLAIN, async ({ open }) => {
      const a = await open();
      await connected(a.page, { chat: false });
      // 160 echoes: 320 frame notes, past the limit. Sent through the
      // page's own form, in one go.
      await a.page.evaluate((n) => {
        const input = document.getElementById('input');
        for (let i = 0; i < n; i++) {
          input.value = `message ${i}`;
          document.getElementById('composer').requestSubmit();
        }
      }, 160);
      await waitFrame(a.page, { from: 'server', opcode: 1, start: 'message 159' });
      const all = await wireNotes(a.page);
      assert.equal(all.length, 300);
      assert.ok(!all.some((n) => n.step === 'request'), 'the oldest went first');
      assert.equal(all.at(-1).text, 'message 159');
      assert.deepEqual(a.problems, []);
    }));

  test('7. laptop and phone: where the view goes; screenshots', T, () =>
    scenario('wire-layout', EXPLAIN, async ({ open }) => {
      const a = await open();
      await connected(a.page, { chat: false });
      await say(a.page, SHORT);
      await say(a.page, MID);
      await waitFrame(a.page, { from: 'server', opcode: 1, form: '16-bit' });
      await fits(a.page, 1280);
      const [log, view] = [await a.page.locator('.chat').boundingBox(), await a.page.locator('#wire').boundingBox()];
      assert.ok(view.x >= log.x + log.width, 'the view is beside the log');
      assert.ok(view.width >= 450, `the view is wide enough for two header bytes: ${view.width}`);
      // The Wire button hides it and shows it again.
      await a.page.click('#wire-toggle');
      await a.page.waitForSelector('#wire', { state: 'hidden' });
      assert.equal(await a.page.getAttribute('#wire-toggle', 'aria-pressed'), 'false');
      await a.page.click('#wire-toggle');
      await a.page.waitForSelector('#wire', { state: 'visible' });
      await a.page.screenshot({ path: screenshotPath('wire-laptop.png') });

      const p = await open(PHONE);
      await connected(p.page, { chat: false });
      assert.ok(await p.page.isVisible('#log'), 'on a phone the log comes first');
      assert.ok(!(await p.page.isVisible('#wire')));
      await fits(p.page, 390);
      await p.page.click('#wire-toggle');
      await p.page.waitForSelector('#wire', { state: 'visible' });
      assert.ok(!(await p.page.isVisible('#log')), 'the view in place of the log');
      await say(p.page, SHORT);
      await say(p.page, MID);
      await waitFrame(p.page, { from: 'server', opcode: 1, form: '16-bit' });
      await fits(p.page, 390);
      await p.page.screenshot({ path: screenshotPath('wire-phone.png') });
      await p.page.click('#wire-toggle');
      await p.page.waitForSelector('#log', { state: 'visible' });
      await waitEntry(p.page, 'li.msg.in .text', MID.slice(0, 20));
      assert.deepEqual([...a.problems, ...p.problems], []);
    }));
});

describe('without --explain', () => {
  test('8. no view is offered and only one WebSocket is opened', T, () =>
    scenario('wire-absent', { mode: 'echo' }, async ({ open, server }) => {
      const sockets = watchSockets();
      const a = await open({ onPage: sockets.onPage });
      await connected(a.page, { chat: false });
      await say(a.page, 'no wire here');
      await waitEntry(a.page, 'li.msg.in .text', 'no wire here');
      const settings = await within(WAIT, 'fetching /wshub.json', fetchJson(a.page, server.url + 'wshub.json'));
      assert.equal(settings.wire, undefined);
      assert.ok(!(await a.page.isVisible('#wire-toggle')), 'no Wire button');
      assert.ok(!(await a.page.isVisible('#wire')), 'no view');
      assert.equal(sockets.urls.length, 1, `one socket: ${sockets.urls.join(', ')}`);
      assert.equal(secretOf(sockets.urls[0]), null);
      assert.ok(!sockets.urls[0].includes('wire'), sockets.urls[0]);
      assert.deepEqual(a.problems, []);
    }));
});

function fetchJson(page, url) {
  return page.evaluate(async (u) => (await fetch(u, { cache: 'no-store' })).json(), url);
}
