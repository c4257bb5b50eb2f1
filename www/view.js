// The message log: bubbles, notices and separators. Every string from the
// network goes in with textContent, never as HTML.

const MAX_ENTRIES = 500;

const log = document.getElementById('log');

// A room's history arrives right after its welcome; it goes before this
// entry (the "You joined" notice), so the log reads: earlier messages,
// then you joined, then what is said from then on.
let historyAnchor = null;
let historyStarted = false;

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function put(li, before = null) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  log.insertBefore(li, before && before.isConnected ? before : null);
  while (log.childElementCount > MAX_ENTRIES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
  return li;
}

function timeEl(ms) {
  const d = new Date(ms);
  const t = el('time', 'when', d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  t.dateTime = d.toISOString();
  t.title = d.toLocaleString();
  return t;
}

function message(from, text, ms, kind) {
  const li = el('li', 'msg' + (kind ? ' ' + kind : ''));
  const meta = el('div', 'meta');
  meta.append(el('span', 'from', from), timeEl(ms));
  li.append(meta, el('p', 'text', text));
  return li;
}

/** A message bubble: who, when, what. kind: '' | 'mine' | 'out' | 'in'. */
export function bubble(from, text, ms, kind) {
  historyAnchor = null;
  put(message(from, text, ms, kind));
}

/**
 * A message from the room's history: dimmed, labelled "earlier", after an
 * "Earlier messages" separator, and before the "You joined" notice.
 */
export function earlier(from, text, ms, kind) {
  if (!historyStarted) {
    historyStarted = true;
    put(el('li', 'sep history-sep', 'Earlier messages'), historyAnchor);
  }
  const li = message(from, text, ms, 'history' + (kind ? ' ' + kind : ''));
  li.querySelector('.meta').append(el('span', 'tag', 'earlier'));
  put(li, historyAnchor);
}

/** A notice (join, leave, rename, error, info); returns its entry. */
export function notice(text, kind) {
  historyAnchor = null;
  return put(el('li', 'note' + (kind ? ' ' + kind : ''), text));
}

/**
 * The start of a stay in `room`, after a welcome: `clear` empties the log
 * first (another room's conversation). `joined` is the notice that the
 * room's history will go before.
 */
export function enterRoom(room, joined, clear) {
  if (clear) log.replaceChildren();
  put(el('li', 'sep room-sep', 'Room ' + room));
  historyAnchor = notice(joined, 'info');
  historyStarted = false;
}
