// Helpers for the browser tests: the real wshub binary on a loopback port,
// and Debian's Chromium driven by playwright-core. Every wait is bounded.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.WSHUB_BIN || path.join(ROOT, 'target', 'release', 'wshub');
export const OUT = path.join(ROOT, 'target', 'e2e');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Set by run.sh for the suite's second pass: the server serves https:// and
 * wss:// with this certificate, which the browser is told to accept.
 */
export const TLS = process.env.WSHUB_E2E_TLS_CERT
  ? { cert: process.env.WSHUB_E2E_TLS_CERT, key: process.env.WSHUB_E2E_TLS_KEY }
  : null;

/** Default bound for one wait in a page. */
export const WAIT = 10_000;

/** Rejects after `ms` with `what` in the message, unless `promise` settles first. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A port that was free a moment ago: bind 0 on loopback, read it, close. */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await within(5_000, 'binding a probe port', once(srv, 'listening'));
  const { port } = srv.address();
  srv.close();
  await within(5_000, 'closing the probe port', once(srv, 'close'));
  return port;
}

/**
 * Starts `wshub --addr 127.0.0.1:PORT --mode MODE [ARGS...]` and learns its
 * port (and the endpoint's path) from the first stdout line. `stop()` sends
 * SIGTERM and requires an exit within 5 s (then SIGKILL and an error).
 */
export async function startServer({ mode = 'chat', port = 0, args: extra = [] } = {}) {
  // No --www unless asked: the page built into the binary, as a user gets it.
  const args = ['--addr', `127.0.0.1:${port}`, '--mode', mode, ...extra];
  if (TLS) args.push('--tls-cert', TLS.cert, '--tls-key', TLS.key);
  const proc = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk).slice(-32_768); // drain stderr so the server never blocks on it
  };
  proc.stderr.setEncoding('utf8').on('data', keep);
  let exited = false;
  const exit = once(proc, 'exit').then(
    ([code, signal]) => {
      exited = true;
      return { code, signal };
    },
    (err) => {
      exited = true; // spawn failed: the 'error' listener below reports it
      return { code: null, signal: String(err) };
    },
  );
  const lines = readline.createInterface({ input: proc.stdout });
  // All of stdout (what a terminal would show), up to 8 MB, for tests
  // that check what the server printed (or did not).
  let out = '';
  lines.on('line', (l) => {
    if (out.length < 8 << 20) out += l + '\n';
  });
  const first = new Promise((resolve, reject) => {
    lines.once('line', resolve);
    proc.once('error', reject);
    exit.then(({ code, signal }) =>
      reject(new Error(`wshub exited (code ${code}, signal ${signal}) before listening:\n${log}`)));
  });
  let line;
  try {
    line = await within(10_000, `wshub ${args.join(' ')} to print its address`, first);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  lines.on('line', keep); // anything later on stdout goes with the log
  const [http, ws] = TLS ? ['https', 'wss'] : ['http', 'ws'];
  const m = new RegExp(
    `^wshub listening on ${http}://127\\.0\\.0\\.1:(\\d+)/ \\(WebSocket ${ws}://127\\.0\\.0\\.1:\\1(/\\S*), mode (\\w+)\\)$`,
  ).exec(line);
  if (!m || m[3] !== mode) {
    proc.kill('SIGKILL');
    throw new Error(`unexpected first line from wshub: ${JSON.stringify(line)}`);
  }
  const actual = Number(m[1]);
  if (port && actual !== port) throw new Error(`asked for port ${port}, got ${actual}`);
  return {
    port: actual,
    url: `${http}://127.0.0.1:${actual}/`,
    wsPath: m[2],
    proc,
    log: () => log,
    stdout: () => out,
    async stop() {
      if (exited) return;
      proc.kill('SIGTERM');
      try {
        await within(5_000, 'wshub to exit after SIGTERM', exit);
      } catch (e) {
        proc.kill('SIGKILL');
        await within(5_000, 'wshub to exit after SIGKILL', exit);
        throw new Error(`${e.message}\n--- server log ---\n${log}`);
      }
    },
  };
}

/** Runs `body` with a server; always stops it, and adds its log on failure. */
export async function withServer(options, body) {
  const server = await startServer(options);
  try {
    await body(server);
  } catch (e) {
    e.message += `\n--- server log ---\n${server.log()}`;
    throw e;
  } finally {
    await server.stop();
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--disable-dev-shm-usage',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    ],
  });
}

/**
 * A fresh browser context and page at `url`. `problems` collects console
 * errors, page errors and failed requests. `init`, if given, is a function
 * that runs in the page before its own scripts; `cookies`, if given, are
 * added to the context before the page loads; `onPage(page)`, if given, is
 * called before it loads (to listen to its events); the other options are
 * the context's.
 */
