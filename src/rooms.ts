/**
 * Room names, as the server accepts them: `presence`, or `{kind}:{id}`.
 */

export const ROOM_KINDS = ['idea', 'project', 'build', 'deployment', 'preview'] as const;

/** Kinds whose document has a `code` text the room editor can edit. */
export const TEXT_ROOM_KINDS: readonly string[] = ['idea', 'project', 'preview'];

const ROOM_NAME = /^(?:presence|(?:idea|project|build|deployment|preview):[A-Za-z0-9._-]{1,128})$/;

export function isRoomName(name: string): boolean {
  return ROOM_NAME.test(name);
}

/** The kind of a room name: `idea` for `idea:42`. */
export function roomKind(name: string): string {
  const colon = name.indexOf(':');
  return colon < 0 ? name : name.slice(0, colon);
}

/** Whether the room editor can open `name`. */
export function isTextRoom(name: string): boolean {
  return isRoomName(name) && TEXT_ROOM_KINDS.includes(roomKind(name));
}

/**
 * What the id of a room may be (jupyter_omniforge/names.py, `ID_PATTERN`). The `-` is escaped:
 * browsers compile an input's `pattern` with the `v` flag, where a bare one is a syntax error
 * (and the pattern silently ignored).
 */
export const ROOM_ID_PATTERN = '[A-Za-z0-9._\\-]{1,128}';

const ROOM_ID = new RegExp(`^${ROOM_ID_PATTERN}$`);

/** Whether `id` may follow `kind:` in a room name. */
export function isRoomId(id: string): boolean {
  return ROOM_ID.test(id);
}

/** A fresh room id: eight random base-36 characters. */
export function newRoomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => (b % 36).toString(36)).join('');
}

/**
 * The room a "New room" prompt's answer names: `kind:` and the answer trimmed (a leading
 * `kind:` typed by the user is allowed). Null when the answer is no valid id.
 */
export function roomFromAnswer(kind: string, answer: string): string | null {
  let id = answer.trim();
  if (id.startsWith(`${kind}:`)) {
    id = id.slice(kind.length + 1);
  }
  return isRoomId(id) ? `${kind}:${id}` : null;
}

/** Kinds whose rooms the feed shows (a build's or deployment's live state), not "Open rooms". */
export const FEED_ROOM_KINDS: readonly string[] = ['build', 'deployment'];

/** Whether `name` is a build or deployment room, shown in the feed rather than "Open rooms". */
export function isFeedRoom(name: string): boolean {
  return FEED_ROOM_KINDS.includes(roomKind(name));
}

const NAME_ORDER = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Orders names as people read them: `build:42` before `build:100`. */
export function compareNames(a: string, b: string): number {
  return NAME_ORDER.compare(a, b);
}
