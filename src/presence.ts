/**
 * Who is where: every JupyterLab joins the `presence` room and announces, in its awareness state,
 * the room or document it is looking at. The server stamps each state's `user`.
 */
import type { User } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import { isSafeColor, themeChanged } from './avatar';
import { ProviderStatus } from './connection';
import type {
  ConnectionState,
  IAwarenessUser,
  ICollaborator,
  IOmniForgeServer,
  IPresence,
  IRoomInfo
} from './tokens';

/** How often the list of open rooms is fetched while nothing else asks for it. */
const ROOMS_POLL_MS = 10000;
/** Awareness changes come in bursts (a tab switch, a join): fetch the rooms once after them. */
const ROOMS_DEBOUNCE_MS = 300;

export const PRESENCE_ROOM = 'presence';

export class PresenceModel implements IPresence {
  constructor(options: PresenceModel.IOptions) {
    this._server = options.server;
    this._localUser = options.identity ? userFromIdentity(options.identity) : null;
    // The avatars' text colour is chosen for the theme's collaborator colours: draw again.
    themeChanged.connect(this._onStatus, this);
  }

  get state(): ConnectionState {
    return this._status?.state ?? this._idleState;
  }

  get collaborators(): readonly ICollaborator[] {
    return this._collaborators;
  }

  get rooms(): readonly IRoomInfo[] {
    return this._rooms;
  }

  get currentRoom(): string | null {
    return this._currentRoom;
  }

  get changed(): Signal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Join the presence room. Call once the server is known to be available; until then the state
   * is `connecting` (or `unavailable`, see {@link markUnavailable}).
   */
  start(): void {
    if (this._provider || this._isDisposed) {
      return;
    }
    const doc = new Y.Doc();
    const provider = new WebsocketProvider(this._server.roomsUrl, PRESENCE_ROOM, doc, {
      params: this._server.wsParams,
      WebSocketPolyfill: this._server.serverSettings.WebSocket,
      // Presence is the server's word (it stamps every user): no tab-to-tab shortcut.
      disableBc: true
    });
    this._doc = doc;
    this._provider = provider;
    this._status = new ProviderStatus(provider);
    this._status.changed.connect(this._onStatus, this);
    provider.awareness.on('change', this._onAwareness);
    this._announce();
    void this.refreshRooms();
    this._poll = window.setInterval(() => void this.refreshRooms(), ROOMS_POLL_MS);
  }

  /** The server side cannot be used: show that rather than a connection that never comes. */
  markUnavailable(): void {
    this._idleState = 'unavailable';
    this._changed.emit();
  }

  setIdentity(identity: User.IIdentity): void {
    // Our colour is the one JupyterLab shows us in (the server keeps it for the others).
    const own = userFromIdentity(identity);
    const stamped = this._stampedSelf();
    this._localUser = own.color ? { ...own, ...stamped, color: own.color, colorLight: undefined } : { ...own, ...stamped };
    this._announce();
  }

  setCurrentRoom(room: string | null): void {
    if (room === this._currentRoom) {
      return;
    }
    this._currentRoom = room;
    this._announce();
  }

  collaboratorsIn(room: string): ICollaborator[] {
    return this._collaborators.filter(c => c.rooms.includes(room));
  }

