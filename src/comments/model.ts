/**
 * The comments of one room: its threads from `GET …/threads` (every page), kept live from the
 * room's event channel, and the calls that change them. The server is the only writer: every
 * change goes through REST and comes back as an event, which this model follows by fetching the
 * thread it names (so an event seen twice, or out of order with a reply, changes nothing).
 */
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import type { IEventEnvelope, IOmniForgeServer } from '../tokens';
import { EventSubscription } from './stream';
import { COMMENT_EVENTS, type IComment, type IThread } from './types';

/** Threads asked for per page (the server's maximum). */
const PAGE = 200;

export class CommentsModel implements IDisposable {
  constructor(options: CommentsModel.IOptions) {
    this.room = options.room;
    this._server = options.server;
    this._base = `rooms/${encodeURIComponent(options.room)}`;
    if (options.live !== false) {
      this._stream = new EventSubscription({
        server: options.server,
        channels: [options.room],
        onEvent: event => this._onEvent(event),
        onSubscribed: fresh => {
          if (fresh) {
            void this.reload();
          }
        }
      });
    }
  }

  readonly room: string;

  /** Every thread, by id (in no particular order: the panel orders them by the document). */
  get threads(): ReadonlyMap<string, IThread> {
    return this._threads;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  /** The last failure to load or change, for the panel to show, or null. */
  get error(): string | null {
    return this._error;
  }

  /** Emits the ids of the threads that changed (all: `null`). */
  get changed(): Signal<this, string[] | null> {
    return this._changed;
  }

  /** Every comment event of the room, once it is applied (the mentions look at them). */
  get eventApplied(): Signal<this, IEventEnvelope> {
    return this._eventApplied;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Load every thread again (every page); events meanwhile are applied after it. */
  async reload(): Promise<void> {
    const load = ++this._loads;
    this._pending = [];
    const threads = new Map<string, IThread>();
    let after: string | null = null;
    try {
      do {
        const query: string = after ? `&after=${encodeURIComponent(after)}` : '';
        const page: { threads: IThread[]; next: string | null } = await this._server.requestJSON(
          `${this._base}/threads?limit=${PAGE}${query}`
        );
        if (load !== this._loads || this._isDisposed) {
          return;
        }
        for (const thread of page.threads ?? []) {
          threads.set(thread.id, thread);
        }
        after = page.next ?? null;
        if (!this._loaded && after) {
          // The first load shows each page as it comes (the first one is the top of the
          // document); a reload swaps the whole set at once, not to drop threads meanwhile.
          this._threads = new Map(threads);
          mark(`page:${this.room}`);
          this._changed.emit(null);
        }
      } while (after);
    } catch (error) {
      this._fail(error);
      return;
    } finally {
      if (load === this._loads) {
        this._loads = 0;
      }
    }
    this._threads = threads;
    this._loaded = true;
    this._error = null;
    mark(`page:${this.room}`);
    this._changed.emit(null);
    // What happened while the pages came: fetched now, after them.
    const pending = this._pending;
    this._pending = [];
    pending.forEach(event => this._onEvent(event));
  }

  /** Start a thread on `anchor` (or room-wide without it). */
  async createThread(body: string, anchor: CommentsModel.INewAnchor | null): Promise<IThread> {
    const payload: { [key: string]: unknown } = { body };
    if (anchor) {
      payload.anchor = anchor;
    }
    const thread = await this._send<IThread>('POST', `${this._base}/threads`, payload);
    this._put(thread);
    return thread;
  }

  async reply(threadId: string, body: string): Promise<IComment> {
    const comment = await this._send<IComment>(
      'POST',
      `${this._base}/threads/${encodeURIComponent(threadId)}/comments`,
      { body }
    );
    if (!this._merge(comment)) {
      void this.refreshThread(threadId);
    }
    return comment;
  }

  async setResolved(threadId: string, resolved: boolean): Promise<void> {
    const thread = await this._send<IThread>(
      'PATCH',
      `${this._base}/threads/${encodeURIComponent(threadId)}`,
      { resolved }
    );
    this._put(thread);
  }

  async editComment(comment: IComment, body: string): Promise<void> {
    await this._send('PATCH', `${this._base}/comments/${encodeURIComponent(comment.id)}`, {
      body
    });
    await this.refreshThread(comment.thread);
  }

  async deleteComment(comment: IComment): Promise<void> {
    await this._send('DELETE', `${this._base}/comments/${encodeURIComponent(comment.id)}`);
    await this.refreshThread(comment.thread);
  }

  async react(comment: IComment, emoji: string, on: boolean): Promise<void> {
    await this._send(
      'POST',
      `${this._base}/comments/${encodeURIComponent(comment.id)}/reactions`,
      { emoji, on }
    );
    await this.refreshThread(comment.thread);
  }

  /** Fetch one thread again (it is dropped when the server no longer has it). */
  async refreshThread(threadId: string): Promise<void> {
    // Only the newest fetch of a thread counts: answers may come back out of order.
    const seq = (this._fetches.get(threadId) ?? 0) + 1;
    this._fetches.set(threadId, seq);
    let thread: IThread | null = null;
    try {
      thread = await this._server.requestJSON<IThread>(
        `${this._base}/threads/${encodeURIComponent(threadId)}`
      );
    } catch (error) {
      if ((error as { status?: number }).status !== 404) {
        this._fail(error);
        return;
      }
    }
    if (this._isDisposed || this._fetches.get(threadId) !== seq) {
      return;
    }
    this._fetches.delete(threadId);
    if (thread) {
      this._put(thread);
    } else if (this._threads.delete(threadId)) {
      this._changed.emit([threadId]);
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stream?.dispose();
    Signal.clearData(this);
  }

  private _onEvent(event: IEventEnvelope): void {
    if (!COMMENT_EVENTS.has(event.type)) {
      return;
    }
    if (this._loads) {
      this._pending.push(event);
      return;
    }
    const id = threadIdOf(event.data);
    if (!id) {
      return;
    }
    // A comment written, edited or reacted to comes with the event: no round trip for it.
    const item = event.data?.item as IComment | undefined;
    if (
      item &&
      typeof item.id === 'string' &&
      item.thread === id &&
      event.type !== 'comment.deleted' &&
      !event.data?.new_thread &&
      this._merge(item)
    ) {
      this._eventApplied.emit(event);
      return;
    }
    void this.refreshThread(id).then(() => {
      if (!this._isDisposed) {
        this._eventApplied.emit(event);
      }
    });
  }

  /** Put `comment` into its thread, when the thread is here. Returns whether it was. */
  private _merge(comment: IComment): boolean {
    const thread = this._threads.get(comment.thread);
    if (!thread) {
      return false;
    }
    const comments = thread.comments
      .filter(c => c.id !== comment.id)
      .concat(comment)
      .sort((a, b) => a.created - b.created);
    this._put({ ...thread, comments });
    if (this._fetches.has(thread.id)) {
      // A fetch under way may answer with the thread as it was before: fetch after it.
      void this.refreshThread(thread.id);
    }
    return true;
  }

  private _put(thread: IThread): void {
    if (!thread || typeof thread.id !== 'string') {
      return;
    }
    this._threads.set(thread.id, thread);
    this._changed.emit([thread.id]);
  }

  private async _send<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this._server.requestJSON<T>(path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  }

  private _fail(error: unknown): void {
    this._error = error instanceof Error ? error.message : String(error);
    console.warn(`OmniForge comments of ${this.room}:`, error);
    this._changed.emit(null);
  }

  private _server: IOmniForgeServer;
  private _base: string;
  private _stream: EventSubscription | null = null;
  private _threads = new Map<string, IThread>();
  private _loaded = false;
  private _loads = 0;
  private _pending: IEventEnvelope[] = [];
  private _fetches = new Map<string, number>();
  private _error: string | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, string[] | null>(this);
  private _eventApplied = new Signal<this, IEventEnvelope>(this);
}

export namespace CommentsModel {
  export interface IOptions {
    room: string;
    server: IOmniForgeServer;
    /** Follow the room's events (default true; off for tests of the REST calls alone). */
    live?: boolean;
  }

  /** A new thread's anchor: relative positions from a copy of the document, or indices. */
  export type INewAnchor =
    | { root: string; relative: { start: string; end: string } }
    | { root: string; start: number; end: number };
}

/**
 * A performance mark `omniforge-comments:{name}` (the benchmarks read them), replacing the
 * last one of that name so that they do not pile up.
 */
export function mark(name: string): void {
  const full = `omniforge-comments:${name}`;
  performance.clearMarks(full);
  performance.mark(full);
}

/** The thread an event is about: `data.thread` is its id (or the thread itself). */
function threadIdOf(data: { [key: string]: unknown } | undefined): string | null {
  const thread = data?.thread;
  if (typeof thread === 'string') {
    return thread;
  }
  if (thread && typeof thread === 'object' && typeof (thread as IThread).id === 'string') {
    return (thread as IThread).id;
  }
  return null;
}
