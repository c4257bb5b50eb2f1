// Several nodes: two wshub nodes sharing one Redis, behind Debian's nginx as
// the load balancer, configured with the README's own nginx block. Two
// browsers open the page through nginx, land on different nodes and chat in
// one room. Run with tests/e2e/run.sh (http only: nginx here speaks plain
// http to the browser and to the nodes), which installs nginx and
// redis-server when missing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import {
  ROOT,
  TLS,
  WAIT,
  freePort,
  messages,
  onlineNames,
  openPage,
  say,
  screenshotPath,
  sharedBrowser,
  startServer,
  waitEntry,
  within,
} from './harness.mjs';

const T = { timeout: 120_000, skip: TLS ? 'nginx in front speaks plain http here' : false };
const NGINX = process.env.NGINX_BIN || ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync) || 'nginx';
const REDIS = process.env.REDIS_SERVER_BIN || 'redis-server';

const { browser } = sharedBrowser();

/**
 * The README's nginx block, under "### Behind a load balancer: nginx", with
 * its three ports (8080 for nginx, 8081 and 8082 for the nodes) replaced.
 * Each must be there exactly once, so the README and the test cannot drift
 * apart unnoticed.
 */
function readmeNginx({ listen, nodes: [a, b] }) {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const heading = '\n### Behind a load balancer: nginx\n';
  const at = readme.indexOf(heading);
  assert.ok(at >= 0, `README.md has no ${JSON.stringify(heading.trim())}`);
  const rest = readme.slice(at + heading.length);
  const m = /^```nginx\n([\s\S]*?)^```$/m.exec(rest);
  assert.ok(m, 'README.md has an ```nginx block under the nginx heading');
  assert.ok(!/^#{1,3} /m.test(rest.slice(0, m.index)), 'the ```nginx block is in the nginx subsection itself');
  let conf = m[1];
  for (const [from, to] of [
    ['listen 8080;', `listen 127.0.0.1:${listen};`],
    ['server 127.0.0.1:8081;', `server 127.0.0.1:${a};`],
    ['server 127.0.0.1:8082;', `server 127.0.0.1:${b};`],
  ]) {
    assert.equal(conf.split(from).length - 1, 1, `README's nginx block has ${JSON.stringify(from)} once`);
    conf = conf.replace(from, to);
  }
  return conf;
}

/**
 * A started process whose output is kept (the last 32K) for failure
 * messages. `stop()` sends `signal`, requires an exit within 5 s, then
 * SIGKILLs its whole process group.
 */
function child(name, cmd, args, { signal = 'SIGTERM', ...options } = {}) {
  // Its own process group: nginx's workers go with their master on SIGKILL.
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk).slice(-32_768);
  };
  proc.stdout.setEncoding('utf8').on('data', keep);
  proc.stderr.setEncoding('utf8').on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => {
    proc.once('exit', (code, sig) => resolve((exited = `exited (code ${code}, signal ${sig})`)));
    proc.once('error', (err) => resolve((exited = `failed to start: ${err.message}`)));
  });
  return {
    name,
    proc,
    log: () => log,
    exited: () => exited,
    async stop() {
      if (exited) return;
      proc.kill(signal);
      try {
        await within(5_000, `${name} to exit after ${signal}`, exit);
      } catch (e) {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          proc.kill('SIGKILL');
        }
        await within(5_000, `${name} to exit after SIGKILL`, exit);
        throw e;
      }
    },
  };
}

/** Polls `check` (which returns a truthy value when done) until `ms` pass. */
async function until(ms, what, check, every = 50) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms: ${what}${last ? ` (last: ${last.message})` : ''}`);
    }
    await sleep(every);
  }
}

/** Whether the Redis on `port` answers PING with +PONG now. */
function pong(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (v) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1_000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.setEncoding('utf8').on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) done(got.startsWith('+PONG'));
    });
  });
}

async function startRedis(dir) {
  const port = await freePort();
  const redis = child('redis-server', REDIS, [
    '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes',
    '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning',
  ]);
  await until(10_000, `redis-server on port ${port} to answer PING`, async () => {
    if (redis.exited()) throw new Error(`redis-server ${redis.exited()}:\n${redis.log()}`);
    return pong(port);
  });
  return { ...redis, port, url: `redis://127.0.0.1:${port}` };
}

