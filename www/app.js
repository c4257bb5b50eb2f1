// wshub page: chat when the server speaks the chat protocol (JSON), raw
// otherwise (echo, broadcast). Every string from the network is rendered
// with textContent, never as HTML. The log's entries are made in view.js.

import { bubble, el, notice } from './view.js';

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const statusText = $('status-text');
const retryEl = $('retry');
const toggle = $('toggle');
const meEl = $('me');
const onlineEl = $('online');
const countEl = $('count');
const form = $('composer');
const input = $('input');
const sendBtn = $('send');

const WS_ORIGIN = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host;
const SETTINGS_WAIT = 5000;
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 8000;

let ws = null;         // the current socket, if any
let wanted = true;     // false once the user pressed Disconnect
let attempt = 0;       // failed connects in a row, for the backoff
let retryTimer = 0;
let tickTimer = 0;
let mode = 'unknown';  // 'chat' after a welcome, 'raw' otherwise
let wsPath = '/ws';    // until /wshub.json says where the endpoint is
let me = '';
const online = new Set();

// ---- rendering -------------------------------------------------------

// `retry` is the countdown, kept out of the live region so that a
// screen reader does not read it every second.
function setState(state, text, retry = '') {
  statusEl.dataset.state = state;
  if (statusText.textContent !== text) statusText.textContent = text;
  retryEl.textContent = retry;
  toggle.textContent = state === 'disconnected' ? 'Connect' : 'Disconnect';
  sendBtn.disabled = state !== 'connected';
}

function setMode(m) {
  mode = m;
  document.body.dataset.mode = m;
}

function renderMe() {
  meEl.textContent = me || '…';
}

function renderOnline() {
  const names = [...online].sort((a, b) => a.localeCompare(b));
  const items = names.map((n) => {
    const li = el('li', n === me ? 'self' : '', n);
    li.dataset.name = n;
    if (n === me) li.append(el('span', 'you', ' (you)'));
    return li;
  });
  onlineEl.replaceChildren(...items);
  countEl.textContent = names.length ? String(names.length) : '';
}

// ---- the protocol ----------------------------------------------------

const str = (v) => (typeof v === 'string' ? v : String(v ?? ''));

const HANDLERS = {
  welcome(m) {
    setMode('chat');
    me = str(m.name);
    online.clear();
    if (Array.isArray(m.online)) m.online.forEach((n) => online.add(str(n)));
    online.add(me);
    renderMe();
    renderOnline();
    notice('You joined as ' + me + '.', 'info');
  },
  join(m) {
    const name = str(m.name);
    online.add(name);
    renderOnline();
    notice(name + ' joined.', 'join');
  },
  message(m) {
    const from = str(m.from);
    const ts = Number.isFinite(m.ts) ? m.ts : Date.now();
    bubble(from, str(m.text), ts, from === me ? 'mine' : '');
  },
  rename(m) {
    const from = str(m.from);
    const to = str(m.to);
    online.delete(from);
    online.add(to);
    if (from === me) {
      me = to;
      renderMe();
      notice('You are now ' + to + '.', 'rename');
    } else {
      notice(from + ' is now ' + to + '.', 'rename');
    }
    renderOnline();
  },
  leave(m) {
    const name = str(m.name);
    online.delete(name);
    renderOnline();
    notice(name + ' left.', 'leave');
  },
  error(m) {
    notice(str(m.text), 'error');
  },
};

function receive(data) {
  if (typeof data !== 'string') {
    if (mode === 'unknown') setMode('raw');
    bubble('received', '[binary ' + data.byteLength + ' bytes]', Date.now(), 'in');
    return;
  }
  let msg = null;
  if (mode !== 'raw') {
    try {
      const v = JSON.parse(data);
      if (v && typeof v === 'object' && Object.prototype.hasOwnProperty.call(HANDLERS, v.type)) msg = v;
    } catch (_) { /* not JSON: raw */ }
  }
  // The chat server's first message is always a welcome.
  if (msg && (mode === 'chat' || msg.type === 'welcome')) {
    HANDLERS[msg.type](msg);
    return;
  }
  if (mode === 'unknown') setMode('raw');
  bubble('received', data, Date.now(), 'in');
}

// ---- the connection --------------------------------------------------

// The server says where its endpoint is (see /wshub.json); a server
// without it (an older wshub) gets the default path.
async function loadSettings() {
  try {
    const res = await fetch('/wshub.json', { cache: 'no-store', signal: AbortSignal.timeout(SETTINGS_WAIT) });
    if (!res.ok) return;
    const s = await res.json();
    if (s && typeof s.ws_path === 'string' && s.ws_path.startsWith('/')) wsPath = s.ws_path;
  } catch (_) { /* keep the default */ }
}

function clearTimers() {
  clearTimeout(retryTimer);
  clearInterval(tickTimer);
  retryTimer = tickTimer = 0;
}

function connect() {
  clearTimers();
  wanted = true;
  setState('connecting', 'Connecting…');
  let sock;
  try {
    sock = new WebSocket(WS_ORIGIN + wsPath);
  } catch (_) {
    scheduleRetry();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  let opened = false;
  sock.onopen = () => {
    if (ws !== sock) return;
    opened = true;
    attempt = 0;
    setMode('unknown');
    setState('connected', 'Connected');
  };
  sock.onmessage = (ev) => {
    if (ws === sock) receive(ev.data);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    online.clear();
    renderOnline();
    if (!wanted) return; // the user's Disconnect already said so
    if (opened) {
      notice('Connection lost' + (ev.code ? ' (code ' + ev.code + ')' : '') + '. Reconnecting…', 'error');
    }
    scheduleRetry();
  };
}

function scheduleRetry() {
  clearTimers();
  const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** attempt);
  attempt += 1;
  const delay = Math.round(base * (0.8 + Math.random() * 0.2));
  const due = Date.now() + delay;
  const tick = () => {
    const s = Math.max(1, Math.ceil((due - Date.now()) / 1000));
    setState('disconnected', 'Disconnected', '· retry in ' + s + ' s');
  };
  tick();
  tickTimer = setInterval(tick, 1000);
  retryTimer = setTimeout(connect, delay);
}

function disconnect() {
  wanted = false;
  clearTimers();
  const sock = ws;
  ws = null;
  if (sock) sock.close(1000, 'bye');
  online.clear();
  renderOnline();
  setState('disconnected', 'Disconnected');
  notice('You disconnected.', 'info');
}

toggle.addEventListener('click', () => {
  if (ws) disconnect();
  else {
    attempt = 0;
    connect();
  }
});

// Back on the network: no need to wait for the next retry.
window.addEventListener('online', () => {
  if (!ws && wanted) {
    attempt = 0;
    connect();
  }
});

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value;
  if (!text.trim() || !ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(text);
  // The chat server sends every message back as JSON; other modes don't
  // say what went out, so show it here.
  if (mode !== 'chat') bubble('sent', text, Date.now(), 'out');
  input.value = '';
  input.focus();
});

renderMe();
loadSettings().then(connect);
