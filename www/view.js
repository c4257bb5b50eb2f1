// The message log: bubbles and notices. Every string from the network
// goes in with textContent, never as HTML.

const MAX_ENTRIES = 500;

const log = document.getElementById('log');

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function put(li) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  log.appendChild(li);
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

/** A message bubble: who, when, what. kind: '' | 'mine' | 'out' | 'in'. */
export function bubble(from, text, ms, kind) {
  const li = el('li', 'msg' + (kind ? ' ' + kind : ''));
  const meta = el('div', 'meta');
  meta.append(el('span', 'from', from), timeEl(ms));
  li.append(meta, el('p', 'text', text));
  put(li);
}

/** A notice (join, leave, rename, error, info); returns its entry. */
export function notice(text, kind) {
  return put(el('li', 'note' + (kind ? ' ' + kind : ''), text));
}