/** nginx in the foreground with the README's block as its http {} body. */
async function startNginx(dir, nodes) {
  const port = await freePort();
  const p = (f) => path.join(dir, f);
  const conf = [
    'daemon off;',
    'master_process on;',
    // Two workers, as Debian's `worker_processes auto` gives on two cores:
    // least_conn must then count across them (the README's `zone`).
    'worker_processes 2;',
    // As root, the workers would otherwise run as nobody, who cannot read
    // this private temp dir; as anyone else the master cannot switch.
    process.getuid?.() === 0 ? `user ${os.userInfo().username};` : '',
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    `    access_log ${p('access.log')};`,
    `    client_body_temp_path ${p('client_body')};`,
    `    proxy_temp_path ${p('proxy')};`,
    `    fastcgi_temp_path ${p('fastcgi')};`,
    `    uwsgi_temp_path ${p('uwsgi')};`,
    `    scgi_temp_path ${p('scgi')};`,
    '',
    '# --- from README.md ---',
    readmeNginx({ listen: port, nodes: nodes.map((n) => n.port) }),
    '}',
    '',
  ].join('\n');
  writeFileSync(p('nginx.conf'), conf);
  // -e: the error log before the configuration is read (else Debian's
  // /var/log/nginx/error.log); -p: relative paths under the temp dir.
  const nginx = child('nginx', NGINX, ['-p', dir, '-e', p('error.log'), '-c', p('nginx.conf')]);
  const log = () => {
    let errors = '';
    try {
      errors = readFileSync(p('error.log'), 'utf8');
    } catch {}
    return `${nginx.log()}\n--- nginx error.log ---\n${errors}\n--- nginx.conf ---\n${conf}`;
  };
  const url = `http://127.0.0.1:${port}/`;
  await until(10_000, `nginx on port ${port} to serve the page from a node`, async () => {
    if (nginx.exited()) throw new Error(`nginx ${nginx.exited()}:\n${log()}`);
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  }, 100);
  return { ...nginx, port, url, log };
}

