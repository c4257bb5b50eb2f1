// Room names and where they live in URLs: the page's address
// (`/?room=kitchen`, the lobby without a query) and the WebSocket's
// (`/ws?room=kitchen`, the lobby without one too).

/** The room of a connection whose URL names none. */
export const LOBBY = 'lobby';

/** The rule, as the page shows it. */
export const ROOM_RULE = "1 to 32 letters, digits, '-', '_' or '.'";

// The server's rule exactly: 1 to 32 characters, each alphanumeric in
// Rust's sense (Unicode Alphabetic, or a number: Nd, Nl, No) or '-', '_',
// '.'. The server answers a bad name in the URL with a 400, which a
// browser only reports as a failed connection: check before connecting.
const ROOM_RE = /^[\p{Alphabetic}\p{N}._-]{1,32}$/u;

/**
 * A name as typed, ready to check and send: trimmed, and composed (NFC),
 * so that an "é" typed as e + accent is one letter, as the server counts.
 */
export function tidyRoom(text) {
  return String(text).trim().normalize('NFC');
}

export function validRoom(name) {
  return ROOM_RE.test(name);
}

/**
 * The room the page's address asks for: `{ room }`, or `{ room: LOBBY, bad }`
 * when it names one the server would refuse (`bad` is what it named).
 * An empty `?room=` is the lobby.
 */
export function roomFromSearch(search) {
  const asked = new URLSearchParams(search).get('room');
  if (asked === null) return { room: LOBBY };
  const room = tidyRoom(asked);
  if (room === '') return { room: LOBBY };
  return validRoom(room) ? { room } : { room: LOBBY, bad: asked };
}

/**
 * The page's own address for `room` (path, query and fragment), to share:
 * `?room=NAME`, and no `room` at all for the lobby. Other parameters stay.
 */
export function pageUrl(href, room) {
  const url = new URL(href);
  if (room === LOBBY) url.searchParams.delete('room');
  else url.searchParams.set('room', room);
  return url.pathname + url.search + url.hash;
}

/** The WebSocket URL for `room` at `origin` + `path`. */
export function socketUrl(origin, path, room) {
  return origin + path + (room === LOBBY ? '' : '?room=' + encodeURIComponent(room));
}
