/**
 * Mentions of the current user (`GET omniforge/api/notifications?unread=1`): fetched on start,
 * when an open room's comment names this user, when the page gets the focus again, and every
 * half minute for the rooms not open here. New ones go to JupyterLab's notification centre.
 */
import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import type { IEventEnvelope, IMentions, IOmniForgeServer } from '../tokens';
import { type IMentionNotification, nameOf } from './types';

const POLL_MS = 30000;
/** Events come in bursts (a comment, then its reactions): fetch once after them. */
const DEBOUNCE_MS = 30;
/** New mentions shown as toasts at once; the rest only in the notification centre. */
const TOASTS_MAX = 3;
const LIST_MAX = 50;

export class MentionsModel implements IMentions {
  constructor(options: MentionsModel.IOptions) {
    this._server = options.server;
    this._trans = options.trans;
    this._open = options.open;
    this._me = options.me;
  }

  get unread(): readonly IMentionNotification[] {
    return this._unread;
  }

  get count(): number {
    return this._count;
  }

  get changed(): Signal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  start(): void {
    if (this._started || this._isDisposed) {
      return;
    }
    this._started = true;
    void this.refresh();
    this._poll = window.setInterval(() => void this.refresh(), POLL_MS);
    window.addEventListener('focus', this._onFocus);
  }

  /** A comment event of a room open here: fetch when it may mention this user. */
  noticeEvent(event: IEventEnvelope): void {
    if (event.type !== 'comment.created' && event.type !== 'comment.edited') {
      return;
    }
    // The comment comes with the event (unless it was too large): fetch only when it may
    // name this user.
    const body = (event.data?.item as { body?: unknown } | undefined)?.body;
    if (typeof body === 'string' && !mentionsOf(body, this._me())) {
      return;
    }
    window.clearTimeout(this._debounce);
    this._debounce = window.setTimeout(() => void this.refresh(), DEBOUNCE_MS);
  }

  async refresh(): Promise<void> {
    if (this._isDisposed) {
      return;
    }
    let reply: { notifications: IMentionNotification[]; unread: number };
    try {
      reply = await this._server.requestJSON(`notifications?unread=1&limit=${LIST_MAX}`);
    } catch (error) {
      console.debug('OmniForge: could not fetch the mentions', error);
      return;
    }
    const list = Array.isArray(reply?.notifications) ? reply.notifications : [];
    const fresh = list.filter(n => !this._seen.has(n.id));
    fresh.forEach(n => this._seen.add(n.id));
    // Those that came before this page was opened go to the centre quietly; new ones pop up.
    fresh.slice(0, this._loaded ? TOASTS_MAX : LIST_MAX).forEach(n => this._notify(n, this._loaded));
    this._loaded = true;
    this._unread = list.filter(n => !n.read);
    this._count = typeof reply.unread === 'number' ? reply.unread : this._unread.length;
    this._changed.emit();
  }

  async markRead(ids: readonly string[] | 'all'): Promise<void> {
    const body = ids === 'all' ? { all: true } : { ids };
    const reply = await this._server.requestJSON<{ unread: number }>('notifications/read', {
      method: 'POST',
      body: JSON.stringify(body)
    });
    this._unread = ids === 'all' ? [] : this._unread.filter(n => !ids.includes(n.id));
    this._count = typeof reply?.unread === 'number' ? reply.unread : this._unread.length;
    this._changed.emit();
  }

  /** Open the mention's thread and mark it read. */
  async open(notification: IMentionNotification): Promise<void> {
    await this._open(notification.room, notification.thread);
    await this.markRead([notification.id]);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearInterval(this._poll);
    window.clearTimeout(this._debounce);
    window.removeEventListener('focus', this._onFocus);
    Signal.clearData(this);
  }

  private _notify(n: IMentionNotification, toast: boolean): void {
    const trans = this._trans;
    const message = trans.__('%1 mentioned you in %2: %3', nameOf(n.by), n.room, n.excerpt);
    Notification.info(message, {
      autoClose: toast ? 8000 : 0,
      actions: [
        {
          label: trans.__('Open'),
          caption: trans.__('Open the thread in %1', n.room),
          callback: () => void this.open(n)
        }
      ]
    });
  }

  private _onFocus = (): void => {
    void this.refresh();
  };

  private _server: IOmniForgeServer;
  private _trans: TranslationBundle;
  private _open: (room: string, thread: string) => Promise<unknown>;
  private _me: () => string;
  private _unread: IMentionNotification[] = [];
  private _count = 0;
  private _seen = new Set<string>();
  private _loaded = false;
  private _started = false;
  private _poll = 0;
  private _debounce = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

/** Whether `body` has `@username` in it (the server decides; this only saves a fetch). */
export function mentionsOf(body: string, username: string): boolean {
  if (!username) {
    return false;
  }
  const name = username.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w@.])@${name}(?![\\w-]|\\.\\w)`).test(body);
}

export namespace MentionsModel {
  export interface IOptions {
    server: IOmniForgeServer;
    trans: TranslationBundle;
    /** Open `room` and show `thread` there. */
    open(room: string, thread: string): Promise<unknown>;
    /** The current user's name. */
    me(): string;
  }
}
