/**
 * A room's version history as the server keeps it (`omniforge/api/rooms/{room}/versions…`):
 * the requests the History panel makes, their answers checked (they cross the network), and the
 * inline diff the panel shows, built from the diff endpoint's ranges.
 */
import { isSafeColor } from '../avatar';
import type { IOmniForgeServer } from '../tokens';

/** The text root the room editor binds, and the one whose history the panel shows. */
const ROOT = 'code';
/** Versions asked for per page. */
export const PAGE_SIZE = 50;

/** One author of a version: who sent updates since the version before, and how many. */
export interface IVersionAuthor {
  readonly username: string;
  readonly displayName: string;
  readonly updates: number;
  /**
   * The colour the room showed them in when they wrote (their identity's, or the one their
   * JupyterLab picked), when the server knows it and it is safe to paint; else null.
   */
  readonly color: string | null;
}

/** One version, as `GET …/versions` lists it. */
export interface IVersion {
  /** Opaque: compared for equality and passed back, nothing else. */
  readonly id: string;
  /** Unix seconds. */
  readonly time: number;
  readonly label: string | null;
  readonly kind: 'auto' | 'named' | 'restored' | string;
  readonly authors: readonly IVersionAuthor[];
  /** Bytes of the document's state. */
  readonly size: number;
}

export interface IVersionPage {
  /** Newest first. */
  readonly versions: readonly IVersion[];
  /** Pass as `before` for the page after; null on the last page. */
  readonly next: string | null;
}

/**
 * A range of a text that changed, with who wrote it (`''`: unknown). Indices count Unicode
 * code points (the server's characters), not UTF-16 units: an emoji is one.
 */
export interface IAuthoredRange {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly author: string;
}

/**
 * A piece of the inline diff: text both sides share (`same`), text the version has and the
 * current document no longer has (`deleted`), or text added since (`inserted`).
 */
export interface IDiffPiece {
  readonly kind: 'same' | 'deleted' | 'inserted';
  readonly text: string;
  readonly author: string;
}