  async refreshRooms(): Promise<void> {
    if (this._isDisposed) {
      return;
    }
    try {
      const reply = await this._server.requestJSON<{ rooms: IRoomInfo[] }>('rooms');
      this._allRooms = reply.rooms;
      this._recolorRooms();
      this._changed.emit();
    } catch (error) {
      // The presence connection shows the server being away; keep the last list.
      console.debug('OmniForge: could not list the open rooms', error);
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    themeChanged.disconnect(this._onStatus, this);
    window.clearInterval(this._poll);
    window.clearTimeout(this._debounce);
    this._provider?.awareness.off('change', this._onAwareness);
    this._status?.dispose();
    this._provider?.destroy();
    this._doc?.destroy();
    Signal.clearData(this);
  }

  private _stampedSelf(): Partial<IAwarenessUser> | null {
    const username = this._localUser?.username;
    for (const room of this._allRooms) {
      const user = room.users.find(u => u.username === username);
      if (user) {
        return user;
      }
    }
    return null;
  }

  private _announce(): void {
    const provider = this._provider;
    if (!provider) {
      this._recompute();
      this._changed.emit();
      return;
    }
    // `user` is overwritten by the server for everyone else; it is what we show for ourselves.
    provider.awareness.setLocalState({ user: this._localUser, room: this._currentRoom });
  }

  private _onStatus(): void {
    this._changed.emit();
  }

  private _onAwareness = (): void => {
    this._recompute();
    this._changed.emit();
    window.clearTimeout(this._debounce);
    this._debounce = window.setTimeout(() => void this.refreshRooms(), ROOMS_DEBOUNCE_MS);
  };

  /**
   * The open rooms, their users in the colours presence shows them in: the server lists them
   * in its fallback colour, while each JupyterLab claims the colour it shows its user in.
   */
  private _recolorRooms(): void {
    const colors = new Map(this._collaborators.map(c => [c.user.username, c.user.color]));
    this._rooms = this._allRooms
      .filter(room => room.name !== PRESENCE_ROOM)
      .map(room => ({
        ...room,
        users: room.users.map(user => {
          const color = colors.get(user.username);
          return color ? { ...user, color } : user;
        })
      }));
  }

  private _recompute(): void {
    const byUser = new Map<string, { user: IAwarenessUser; rooms: string[]; local: boolean }>();
    const add = (user: IAwarenessUser, room: unknown, local: boolean): void => {
      let entry = byUser.get(user.username);
      if (!entry) {
        entry = { user, rooms: [], local };
        byUser.set(user.username, entry);
      }
      entry.local = entry.local || local;
      if (local) {
        entry.user = user;
      }
      if (typeof room === 'string' && room && !entry.rooms.includes(room)) {
        entry.rooms.push(room);
      }
    };
    const provider = this._provider;
    if (provider) {
      const own = provider.awareness.clientID;
      provider.awareness.getStates().forEach((state, clientId) => {
        if (clientId === own) {
          return;
        }
        const user = asUser(state['user']);
        if (user) {
          add(user, state['room'], false);
        }
      });
    }
    if (this._localUser) {
      add(this._localUser, this._currentRoom, true);
    }
    this._collaborators = Array.from(byUser.values()).sort((a, b) =>
      a.local !== b.local ? (a.local ? -1 : 1) : a.user.name.localeCompare(b.user.name)
    );
    this._recolorRooms();
  }

  private _server: IOmniForgeServer;
  private _doc: Y.Doc | null = null;
  private _provider: WebsocketProvider | null = null;
  private _status: ProviderStatus | null = null;
  private _idleState: ConnectionState = 'connecting';
  private _localUser: IAwarenessUser | null;
  private _currentRoom: string | null = null;
  private _collaborators: ICollaborator[] = [];
  private _rooms: IRoomInfo[] = [];
  private _allRooms: IRoomInfo[] = [];
  private _poll = 0;
  private _debounce = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace PresenceModel {
  export interface IOptions {
    server: IOmniForgeServer;
    identity: User.IIdentity | null;
  }
}

/** The awareness user of this JupyterLab's identity (what the server will stamp, roughly). */
export function userFromIdentity(identity: User.IIdentity): IAwarenessUser {
  // JupyterLab's colour for this user (often `var(--jp-collaborator-colorN)`, picked in the
  // browser): claimed in the awareness state, the server keeps it for the others to see.
  const color = isSafeColor(identity.color) ? identity.color : undefined;
  return {
    username: identity.username,
    name: identity.display_name || identity.name || identity.username,
    display_name: identity.display_name,
    initials: identity.initials,
    color,
    avatar_url: identity.avatar_url ?? null
  };
}

function asUser(value: unknown): IAwarenessUser | null {
  if (!value || typeof value !== 'object') {
    return null;
  }
  const user = value as Partial<IAwarenessUser>;
  if (typeof user.username !== 'string') {
    return null;
  }
  return { ...user, name: String(user.name ?? user.username) } as IAwarenessUser;
}
