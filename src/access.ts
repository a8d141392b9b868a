/**
 * What this user may do in each room, from `GET omniforge/api/access?room=…`, kept per room so
 * that the sidebar, the room editors and the share command ask the server once.
 */
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import type { IOmniForgeServer, IRoomAccess, IRoomPermissions } from './tokens';

/** An answer older than this is asked again the next time it is wanted. */
const FRESH_MS = 30_000;
/** Rooms remembered (the oldest answer is forgotten first). */
const ROOMS_MAX = 500;

export class RoomAccessModel implements IRoomAccess, IDisposable {
  constructor(server: IOmniForgeServer) {
    this._server = server;
  }

  get changed(): Signal<this, string> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get(room: string): IRoomPermissions | undefined {
    const entry = this._entries.get(room);
    const asked = entry?.at ?? this._failed.get(room) ?? -Infinity;
    if (Date.now() - asked > FRESH_MS) {
      void this.fetch(room).catch(() => undefined);
    }
    return entry?.permissions;
  }

  can(room: string, action: string): boolean | undefined {
    return this.get(room)?.actions.includes(action);
  }

  fetch(room: string): Promise<IRoomPermissions> {
    const pending = this._pending.get(room);
    if (pending) {
      return pending;
    }
    const request = this._server
      .requestJSON<unknown>(`access?room=${encodeURIComponent(room)}`)
      .then(
        body => {
          const permissions = parsePermissions(body, room);
          this._failed.delete(room);
          this._store(room, permissions);
          return permissions;
        },
        error => {
          // Not asked again by `get` for a while (the sidebar renders often).
          this._failed.delete(room);
          this._failed.set(room, Date.now());
          if (this._failed.size > ROOMS_MAX) {
            this._failed.delete(this._failed.keys().next().value as string);
          }
          throw error;
        }
      )
      .finally(() => this._pending.delete(room));
    this._pending.set(room, request);
    return request;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  private _store(room: string, permissions: IRoomPermissions): void {
    const before = this._entries.get(room)?.permissions;
    this._entries.delete(room);
    this._entries.set(room, { permissions, at: Date.now() });
    if (this._entries.size > ROOMS_MAX) {
      const oldest = this._entries.keys().next();
      if (!oldest.done) {
        this._entries.delete(oldest.value);
      }
    }
    if (!before || !samePermissions(before, permissions)) {
      this._changed.emit(room);
    }
  }

  private _server: IOmniForgeServer;
  private _entries = new Map<string, { permissions: IRoomPermissions; at: number }>();
  private _pending = new Map<string, Promise<IRoomPermissions>>();
  private _failed = new Map<string, number>();
  private _isDisposed = false;
  private _changed = new Signal<this, string>(this);
}

/** The answer of `GET omniforge/api/access`, checked (it crosses the network). */
export function parsePermissions(body: unknown, room: string): IRoomPermissions {
  const value = (body ?? {}) as { [key: string]: unknown };
  const actions = Array.isArray(value.actions)
    ? value.actions.filter((a): a is string => typeof a === 'string')
    : [];
  return {
    user: typeof value.user === 'string' ? value.user : '',
    room: typeof value.room === 'string' ? value.room : room,
    actions: [...new Set(actions)].sort(),
    owner: value.owner === true
  };
}

function samePermissions(a: IRoomPermissions, b: IRoomPermissions): boolean {
  return (
    a.user === b.user &&
    a.owner === b.owner &&
    a.actions.length === b.actions.length &&
    a.actions.every((action, i) => action === b.actions[i])
  );
}