function versionsPath(room: string, ...parts: string[]): string {
  // A room keeps its `:`; a version id cannot add path segments.
  return [`rooms/${encodeURIComponent(room).replace(/%3A/gi, ':')}/versions`]
    .concat(parts.map(encodeURIComponent))
    .join('/');
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A VERSION from the server, or null when it is not one. */
export function parseVersion(value: unknown): IVersion | null {
  if (!isObject(value) || typeof value.id !== 'string' || typeof value.time !== 'number') {
    return null;
  }
  const authors = Array.isArray(value.authors) ? value.authors : [];
  return {
    id: value.id,
    time: value.time,
    label: typeof value.label === 'string' ? value.label : null,
    kind: typeof value.kind === 'string' ? value.kind : 'auto',
    authors: authors.filter(isObject).flatMap(author =>
      typeof author.username === 'string'
        ? [
            {
              username: author.username,
              displayName:
                typeof author.display_name === 'string' && author.display_name
                  ? author.display_name
                  : author.username,
              updates: typeof author.updates === 'number' ? author.updates : 0,
              color: isSafeColor(author.color) ? author.color : null
            }
          ]
        : []
    ),
    size: typeof value.size === 'number' ? value.size : 0
  };
}

function parseRanges(value: unknown): IAuthoredRange[] {
  return (Array.isArray(value) ? value : []).filter(isObject).flatMap(range =>
    typeof range.start === 'number' &&
    typeof range.end === 'number' &&
    typeof range.text === 'string' &&
    range.end - range.start === codePoints(range.text).length
      ? [
          {
            start: range.start,
            end: range.end,
            text: range.text,
            author: typeof range.author === 'string' ? range.author : ''
          }
        ]
      : []
  );
}

/** The requests of the History panel for one room. */
export class VersionHistory {
  constructor(
    readonly server: IOmniForgeServer,
    readonly room: string
  ) {}

  /** A page of versions, newest first, older than `before` when given. */
  async list(before: string | null = null): Promise<IVersionPage> {
    const query = `?limit=${PAGE_SIZE}${before ? `&before=${encodeURIComponent(before)}` : ''}`;
    const body = await this.server.requestJSON<unknown>(versionsPath(this.room) + query);
    const page = isObject(body) ? body : {};
    const versions = (Array.isArray(page.versions) ? page.versions : []).flatMap(v => {
      const version = parseVersion(v);
      return version ? [version] : [];
    });
    return { versions, next: typeof page.next === 'string' ? page.next : null };
  }

  /** The room's text as of `version`. */
  async text(version: string): Promise<string> {
    const body = await this.server.requestJSON<unknown>(
      `${versionsPath(this.room, version)}?roots=${ROOT}:text`
    );
    const content = isObject(body) && isObject(body.content) ? body.content : {};
    return typeof content[ROOT] === 'string' ? content[ROOT] : '';
  }

  /**
   * What changed in the text from `version` (whose text is `old`) to the current document: the
   * pieces of an inline diff, in order (see {@link inlineDiff}).
   */
  async diff(version: string, old: string): Promise<IDiffPiece[]> {
    const body = await this.server.requestJSON<unknown>(
      versionsPath(this.room, version, 'diff', 'current')
    );
    const roots = isObject(body) && isObject(body.roots) ? body.roots : {};
    const root = isObject(roots[ROOT]) ? roots[ROOT] : null;
    if (!root || root.type !== 'text') {
      // Unchanged (empty on both sides), or no longer a text: the version as it was.
      return old ? [{ kind: 'same', text: old, author: '' }] : [];
    }
    return [...inlineDiff(parseRanges(root.deleted), parseRanges(root.inserted), old)];
  }

  /** Make the room's document equal to `version` again; the version recording it. */
  async restore(version: string): Promise<IVersion | null> {
    const body = await this.server.requestJSON<unknown>(
      versionsPath(this.room, version, 'restore'),
      { method: 'POST', body: '{}' }
    );
    return parseVersion(isObject(body) ? body.version : null);
  }

  /** Keep the current state as a version named `label`. */
  async name(label: string): Promise<IVersion | null> {
    const body = await this.server.requestJSON<unknown>(versionsPath(this.room), {
      method: 'POST',
      body: JSON.stringify({ label })
    });
    return parseVersion(body);
  }
}

/**
 * The inline diff from a version to the current text: the version's text `old`, with what was
 * deleted since marked, and what was inserted since put where it goes.
 *
 * `deleted` ranges are in the version's text, `inserted` ones in the current text; between two
 * changes both texts are equal, so the gaps line up. Ranges that do not (a malformed answer)
 * end the walk: the rest of the version's text is then shown unmarked.
 */
export function* inlineDiff(
  deleted: readonly IAuthoredRange[],
  inserted: readonly IAuthoredRange[],
  oldText: string
): Generator<IDiffPiece> {
  const old = codePoints(oldText);
  const slice = (from: number, to?: number): string => old.slice(from, to).join('');
  let i = 0; // position in the version's text
  let j = 0; // position in the current text
  let d = 0;
  let n = 0;
  for (;;) {
    const del = deleted[d];
    const ins = inserted[n];
    if (!del && !ins) {
      break;
    }
    const gap = Math.min(del ? del.start - i : Infinity, ins ? ins.start - j : Infinity);
    if (gap < 0) {
      break;
    }
    if (gap > 0) {
      yield { kind: 'same', text: slice(i, i + gap), author: '' };
      i += gap;
      j += gap;
    }
    if (del && del.start === i && slice(del.start, del.end) === del.text) {
      yield { kind: 'deleted', text: del.text, author: del.author };
      i = del.end;
      d++;
    } else if (ins && ins.start === j) {
      yield { kind: 'inserted', text: ins.text, author: ins.author };
      j = ins.end;
      n++;
    } else {
      break;
    }
  }
  if (i < old.length) {
    yield { kind: 'same', text: slice(i), author: '' };
  }
}

/** The code points of `text` (what the server counts as characters). */
function codePoints(text: string): string[] {
  return Array.from(text);
}
