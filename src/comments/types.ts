/**
 * What the comments REST API returns (`omniforge/api/rooms/{room}/threads…`, `notifications`).
 * Times are Unix seconds. The server is the only writer: authors come from its identity.
 */

/** A person as the server names them (from the Jupyter identity, like awareness). */
export interface ICommentUser {
  readonly username: string;
  readonly name?: string;
  readonly color?: string;
}

/** Where a thread sits: the positions and text are the server's current ones (code points). */
export interface IThreadAnchor {
  readonly root: string;
  readonly start: number | null;
  readonly end: number | null;
  readonly text: string;
  /** Base64 of Yjs relative positions: where the thread is in any copy of the document. */
  readonly relative?: { readonly start: string; readonly end: string } | null;
}

export interface IComment {
  readonly id: string;
  readonly thread: string;
  readonly author: ICommentUser;
  readonly created: number;
  readonly edited: number | null;
  /** Markdown, as written. */
  readonly body: string;
  /** The server's rendering of `body` (sanitized there, and again here before it is shown). */
  readonly html: string;
  /** Emoji → the usernames who reacted with it. */
  readonly reactions: { readonly [emoji: string]: readonly string[] };
}

export interface IThread {
  readonly id: string;
  readonly room: string;
  readonly author: ICommentUser;
  readonly created: number;
  readonly resolved: boolean;
  readonly resolved_by: ICommentUser | null;
  readonly resolved_at: number | null;
  readonly orphaned: boolean;
  /** Null for a room-wide thread. */
  readonly anchor: IThreadAnchor | null;
  readonly comments: readonly IComment[];
}

/** A mention of the current user. */
export interface IMentionNotification {
  readonly id: string;
  readonly room: string;
  readonly thread: string;
  readonly comment: string;
  readonly by: ICommentUser;
  readonly created: number;
  readonly read: boolean;
  readonly excerpt: string;
}

/** The event types of comments on a room's channel. */
export const COMMENT_EVENTS = new Set([
  'comment.created',
  'comment.edited',
  'comment.deleted',
  'comment.reacted',
  'thread.resolved',
  'thread.reopened'
]);

/** A few reactions offered in the picker (any emoji the server accepts may show). */
export const REACTIONS = ['👍', '👎', '😄', '🎉', '😕', '❤️', '🚀', '👀'];

/** The name of a user to show. */
export function nameOf(user: ICommentUser | null | undefined): string {
  return user ? user.name || user.username : '';
}
