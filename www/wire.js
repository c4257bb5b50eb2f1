// The wire view (`--explain`): this browser's own connection as the server
// saw it on the wire: the opening request, the accept computation, the 101,
// then every frame both ways, bit by bit. The server sends one JSON note a
// step on a socket of its own (the view socket), linked to the page's
// connections by a secret the page makes (the notes: src/explain/note.rs).
// Every string from the network goes in with textContent, never as HTML.

import { el } from './view.js';

const VIEW_WAIT = 3000;  // the longest the page waits for the view to open
const MAX_NOTES = 300;
const RFC = 'https://www.rfc-editor.org/rfc/rfc6455#section-';
const PHONE = '(max-width: 700px)';

const button = document.getElementById('wire-toggle');
const panel = document.getElementById('wire');
const list = document.getElementById('wire-log');
const stateEl = document.getElementById('wire-state');
const log = document.getElementById('log');

let wirePath = '';  // the view socket's path, once /wshub.json offers one
let view = null;    // { sock, secret, ready }: the view socket, open or opening
let notes = 0;      // notes in the list
let lastConn = null;

// ---- offering the view ----------------------------------------------

/**
 * Offers the view when the server's settings (/wshub.json) name its path:
 * shows the Wire button, and the view itself beside the log on a laptop.
 * Returns whether it is offered.
 */
export function offerView(settings) {
  const p = settings && settings.wire;
  if (typeof p !== 'string' || !p.startsWith('/')) return false;
  wirePath = p;
  button.hidden = false;
  panel.hidden = false;
  show(!window.matchMedia(PHONE).matches);
  button.addEventListener('click', () => show(document.body.dataset.wire !== 'on'));
  return true;
}

// Shows or hides the view; the log's width changes with it, so a log that
// was at its end is kept there.
function show(on) {
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  document.body.dataset.wire = on ? 'on' : 'off';
  button.setAttribute('aria-pressed', String(on));
  if (on) list.scrollTop = list.scrollHeight;
  if (atEnd) log.scrollTop = log.scrollHeight;
}

// ---- the view socket --------------------------------------------------

/** 16 random bytes as 32 lowercase hex characters. */
function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** `url` with `wire=SECRET` added to its query (unchanged without a secret). */
export function withSecret(url, secret) {
  if (!secret) return url;
  return url + (url.includes('?') ? '&' : '?') + 'wire=' + secret;
}

/**
 * The secret for the next main connection: the open view's, or a new
 * view's once it opens (at most VIEW_WAIT ms); null without a view (not
 * offered, refused, or too slow).
 */
export function linkView(wsOrigin) {
  return wirePath ? openView(wirePath, wsOrigin) : Promise.resolve(null);
}

/** Opens the view socket unless one is open or opening; resolves to its secret or null. */
export function openView(path, wsOrigin) {
  if (view) return view.ready;
  const secret = newSecret();
  let sock;
  try {
    sock = new WebSocket(wsOrigin + path + '?wire=' + secret);
  } catch (_) {
    setState('closed', 'The view could not be opened.');
    return Promise.resolve(null);
  }
  const v = { sock, secret, ready: null };
  view = v;
  setState('opening', 'Opening the view…');
  v.ready = new Promise((resolve) => {
    let opened = false;
    const gone = (why) => {
      clearTimeout(timer);
      if (view === v) view = null;
      resolve(null);
      setState('closed', why);
    };
    const timer = setTimeout(() => {
      sock.onclose = null;
      sock.close();
      gone('The view did not open in time; connected without it.');
    }, VIEW_WAIT);
    sock.onopen = () => {
      opened = true;
      clearTimeout(timer);
      setState('open', 'This browser’s own connection, as the server sees it.');
      resolve(secret);
    };
    sock.onclose = (ev) => gone(opened
      ? 'The view closed (code ' + ev.code + '); the next connection opens a new one.'
      : 'The view could not be opened; connected without it.');
  });
  sock.onmessage = (ev) => {
    if (view === v && typeof ev.data === 'string') receive(ev.data);
  };
  return v.ready;
}

function setState(state, text) {
  stateEl.dataset.state = state;
  stateEl.textContent = text;
}

// ---- notes ------------------------------------------------------------

function receive(data) {
  let n;
  try {
    n = JSON.parse(data);
  } catch (_) {
    return;
  }
  if (!n || typeof n !== 'object' || !Object.prototype.hasOwnProperty.call(STEPS, n.step)) return;
  const conn = Number.isFinite(n.conn) ? n.conn : null;
  if (conn !== null && conn !== lastConn) {
    lastConn = conn;
    put(el('li', 'wire-sep', 'Connection #' + conn), false);
  }
  const li = el('li', 'wire-note ' + n.step);
  li.dataset.step = n.step;
  if (conn !== null) li.dataset.conn = String(conn);
  STEPS[n.step](li, n);
  li.append(refs(n.refs));
  put(li, true);
}