export async function openPage(browser, url, { init, cookies, onPage, ...options } = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    // The test certificate is self-signed: accept it (and nothing changes
    // for plain http).
    ignoreHTTPSErrors: Boolean(TLS),
    ...options,
  });
  context.setDefaultTimeout(WAIT);
  if (init) await context.addInitScript(init);
  if (cookies) await context.addCookies(cookies);
  const page = await context.newPage();
  if (onPage) onPage(page);
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`requestfailed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  const response = await page.goto(url, { waitUntil: 'load' });
  return { context, page, problems, response };
}

/** Waits until the page says connected; returns the name it was given (chat). */
export async function connected(page, { chat = true, timeout = WAIT } = {}) {
  await page.waitForSelector('#status[data-state="connected"]', { timeout });
  if (!chat) return null;
  const handle = await page.waitForFunction(
    () => {
      const t = document.getElementById('me').textContent.trim();
      return /^guest-\d+$/.test(t) ? t : false;
    },
    null,
    { timeout },
  );
  return handle.jsonValue();
}

export async function state(page) {
  return page.getAttribute('#status', 'data-state');
}

/** Types `text` into the input and presses Enter. */
export async function say(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

/** Waits for a log entry matching `selector` whose text includes `text`. */
export async function waitEntry(page, selector, text, timeout = WAIT) {
  await page.waitForFunction(
    ([sel, t]) => [...document.querySelectorAll('#log ' + sel)].some((e) => e.textContent.includes(t)),
    [selector, text],
    { timeout },
  );
}

/** The chat bubbles as {from, text, time, datetime, mine}. */
export async function messages(page) {
  return page.$$eval('#log li.msg', (lis) =>
    lis.map((li) => ({
      from: li.querySelector('.from')?.textContent ?? null,
      text: li.querySelector('.text')?.textContent ?? null,
      time: li.querySelector('time')?.textContent ?? null,
      datetime: li.querySelector('time')?.getAttribute('datetime') ?? null,
      cls: li.className,
    })),
  );
}

/** The notices (join, leave, rename, error, info) as [class, text]. */
export async function notes(page) {
  return page.$$eval('#log li.note', (lis) => lis.map((li) => [li.className, li.textContent]));
}

export async function onlineNames(page) {
  return page.$$eval('#online li', (lis) => lis.map((li) => li.dataset.name));
}

export function screenshotPath(name) {
  mkdirSync(OUT, { recursive: true });
  return path.join(OUT, name);
}

/** Adds the server's log to a failure's message and stack. */
export function addLog(e, server) {
  const extra = `\n--- server log ---\n${server.log()}`;
  if (e && typeof e === 'object') {
    e.message += extra;
    if (typeof e.stack === 'string') e.stack += extra;
  }
}

/**
 * One browser for the calling test file: launched before its tests, closed
 * after them. Returns `browser()`, which gives it, and `scenario(name,
 * options, body)`, the scenario below run in it.
 */
export function sharedBrowser() {
  let shared;
  before(async () => {
    shared = await launchBrowser();
  });
  after(async () => {
    await shared?.close();
  });
  return {
    browser: () => shared,
    scenario: (name, options, body) => scenario(shared, name, options, body),
  };
}

/**
 * Runs `body` with a server (`mode`, `port`, extra `args`) and the pages it
 * opens: `open(options, path)` opens `path` (say `?room=kitchen`) on it.
 * On failure saves a screenshot of each page as `failed-NAME-I.png`;
 * always closes the pages and stops the server.
 */
export async function scenario(browser, name, { mode = 'chat', port = 0, args = [] } = {}, body) {
  const server = await startServer({ mode, port, args });
  const opened = [];
  const open = async (options, path = '') => {
    const p = await openPage(browser, server.url + path, options);
    opened.push(p);
    return p;
  };
  try {
    await body({ server, open });
  } catch (e) {
    for (const [i, p] of opened.entries()) {
      await p.page.screenshot({ path: screenshotPath(`failed-${name}-${i}.png`) }).catch(() => {});
    }
    addLog(e, server);
    throw e;
  } finally {
    for (const p of opened) await p.context.close().catch(() => {});
    await server.stop();
  }
}

/**
 * Asserts that the page fits `width`: nothing scrolls sideways, and the
 * input, Send, the status and the toggle are on screen, Send a comfortable
 * target.
 */
export async function fits(page, width) {
  const m = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth,
    innerWidth: window.innerWidth,
    innerHeight: window.innerHeight,
  }));
  assert.ok(m.scrollWidth <= width, `scrollWidth ${m.scrollWidth} <= ${width}`);
  assert.ok(m.bodyScrollWidth <= width, `body scrollWidth ${m.bodyScrollWidth} <= ${width}`);
  for (const sel of ['#input', '#send', '#status', '#toggle']) {
    assert.ok(await page.isVisible(sel), `${sel} is visible`);
    const box = await page.locator(sel).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= m.innerWidth + 0.5, `${sel} fits across: ${JSON.stringify(box)}`);
    assert.ok(box.y >= 0 && box.y + box.height <= m.innerHeight + 0.5, `${sel} is on screen: ${JSON.stringify(box)}`);
  }
  const sendBox = await page.locator('#send').boundingBox();
  assert.ok(sendBox.width >= 44 && sendBox.height >= 36, 'Send is a comfortable target');
}
