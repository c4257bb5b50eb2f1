// Browser tests of the page's chat rooms: the room shown and switched,
// the room in the page's address, a room's history, the name rule, and the
// server's room limit. Run with tests/e2e/run.sh.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  WAIT,
  connected,
  fits,
  messages,
  notes,
  onlineNames,
  say,
  screenshotPath,
  sharedBrowser,
  waitEntry,
} from './harness.mjs';

const T = { timeout: 90_000 };
const RULE = "1 to 32 letters, digits, '-', '_' or '.'";
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

const { browser, scenario } = sharedBrowser();

/** Records what the page sends on its WebSockets, in `window.__sent`. */
function spySends() {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    window.__sent.push(String(data));
    return send.call(this, data);
  };
}

const sent = (page) => page.evaluate(() => window.__sent);
const search = (page) => new URL(page.url()).search;
const roomShown = (page) => page.textContent('#room');

/** Types `name` into the room form and presses Enter. */
async function joinRoom(page, name) {
  await page.fill('#room-input', name);
  await page.press('#room-input', 'Enter');
}

/** Waits until the header shows `room` and the page is connected in it. */
async function inRoom(page, room) {
  await page.waitForFunction(
    (r) =>
      document.getElementById('room').textContent === r &&
      document.getElementById('status').dataset.state === 'connected' &&
      [...document.querySelectorAll('#log li.room-sep')].some((li) => li.textContent === 'Room ' + r),
    room,
  );
}

/** Waits until `page`'s name is `name`. */
async function named(page, name) {
  await page.waitForFunction((n) => document.getElementById('me').textContent === n, name);
}

/** The log's entries in order, each as "class: text". */
function entries(page) {
  return page.$$eval('#log > li', (lis) =>
    lis.map((li) => `${li.className}: ${li.querySelector('.text')?.textContent ?? li.textContent}`));
}