/** A node's /metrics, as {series: value} for the unlabelled series. */
async function metrics(node) {
  const res = await fetch(`${node.url}metrics`, { signal: AbortSignal.timeout(2_000) });
  assert.equal(res.status, 200, `GET ${node.url}metrics`);
  const out = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^(wshub_\w+) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** wshub_connections_open on each node, e.g. [1, 0]. */
const open = (nodes) => Promise.all(nodes.map(async (n) => (await metrics(n)).wshub_connections_open));

/** Waits until the page says connected; returns the name it was given. */
async function connectedAs(page) {
  await page.waitForSelector('#status[data-state="connected"]', { timeout: WAIT });
  const handle = await page.waitForFunction(
    () => {
      const t = document.getElementById('me').textContent.trim();
      return t.startsWith('guest-') ? t : false;
    },
    null,
    { timeout: WAIT },
  );
  return handle.jsonValue();
}

test('two nodes behind nginx (the README block): browsers on different nodes share one room', T, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wshub-nodes-'));
  const started = [];
  const pages = [];
  let failed = false;
  const logs = () =>
    started.map((s) => `\n--- ${s.name} log ---\n${s.log()}`).join('');
  try {
    const redis = await startRedis(dir);
    started.push(redis);
    const nodes = [];
    for (const name of ['node 1', 'node 2']) {
      const node = await startServer({ args: ['--redis', redis.url, '--metrics'] });
      node.name = `wshub ${name} (port ${node.port})`;
      nodes.push(node);
      started.push(node);
    }
    const nginx = await startNginx(dir, nodes);
    started.push(nginx);

    for (const [i, n] of nodes.entries()) {
      assert.equal((await metrics(n)).wshub_redis_connected, 1, `node ${i + 1} reports wshub_redis_connected 1`);
    }

    // A first, and only then B: least_conn sends B's WebSocket to the node
    // without A's.
    const a = await openPage(browser(), nginx.url);
    pages.push(a);
    const nameA = await connectedAs(a.page);
    await until(5_000, "A's WebSocket to count on one node", async () =>
      (await open(nodes)).reduce((x, y) => x + y) === 1);
    const [a1, a2] = await open(nodes);
    const nodeA = a1 === 1 ? 0 : 1;

    const b = await openPage(browser(), nginx.url);
    pages.push(b);
    let nameB = await connectedAs(b.page);
    const spread = async () => {
      let counts;
      try {
        await until(5_000, 'one WebSocket open on each node', async () => {
          counts = await open(nodes);
          return counts[0] === 1 && counts[1] === 1;
        });
        return null;
      } catch {
        return counts;
      }
    };
    let counts = await spread();
    if (counts) {
      // least_conn counts the page's own requests too: one of B's (say its
      // favicon) still in flight on the other node when B's WebSocket
      // comes makes a tie, which nginx breaks in turn. B reconnects with
      // nothing else of its in flight: now only the WebSockets count.
      t.diagnostic(
        `B's first WebSocket landed on A's node (wshub_connections_open ${counts}); ` +
          'B disconnects and, its page quiet, connects again',
      );
      await b.page.click('#toggle');
      await b.page.waitForSelector('#status[data-state="disconnected"]', { timeout: WAIT });
      await until(5_000, "B's WebSocket to close", async () => (await open(nodes)).reduce((x, y) => x + y) === 1);
      await sleep(1_000);
      await b.page.click('#toggle');
      nameB = await connectedAs(b.page);
      counts = await spread();
      if (counts) {
        assert.fail(
          `the two browsers' WebSockets did not land on different nodes: wshub_connections_open is ` +
            `${counts} (node 1 on port ${nodes[0].port}, node 2 on port ${nodes[1].port}; after A alone: ${a1},${a2}), ` +
            "even with nothing else in flight; nginx's least_conn should have sent B to the node without A",
        );
      }
    }
    const nodeB = 1 - nodeA;

    // Names are unique across the nodes, and each page sees both.
    assert.notEqual(nameA, nameB, 'the two nodes gave distinct names');
    assert.match(nameB, /^guest-/);
    for (const p of [a.page, b.page]) {
      await p.waitForFunction(
        (names) => names.every((n) => document.querySelector(`#online li[data-name="${n}"]`)),
        [nameA, nameB],
        { timeout: WAIT },
      );
      assert.deepEqual((await onlineNames(p)).sort(), [nameA, nameB].sort());
    }
    await waitEntry(a.page, 'li.note', `${nameB} joined.`);

    // A message typed on one node's page appears on the other's.
    await say(a.page, `hello from node ${nodeA + 1}`);
    await waitEntry(b.page, 'li.msg', `hello from node ${nodeA + 1}`);
    await say(b.page, `and hello back from node ${nodeB + 1}`);
    await waitEntry(a.page, 'li.msg', `and hello back from node ${nodeB + 1}`);
    for (const p of [a.page, b.page]) {
      const got = (await messages(p)).map((m) => [m.from, m.text]);
      assert.deepEqual(got, [
        [nameA, `hello from node ${nodeA + 1}`],
        [nameB, `and hello back from node ${nodeB + 1}`],
      ]);
    }
    await a.page.screenshot({ path: screenshotPath('nodes-a.png') });
    await b.page.screenshot({ path: screenshotPath('nodes-b.png') });
    assert.deepEqual([...a.problems, ...b.problems], [], 'no console errors, page errors or failed requests');

    // A closes its page: B, on the other node, sees A leave.
    await a.context.close();
    pages.shift();
    await waitEntry(b.page, 'li.note', `${nameA} left.`);
    await b.page.waitForFunction((n) => !document.querySelector(`#online li[data-name="${n}"]`), nameA, {
      timeout: WAIT,
    });
    assert.deepEqual(await onlineNames(b.page), [nameB]);
    await until(5_000, `A's node to count no WebSocket`, async () => (await open(nodes))[nodeA] === 0);
    await b.page.screenshot({ path: screenshotPath('nodes-b-left.png') });
  } catch (e) {
    failed = true;
    for (const [i, p] of pages.entries()) {
      await p.page.screenshot({ path: screenshotPath(`failed-nodes-${i}.png`) }).catch(() => {});
    }
    e.message += logs();
    throw e;
  } finally {
    for (const p of pages) await p.context.close().catch(() => {});
    // nginx first, then the nodes, then Redis; every one even if one fails.
    const problems = [];
    for (const s of started.reverse()) {
      await s.stop().catch((e) => problems.push(`${s.name}: ${e.message}`));
    }
    rmSync(dir, { recursive: true, force: true });
    if (!failed) assert.deepEqual(problems, [], 'everything stopped in time');
  }
});
