// wshub page: chat when the server speaks the chat protocol (JSON), raw
// otherwise (echo, broadcast). Every string from the network is rendered
// with textContent, never as HTML. The log's entries are made in view.js,
// room names and URLs are in rooms.js.

import { LOBBY, ROOM_RULE, pageUrl, roomFromSearch, socketUrl, tidyRoom, validRoom } from './rooms.js';
import { bubble, earlier, el, enterRoom, notice } from './view.js';
import { linkView, offerView, withSecret } from './wire.js';

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const statusText = $('status-text');
const retryEl = $('retry');
const toggle = $('toggle');
const meEl = $('me');
const roomEl = $('room');
const onlineEl = $('online');
const countEl = $('count');
const form = $('composer');
const input = $('input');
const sendBtn = $('send');
const roomForm = $('room-form');
const roomInput = $('room-input');
const roomRule = $('room-rule');

const WS_ORIGIN = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host;
const SETTINGS_WAIT = 5000;
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 8000;
const MAX_SEEN = 1000;

let ws = null;         // the current socket, if any
let linking = null;    // with --explain, the wait for the view's socket (wire.js), opened first
let wanted = true;     // false once the user pressed Disconnect
let attempt = 0;       // failed connects in a row, for the backoff
let refused = 0;       // "too many rooms" closes in a row
let retryTimer = 0;
let tickTimer = 0;
let mode = 'unknown';  // 'chat' after a welcome, 'raw' otherwise
let wsPath = '/ws';    // until /wshub.json says where the endpoint is
let me = '';
let chosen = '';       // the name this person took with /nick, kept across connections
const online = new Set();

// Rooms. `target` is where the next connection goes: the address's room
// at first, then the room of each welcome. `room` is the room this socket
// is in ('' before its welcome); what names another is dropped. `shown`
// is the room whose conversation the log holds.
const asked = roomFromSearch(location.search);
let target = asked.room;
let room = '';
let shown = '';
let welcomed = false;  // this socket had its first welcome
let held = null;       // an error received before knowing the mode
// Messages the log already has in this room (its history comes again on a
// reconnect): "ts from text".
const seen = new Set();

// ---- rendering -------------------------------------------------------

// `retry` is the countdown, kept out of the live region so that a screen
// reader does not read it every second.
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