describe('rooms', () => {
  test('R1. switching to kitchen in the form: address, room shown, name kept, rooms isolate', T, () =>
    scenario('switch', {}, async ({ open }) => {
      const a = await open({ init: spySends });
      const b = await open();
      await connected(a.page);
      const nameB = await connected(b.page);
      await inRoom(a.page, 'lobby');
      assert.equal(search(a.page), '', 'the lobby has no room in the address');
      assert.equal(await a.page.title(), 'wshub');
      await say(a.page, '/nick ada');
      await named(a.page, 'ada');
      await say(b.page, 'said in the lobby before');
      await waitEntry(a.page, 'li.msg', 'said in the lobby before');

      await joinRoom(a.page, 'kitchen');
      await inRoom(a.page, 'kitchen');
      await a.page.waitForURL((u) => u.search === '?room=kitchen', { timeout: WAIT });
      assert.equal(await a.page.title(), 'kitchen · wshub');
      assert.ok((await sent(a.page)).includes('/join kitchen'), 'the page sent /join on its socket');
      assert.equal(await a.page.textContent('#me'), 'ada', 'the name survives the switch');
      assert.deepEqual(await onlineNames(a.page), ['ada']);
      assert.equal(await a.page.inputValue('#room-input'), '', 'the room input is cleared');
      // The log is the new room's: the lobby's conversation is gone.
      assert.ok(!(await messages(a.page)).some((m) => m.text === 'said in the lobby before'));
      await waitEntry(b.page, 'li.note', 'ada left.');
      await b.page.waitForFunction(() => !document.querySelector('#online li[data-name="ada"]'));
      assert.equal(await roomShown(b.page), 'lobby');
      assert.equal(search(b.page), '');

      // Each room hears only itself. A's message is published before B
      // sends, so had it reached B it would come before B's own echo; and
      // likewise for B's message and A's next one.
      await say(a.page, 'said in the kitchen');
      await waitEntry(a.page, 'li.msg', 'said in the kitchen');
      await say(b.page, 'said in the lobby');
      await waitEntry(b.page, 'li.msg', 'said in the lobby');
      await say(a.page, 'kitchen again');
      await waitEntry(a.page, 'li.msg', 'kitchen again');
      assert.deepEqual((await messages(a.page)).map((m) => m.text), ['said in the kitchen', 'kitchen again']);
      const bTexts = (await messages(b.page)).map((m) => m.text);
      assert.ok(!bTexts.includes('said in the kitchen'), 'the kitchen is not heard in the lobby');
      assert.ok(!bTexts.includes('kitchen again'));

      // B follows: A sees it join; B gets the kitchen's history.
      await joinRoom(b.page, 'kitchen');
      await inRoom(b.page, 'kitchen');
      await waitEntry(a.page, 'li.note', `${nameB} joined.`);
      await a.page.waitForSelector(`#online li[data-name="${nameB}"]`);
      const history = (await messages(b.page)).filter((m) => m.cls.includes('history')).map((m) => m.text);
      assert.deepEqual(history, ['said in the kitchen', 'kitchen again']);

      // Back to the lobby: the address loses its room.
      await joinRoom(a.page, 'lobby');
      await inRoom(a.page, 'lobby');
      await a.page.waitForURL((u) => u.search === '', { timeout: WAIT });
      assert.equal(await a.page.textContent('#me'), 'ada');
      await waitEntry(b.page, 'li.note', 'ada left.');
      assert.deepEqual([...a.problems, ...b.problems], []);
    }));

  test('R2. a page opened at /?room=kitchen lands there; its history is marked, in order, before live ones', T, () =>
    scenario('history', {}, async ({ open }) => {
      const a = await open({}, '?room=kitchen');
      const nameA = await connected(a.page);
      await inRoom(a.page, 'kitchen');
      assert.equal(search(a.page), '?room=kitchen');
      for (const text of ['first', 'second', 'third']) {
        await say(a.page, text);
        await waitEntry(a.page, 'li.msg', text);
      }
      // Nothing of the kitchen reaches the lobby's newcomers.
      const lobby = await open();
      await connected(lobby.page);
      await inRoom(lobby.page, 'lobby');
      assert.deepEqual(await messages(lobby.page), []);

      const b = await open({}, '?room=kitchen');
      const nameB = await connected(b.page);
      await inRoom(b.page, 'kitchen');
      assert.equal(search(b.page), '?room=kitchen');
      await b.page.waitForFunction(() => document.querySelectorAll('#log li.msg.history').length === 3);
      await say(a.page, 'live one');
      await waitEntry(b.page, 'li.msg', 'live one');
      const got = await messages(b.page);
      assert.deepEqual(
        got.map((m) => [m.text, m.from, m.cls.includes('history')]),
        [
          ['first', nameA, true],
          ['second', nameA, true],
          ['third', nameA, true],
          ['live one', nameA, false],
        ],
      );
      assert.deepEqual(
        await entries(b.page),
        [
          'sep room-sep: Room kitchen',
          'sep history-sep: Earlier messages',
          'msg history: first',
          'msg history: second',
          'msg history: third',
          `note info: You joined as ${nameB}.`,
          'msg: live one',
        ],
        'the room, then its earlier messages, then the join, then what is said now',
      );
      assert.equal(await b.page.textContent('#log li.msg.history .tag'), 'earlier');
      assert.deepEqual((await onlineNames(b.page)).sort(), [nameA, nameB].sort());

      // Disconnect and Connect again: back in the kitchen, the chosen name
      // taken again, the history not shown twice.
      await say(b.page, '/nick bob');
      await named(b.page, 'bob');
      await b.page.click('#toggle');
      await b.page.waitForSelector('#status[data-state="disconnected"]');
      await waitEntry(a.page, 'li.note', 'bob left.');
      await b.page.click('#toggle');
      await b.page.waitForSelector('#status[data-state="connected"]');
      await named(b.page, 'bob');
      await waitEntry(a.page, 'li.note', 'is now bob.');
      assert.equal(await roomShown(b.page), 'kitchen');
      assert.equal(search(b.page), '?room=kitchen');
      const again = (await messages(b.page)).map((m) => m.text);
      assert.deepEqual(again, ['first', 'second', 'third', 'live one'], 'nothing twice');
      await say(b.page, 'bob is back');
      await waitEntry(a.page, 'li.msg', 'bob is back');
      assert.equal((await messages(a.page)).at(-1).from, 'bob');
      assert.deepEqual([...a.problems, ...b.problems, ...lobby.problems], []);
    }));

  test('R3. an invalid room name shows the rule and sends nothing; one in the address leads to the lobby', T, () =>
    scenario('rule', {}, async ({ open }) => {
      const a = await open({ ...PHONE, init: spySends });
      await connected(a.page);
      await inRoom(a.page, 'lobby');
      await say(a.page, 'hello');
      await waitEntry(a.page, 'li.msg', 'hello');
      const before = await sent(a.page);
      const url = a.page.url();
      for (const bad of ['two words', 'a/b', '<b>', 'x'.repeat(33), '  ']) {
        await joinRoom(a.page, bad);
        await a.page.waitForSelector('#room-rule.bad');
        assert.ok(await a.page.isVisible('#room-rule'), 'the rule is shown');
        const rule = await a.page.textContent('#room-rule');
        assert.ok(rule.includes(RULE), `the rule: ${rule}`);
        if (bad.trim()) assert.ok(rule.includes(`“${bad}” is not a room name`), rule);
        assert.equal(await a.page.getAttribute('#room-input', 'aria-invalid'), 'true');
        assert.equal(await a.page.inputValue('#room-input'), bad, 'the input keeps what was typed');
        if (bad === 'two words') await a.page.screenshot({ path: screenshotPath('phone-room-rule.png') });
      }
      // Typing again clears the complaint.
      await a.page.fill('#room-input', 'ok');
      await a.page.waitForSelector('#room-rule:not(.bad)', { state: 'attached' });
      assert.equal(await a.page.getAttribute('#room-input', 'aria-invalid'), null);
      assert.deepEqual(await sent(a.page), before, 'nothing was sent');
      assert.equal(a.page.url(), url, 'the address did not change');
      assert.equal(await roomShown(a.page), 'lobby');
      assert.ok(!(await notes(a.page)).some(([cls]) => cls.includes('error')), 'no error from the server');

      // Any script's letters and digits: the name goes into the address
      // encoded, and a reload lands in the same room.
      await joinRoom(a.page, ' кухня_2 ');
      await inRoom(a.page, 'кухня_2');
      assert.equal(new URL(a.page.url()).searchParams.get('room'), 'кухня_2');
      assert.deepEqual(a.problems, []);
      // (A reload may abort a request of the page it replaces, the icon's.)
      await a.page.reload();
      await connected(a.page);
      await inRoom(a.page, 'кухня_2');
      assert.deepEqual(a.problems.filter((p) => !p.endsWith('net::ERR_ABORTED')), []);

      // A name the server would refuse, in the address: said, and the lobby.
      const b = await open({}, '?room=two%20words');
      await connected(b.page);
      await inRoom(b.page, 'lobby');
      await waitEntry(b.page, 'li.note.error', '“two words” in the address is not a room name');
      assert.equal(search(b.page), '');
      assert.deepEqual(b.problems, []);
    }));

  test('R4. too many rooms: the reason is shown, retries slow down, and another room gets in', T, () =>
    // --max-rooms 0: the lobby only (it is always open, and not counted).
    scenario('limit', { args: ['--max-rooms', '0'] }, async ({ open }) => {
      const a = await open();
      await connected(a.page);
      await inRoom(a.page, 'lobby');
      const b = await open({}, '?room=kitchen');
      await waitEntry(b.page, 'li.note.error', 'too many rooms, try again later (code 1013)');
      await waitEntry(b.page, 'li.note.error', 'at its limit');
      await b.page.waitForSelector('#status[data-state="disconnected"]');
      const retry = await b.page.textContent('#retry');
      const seconds = Number(/retry in (\d+) s/.exec(retry)?.[1]);
      assert.ok(seconds >= 3, `the next try is seconds away, not at once: ${retry}`);
      assert.equal(await roomShown(b.page), 'kitchen', 'the room it is trying');
      assert.equal(search(b.page), '?room=kitchen');
      await b.page.screenshot({ path: screenshotPath('rooms-refused.png') });
      // A /join to a new room is refused with an error, and A stays.
      await joinRoom(a.page, 'attic');
      await waitEntry(a.page, 'li.note.error', 'at its limit');
      assert.equal(await roomShown(a.page), 'lobby');
      assert.equal(search(a.page), '');
      // B chooses a room that exists: in at once.
      await joinRoom(b.page, 'lobby');
      await inRoom(b.page, 'lobby');
      assert.equal(search(b.page), '');
      const refusals = (await notes(b.page)).filter(([, t]) => t.includes('code 1013'));
      assert.equal(refusals.length, 1, 'the reason is said once');
    }));

  test('R5. echo mode: no room control', T, () =>
    scenario('echo-rooms', { mode: 'echo' }, async ({ open }) => {
      const a = await open();
      await connected(a.page, { chat: false });
      await say(a.page, 'hi');
      await waitEntry(a.page, 'li.msg.in', 'hi');
      assert.equal(await a.page.getAttribute('body', 'data-mode'), 'raw');
      for (const sel of ['#room-form', '#room']) assert.equal(await a.page.isVisible(sel), false, sel);
    }));
});