function put(li, isNote) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  list.append(li);
  if (isNote) notes += 1;
  while (notes > MAX_NOTES && list.firstElementChild) {
    if (list.firstElementChild.classList.contains('wire-note')) notes -= 1;
    list.firstElementChild.remove();
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

const str = (v) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const arr = (v) => (Array.isArray(v) ? v : []);

function title(text) {
  return el('h3', 'wire-title', text);
}

function refs(list) {
  const p = el('p', 'wire-refs');
  for (const r of arr(list)) {
    const section = str(r && r.section);
    if (!/^[0-9]+(\.[0-9]+)*$/.test(section)) continue;
    const a = el('a', 'rfc', 'RFC 6455 §' + section + (r.title ? ' ' + str(r.title) : ''));
    a.href = RFC + section;
    a.target = '_blank';
    a.rel = 'noopener';
    p.append(a);
  }
  return p;
}

/** A labelled row: `label` then `value` (monospace unless `plain`). */
function row(cls, label, value, plain = false) {
  const d = el('div', 'wire-row ' + cls);
  d.append(el('span', 'wire-label', label), el(plain ? 'span' : 'code', 'wire-value', value));
  return d;
}

const hex2 = (b) => (b & 255).toString(16).padStart(2, '0');
const bits8 = (b) => (b & 255).toString(2).padStart(8, '0');

const STEPS = {
  request(li, n) {
    li.append(title('1. The opening request, as the server received it'));
    const lines = el('div', 'wire-head');
    for (const l of arr(n.lines)) {
      const text = typeof l === 'string' ? l : str(l && l.text);
      const d = el('div', 'wire-line');
      const code = el('code', 'wire-line-text', text);
      d.append(code);
      const name = text.includes(':') ? text.slice(0, text.indexOf(':')).trim().toLowerCase() : '';
      if (name) d.dataset.header = name;
      if (l && typeof l.why === 'string' && l.why) {
        d.classList.add('pointed');
        d.append(el('span', 'why', '← ' + l.why));
      }
      lines.append(d);
    }
    li.append(lines);
  },
  accept(li, n) {
    li.append(title('2. The server proves it read the key: Sec-WebSocket-Accept'));
    const steps = el('div', 'wire-accept');
    steps.append(
      row('accept-key', 'key (from the client)', str(n.key)),
      row('accept-guid', '+ GUID (fixed by RFC 6455)', str(n.guid)),
      row('accept-concat', '= concatenation', str(n.concatenated)),
      row('accept-sha1', '→ SHA-1 of that (20 bytes, hex)', str(n.sha1)),
      row('accept-value', '→ base64 of the digest', str(n.accept)),
    );
    li.append(steps, el('p', 'wire-why', 'The 101 carries it as Sec-WebSocket-Accept: ' + str(n.accept)));
  },
  response(li, n) {
    li.append(title('3. The response, as the server sent it'));
    const lines = el('div', 'wire-head');
    arr(n.lines).forEach((l, i) => {
      const d = el('div', 'wire-line' + (i === 0 ? ' status-line' : ''));
      d.append(el('code', 'wire-line-text', str(l)));
      lines.append(d);
    });
    li.append(lines);
    if (str(arr(n.lines)[0]).includes(' 101')) {
      li.append(el('p', 'wire-why', 'From here on both sides speak in WebSocket frames.'));
    }
  },
  frame(li, n) {
    const from = n.from === 'server' ? 'server' : 'client';
    const name = str(n.name) || 'reserved';
    const length = Number.isFinite(n.length) ? n.length : 0;
    li.dataset.from = from;
    li.dataset.opcode = String(n.opcode);
    li.dataset.name = name;
    li.dataset.form = str(n.form);
    li.dataset.length = String(length);
    const head = el('div', 'wire-frame-head');
    head.append(
      el('span', 'dir ' + from, from === 'client' ? 'client → server' : 'server → client'),
      el('strong', 'wire-kind', name + ' frame'),
      el('span', 'wire-size', length + (length === 1 ? ' byte' : ' bytes') + ' · ' + str(n.form) + ' length'),
    );
    li.append(head, header(n));
    li.append(payload(n));
    if (n.close && typeof n.close === 'object') li.append(closeInfo(n.close));
    const said = arr(n.notes).filter((s) => typeof s === 'string');
    if (said.length) {
      const ul = el('ul', 'wire-notes');
      for (const s of said) ul.append(el('li', '', s));
      li.append(ul);
    }
  },
  closed(li, n) {
    li.append(el('p', 'wire-closed-text', str(n.text) || 'TCP connection closed.'));
  },
};

// ---- a frame's header, bit by bit ----------------------------------------

/** One byte as 8 bit cells over field labels: `fields` is [[label, bits, cls], ...]. */
function byteBits(value, index, fields) {
  const box = el('div', 'wire-byte');
  box.dataset.byte = String(index);
  const cells = el('div', 'bits');
  let bit = 0;
  const labels = el('div', 'bits fields');
  for (const [label, width, cls] of fields) {
    for (let i = 0; i < width; i++, bit++) {
      const c = el('span', 'bit ' + cls, String((value >> (7 - bit)) & 1));
      c.dataset.field = cls;
      cells.append(c);
    }
    labels.append(el('span', 'field ' + cls + ' span-' + width, label));
  }
  box.append(el('span', 'wire-byte-name', 'byte ' + index + ' = 0x' + hex2(value)), cells, labels);
  return box;
}

/** Bytes as boxes: hex over bits (the extended length) or hex only (the key). */
function byteBoxes(bytes, withBits) {
  const d = el('div', 'wire-boxes');
  for (const b of bytes) {
    const box = el('span', 'wire-box');
    box.append(el('code', 'hex', hex2(b)));
    if (withBits) box.append(el('code', 'bin', bits8(b)));
    d.append(box);
  }
  return d;
}

function header(n) {
  const h = arr(n.header).map((b) => Number(b) & 255);
  const d = el('div', 'wire-header');
  d.append(el('span', 'wire-part', 'Header (' + h.length + ' bytes: ' + h.map(hex2).join(' ') + ')'));
  if (h.length < 2) return d;
  const opcode = h[0] & 15;
  const len7 = h[1] & 127;
  const lenSays = len7 === 126 ? '126: 16 bits follow' : len7 === 127 ? '127: 64 bits follow' : String(len7);
  const two = el('div', 'wire-bytes');
  two.append(
    byteBits(h[0], 0, [['FIN', 1, 'fin'], ['RSV1', 1, 'rsv'], ['RSV2', 1, 'rsv'], ['RSV3', 1, 'rsv'],
      ['opcode ' + opcode + ' = ' + str(n.name), 4, 'opcode']]),
    byteBits(h[1], 1, [['MASK', 1, 'mask'], ['payload len ' + lenSays, 7, 'len']]),
  );
  d.append(two);
  const fin = h[0] >> 7;
  d.append(el('p', 'wire-why', 'FIN=' + fin + (fin ? ': the last (or only) frame of its message. ' : ': more frames of this message follow. ') +
    'MASK=' + (h[1] >> 7) + (h[1] >> 7 ? ': the payload is masked with the key below.' : ': the payload is not masked.')));
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  const form = el('div', 'wire-form');
  form.dataset.form = str(n.form);
  if (ext) {
    form.append(el('span', 'wire-part', 'Extended payload length, ' + ext * 8 + ' bits = ' + str(n.length)));
    form.append(byteBoxes(h.slice(2, 2 + ext), true));
  }
  if (n.form_why) form.append(el('p', 'wire-why', str(n.form_why)));
  d.append(form);
  if (n.masked && h.length >= 2 + ext + 4) {
    const key = el('div', 'wire-key');
    key.append(el('span', 'wire-part', 'Masking key (4 bytes, new for each client frame)'));
    key.append(byteBoxes(h.slice(2 + ext, 6 + ext), false));
    d.append(key);
  }
  return d;
}

function payload(n) {
  const d = el('div', 'wire-payload');
  const length = Number.isFinite(n.length) ? n.length : 0;
  if (length === 0) {
    d.append(el('span', 'wire-part', 'No payload'));
    return d;
  }
  const more = n.cut ? ' … (' + length + ' bytes in all)' : '';
  if (n.masked) {
    d.append(row('masked', 'payload as sent (masked)', str(n.payload) + more));
    d.append(row('unmasked', 'unmasked: XOR with the key', str(n.unmasked) + more));
  } else {
    d.append(row('plain', 'payload (not masked)', str(n.payload) + more));
  }
  if (typeof n.text === 'string') {
    const t = row('text', 'as text', n.text + (n.text_cut ? ' …' : ''), true);
    t.querySelector('.wire-value').classList.add('wire-text');
    d.append(t);
  }
  return d;
}

function closeInfo(c) {
  const d = el('div', 'wire-close');
  const code = Number.isFinite(c.code) ? c.code : null;
  d.dataset.code = code === null ? '' : String(code);
  d.append(row('code', 'close code', code === null ? 'none' : String(code)));
  if (c.meaning) d.append(row('meaning', 'meaning', str(c.meaning), true));
  if (c.reason) d.append(row('reason', 'reason', str(c.reason), true));
  return d;
}