function renderRoom() {
  roomEl.textContent = target;
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

function firstSeen(key) {
  if (seen.has(key)) return false;
  if (seen.size >= MAX_SEEN) seen.delete(seen.values().next().value);
  seen.add(key);
  return true;
}

const HANDLERS = {
  welcome(m) {
    setMode('chat');
    refused = 0;
    me = str(m.name);
    room = typeof m.room === 'string' && m.room ? m.room : LOBBY;
    target = room;
    const moved = shown !== '' && shown !== room;
    if (moved || shown === '') seen.clear();
    shown = room;
    online.clear();
    if (Array.isArray(m.online)) m.online.forEach((n) => online.add(str(n)));
    online.add(me);
    renderMe();
    renderRoom();
    renderOnline();
    enterRoom(room, 'You joined as ' + me + '.', moved);
    const url = pageUrl(location.href, room);
    if (url !== location.pathname + location.search + location.hash) window.history.replaceState(null, '', url);
    document.title = room === LOBBY ? 'wshub' : room + ' · wshub';
    // A new connection: take the chosen name again (the server says if it
    // is taken now). After a /join the server kept it.
    if (!welcomed && chosen && chosen !== me) ws?.send('/nick ' + chosen);
    welcomed = true;
  },
  join(m) {
    const name = str(m.name);
    online.add(name);
    renderOnline();
    notice(name + ' joined.', 'join');
  },
  message(m) {
    const from = str(m.from);
    const text = str(m.text);
    const ts = Number.isFinite(m.ts) ? m.ts : Date.now();
    const fresh = firstSeen(ts + ' ' + from + ' ' + text);
    const kind = from === me ? 'mine' : '';
    if (m.history !== true) bubble(from, text, ts, kind);
    else if (fresh) earlier(from, text, ts, kind);
  },
  rename(m) {
    const from = str(m.from);
    const to = str(m.to);
    online.delete(from);
    online.add(to);
    if (from === me) {
      me = chosen = to;
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

// What names another room than this socket's is dropped (after a /join's
// welcome the server sends nothing more from the old room; this is in case).
function forThisRoom(m) {
  return m.type === 'welcome' || m.type === 'error' || m.room === undefined || m.room === room;
}

function raw(data) {
  if (mode === 'unknown') setMode('raw');
  if (held) {
    bubble('received', held.data, Date.now(), 'in');
    held = null;
  }
  if (typeof data === 'string') bubble('received', data, Date.now(), 'in');
  else bubble('received', '[binary ' + data.byteLength + ' bytes]', Date.now(), 'in');
}

function receive(data) {
  if (typeof data !== 'string') return raw(data);
  let msg = null;
  if (mode !== 'raw') {
    try {
      const v = JSON.parse(data);
      if (v && typeof v === 'object' && Object.prototype.hasOwnProperty.call(HANDLERS, v.type)) msg = v;
    } catch (_) { /* not JSON: raw */ }
  }
  if (msg && mode === 'chat') {
    if (forThisRoom(msg)) HANDLERS[msg.type](msg);
    return;
  }
  // The chat server's first message is a welcome, or an error just before
  // it closes (too many rooms): hold that until the close shows it.
  if (msg && mode === 'unknown' && msg.type === 'error' && !held) {
    held = { msg, data };
    return;
  }
  if (msg && msg.type === 'welcome') {
    held = null;
    HANDLERS.welcome(msg);
    return;
  }
  raw(data);
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
    offerView(s);
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
  renderRoom();
  const turn = (linking = linkView(WS_ORIGIN).then((secret) => linking === turn && openSocket(secret)));
}

function openSocket(secret) {
  linking = null;
  let sock;
  try {
    sock = new WebSocket(withSecret(socketUrl(WS_ORIGIN, wsPath, target), secret));
  } catch (_) {
    scheduleRetry();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  room = '';
  welcomed = false;
  held = null;
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
    room = '';
    online.clear();
    renderOnline();
    const error = held;
    held = null;
    if (!wanted) return; // the user's Disconnect already said so
    if (ev.code === 1013) {
      // Too many rooms: said once, then tried again more and more slowly.
      refused += 1;
      attempt = Math.max(attempt, refused + 2);
      if (refused === 1) {
        if (error) notice(str(error.msg.text), 'error');
        notice('Closed by the server: ' + (ev.reason || 'try again later') + ' (code 1013). ' +
          'Trying again now and then; or choose another room.', 'error');
      }
    } else {
      if (error) notice(str(error.msg.text), 'error');
      if (opened) notice('Connection lost' + (ev.code ? ' (code ' + ev.code + ')' : '') + '. Reconnecting…', 'error');
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
    setState('disconnected', 'Disconnected', 'retry in ' + s + ' s');
  };
  tick();
  tickTimer = setInterval(tick, 1000);
  retryTimer = setTimeout(connect, delay);
}

// Closes the current socket, if any, without a word in the log.
function drop() {
  const sock = ws;
  ws = linking = null;
  room = '';
  if (sock) sock.close(1000, 'bye');
  online.clear();
  renderOnline();
}

function disconnect() {
  wanted = false;
  clearTimers();
  drop();
  setState('disconnected', 'Disconnected');
  notice('You disconnected.', 'info');
}

// Connects now, as the person asked: no backoff left over.
function connectNow() {
  attempt = 0;
  refused = 0;
  connect();
}

toggle.addEventListener('click', () => {
  if (ws || linking) disconnect();
  else connectNow();
});

// Back on the network: no need to wait for the next retry.
window.addEventListener('online', () => {
  if (!ws && !linking && wanted) connectNow();
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

// ---- switching rooms -------------------------------------------------

function showRule(bad) {
  roomInput.setAttribute('aria-invalid', 'true');
  roomRule.classList.add('bad');
  roomRule.textContent = (bad ? '“' + bad + '” is not a room name: use ' : 'Use ') + ROOM_RULE;
}

function clearRule() {
  if (!roomRule.classList.contains('bad')) return;
  roomInput.removeAttribute('aria-invalid');
  roomRule.classList.remove('bad');
  roomRule.textContent = 'Room names: ' + ROOM_RULE;
}

roomInput.addEventListener('input', clearRule);

// On the open socket, /join keeps the name and the room shown changes
// with the welcome; without one (refused, or between retries), the next
// connection goes there.
roomForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = tidyRoom(roomInput.value);
  if (!validRoom(name)) {
    showRule(name);
    roomInput.focus();
    return;
  }
  clearRule();
  roomInput.value = '';
  if (ws && ws.readyState === WebSocket.OPEN && mode === 'chat') {
    ws.send('/join ' + name);
    return;
  }
  target = name;
  drop();
  connectNow();
});

renderMe();
renderRoom();
if (asked.bad !== undefined) {
  notice('“' + asked.bad + '” in the address is not a room name (' + ROOM_RULE + '); here is the lobby.', 'error');
}
loadSettings().then(connect);