describe('rooms layout', () => {
  // Two people in the kitchen with some history, one of them with a long
  // room name in view.
  async function kitchen(open, options) {
    const a = await open(options, '?room=kitchen');
    await connected(a.page);
    await say(a.page, '/nick ada');
    await named(a.page, 'ada');
    await say(a.page, 'Anyone seen the big pot?');
    await say(a.page, 'It was on the top shelf yesterday.');
    await waitEntry(a.page, 'li.msg', 'top shelf');
    const b = await open(options, '?room=kitchen');
    await connected(b.page);
    await say(b.page, '/nick grace');
    await named(b.page, 'grace');
    await b.page.waitForFunction(() => document.querySelectorAll('#log li.msg.history').length === 2);
    await say(b.page, 'Found it, thanks!');
    await say(a.page, 'Great.');
    await waitEntry(b.page, 'li.msg', 'Great.');
    return b;
  }

  test('R6. phone (390x844): the room and its form fit; screenshots', T, () =>
    scenario('rooms-phone', {}, async ({ open }) => {
      const b = await kitchen(open, PHONE);
      await fits(b.page, 390);
      for (const sel of ['#room', '#room-input', '#room-go']) {
        const box = await b.page.locator(sel).boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= 390.5, `${sel} fits across: ${JSON.stringify(box)}`);
      }
      await b.page.screenshot({ path: screenshotPath('phone-rooms.png') });
      await b.page.emulateMedia({ colorScheme: 'dark' });
      await b.page.screenshot({ path: screenshotPath('phone-rooms-dark.png') });
      // The longest room name still leaves the status and the toggle on screen.
      const long = 'a-very-long-room-name-for-tests.';
      await joinRoom(b.page, long);
      await inRoom(b.page, long);
      await fits(b.page, 390);
      await b.page.screenshot({ path: screenshotPath('phone-rooms-long.png') });
    }));

  test('R7. laptop (1280x800): screenshots', T, () =>
    scenario('rooms-desktop', {}, async ({ open }) => {
      const b = await kitchen(open, {});
      await fits(b.page, 1280);
      await b.page.screenshot({ path: screenshotPath('desktop-rooms.png') });
      await b.page.emulateMedia({ colorScheme: 'dark' });
      await b.page.screenshot({ path: screenshotPath('desktop-rooms-dark.png') });
    }));
});
