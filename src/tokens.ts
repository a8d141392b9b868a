/**
 * The tokens the OmniForge plugins provide to each other (and to other extensions).
 */
import type { IWidgetTracker, MainAreaWidget } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import { Token } from '@lumino/coreutils';
import type { IDisposable } from '@lumino/disposable';
import type { ISignal } from '@lumino/signaling';
import type { Widget } from '@lumino/widgets';

import type { IMentionNotification } from './comments/types';

/**
 * The state of one connection to the server, as the UI shows it.
 *
 * - `connecting`: the first attempt is under way;
 * - `connected`: the connection is open (and, for a room, synced);
 * - `reconnecting`: it was lost and is being re-established;
 * - `offline`: the browser has no network, or the server has been unreachable for a while;
 *   edits are kept locally and merged on reconnect;
 * - `unavailable`: we do not connect at all (the server extension is missing, or permission is
 *   denied).
 */
export type ConnectionState =
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'offline'
  | 'unavailable';

/**
 * Whether the server side of OmniForge can be used, from `GET omniforge/api/rooms`.
 */
export type Availability =
  | { readonly status: 'checking' }
  | { readonly status: 'ok' }
  | { readonly status: 'missing'; readonly message: string }
  | { readonly status: 'forbidden'; readonly message: string }
  | { readonly status: 'error'; readonly message: string };

/**
 * The user settings (schema `schema/server.json`).
 */
export interface IOmniForgeSettings {
  /** The room the "Open room" actions propose. */
  readonly defaultRoom: string;
  /** How many builds and deployments the feed shows. */
  readonly feedSize: number;
  /** Whether the sidebar and the status bar show collaborators and open rooms. */
  readonly showPresence: boolean;
  /** Seconds without an event after which a build or deployment that has not finished is stale. */
  readonly staleAfter: number;
  /** The language of a room that never chose one (a name of JupyterLab's language registry). */
  readonly defaultLanguage: string;
  /** When the name of another user shows at their caret in a room editor. */
  readonly cursorLabels: CursorLabels;
}

/** `hover`: on hover and for a moment after the caret moves; `always`; `never`. */
export type CursorLabels = 'hover' | 'always' | 'never';

/**
 * The `user` field the server stamps into every awareness state (from the Jupyter identity).
 */
export interface IAwarenessUser {
  readonly username: string;
  readonly name: string;
  readonly display_name?: string;
  readonly initials?: string;
  readonly color?: string;
  readonly colorLight?: string;
  readonly avatar_url?: string | null;
}

/**
 * An open room, as `GET omniforge/api/rooms` describes it.
 */
export interface IRoomInfo {
  readonly name: string;
  readonly kind: string;
  readonly peers: number;
  readonly users: IAwarenessUser[];
  readonly size: number;
  readonly awareness: number;
}

/**
 * The envelope of every event of the stream.
 */
export interface IEventEnvelope {
  readonly id: string;
  readonly channel: string;
  readonly type: string;
  /** Unix time in seconds. */
  readonly time: number;
  /** Who emitted it: the username, and `name` when the identity has a display name. */
  readonly source: { readonly username: string; readonly name?: string };
  readonly data: { readonly [key: string]: unknown };
}

/**
 * The connection to the OmniForge server extension: where it is, whether it is there, and the
 * user's settings.
 */
export interface IOmniForgeServer {
  /** JupyterLab's server settings (base and WebSocket URLs, token, fetch and WebSocket). */
  readonly serverSettings: ServerConnection.ISettings;
  /** The serverUrl a y-websocket `WebsocketProvider` takes: `ws…/omniforge/rooms`. */
  readonly roomsUrl: string;
  /** The URL of the realtime gateway WebSocket, token included. */
  readonly realtimeUrl: string;
  /** The query parameters a `WebsocketProvider` needs (`token`). */
  readonly wsParams: { [key: string]: string };

  /** The result of the last availability check. */
  readonly availability: Availability;
  readonly availabilityChanged: ISignal<IOmniForgeServer, Availability>;
  /** Check again (the first check starts with the plugin). */
  checkAvailability(): Promise<Availability>;

  readonly settings: IOmniForgeSettings;
  readonly settingsChanged: ISignal<IOmniForgeServer, IOmniForgeSettings>;

  /**
   * Send a request to `{baseUrl}omniforge/api/{path}` and parse its JSON answer. Rejects with
   * an {@link OmniForgeRequestError} carrying the HTTP status.
   */
  requestJSON<T>(path: string, init?: RequestInit): Promise<T>;
}

export const IOmniForgeServer = new Token<IOmniForgeServer>(
  'jupyter_omniforge:IOmniForgeServer',
  'The OmniForge server extension: URLs, availability and settings.'
);

/**
 * What the requesting user may do in one room (`GET omniforge/api/access?room=…`). The actions
 * are `read`, `write`, `presence`, `emit`, `delete` and `admin`.
 */
export interface IRoomPermissions {
  readonly user: string;
  readonly room: string;
  /** Sorted. */
  readonly actions: readonly string[];
  /** Whether the user is the server's owner (who may do everything). */
  readonly owner: boolean;
}

/**
 * What this user may do in each room, asked of the server once and kept for a while.
 */
export interface IRoomAccess {
  /**
   * The last answer for `room`, or undefined before the first; asks the server (in the
   * background) when there is none or it is old. `changed` tells when an answer arrives.
   */
  get(room: string): IRoomPermissions | undefined;
  /** Whether `action` is allowed in `room`, as far as known (undefined: not known yet). */
  can(room: string, action: string): boolean | undefined;
  /** Ask the server now. Rejects with an `OmniForgeRequestError`. */
  fetch(room: string): Promise<IRoomPermissions>;
  /** A room whose answer changed. */
  readonly changed: ISignal<IRoomAccess, string>;
}

export const IRoomAccess = new Token<IRoomAccess>(
  'jupyter_omniforge:IRoomAccess',
  'What this user may do in each OmniForge room (read, write, presence, emit, delete, admin).'
);

/**
 * One person in the `presence` room, with every room or document they have open.
 */
export interface ICollaborator {
  readonly user: IAwarenessUser;
  /** What they are looking at: a room name or a document path (possibly several tabs). */
  readonly rooms: readonly string[];
  /** Whether this is the user of this JupyterLab. */
  readonly local: boolean;
}

/**
 * Who is where: the `presence` room's awareness, plus the list of open rooms.
 */
export interface IPresence extends IDisposable {
  readonly state: ConnectionState;
  readonly collaborators: readonly ICollaborator[];
  readonly rooms: readonly IRoomInfo[];
  /** The room or document this user is looking at (announced to the others). */
  readonly currentRoom: string | null;
  setCurrentRoom(room: string | null): void;
  /** The people whose current room or document is `room`. */
  collaboratorsIn(room: string): ICollaborator[];
  refreshRooms(): Promise<void>;
  readonly changed: ISignal<IPresence, void>;
}

export const IPresence = new Token<IPresence>(
  'jupyter_omniforge:IPresence',
  "Who is where, live from the OmniForge presence room's awareness."
);

export type RunState = 'created' | 'running' | 'completed' | 'failed';

/**
 * One entry of a build's or deployment's log.
 */
export interface IRunLogEntry {
  readonly id: string;
  readonly time: number;
  readonly type: string;
  readonly percent: number | null;
  readonly message: string;
}

/**
 * One build or deployment, folded from its events.
 */
export interface IRun {
  /** `build:42` */
  readonly channel: string;
  readonly kind: 'build' | 'deployment';
  readonly id: string;
  readonly state: RunState;
  readonly percent: number;
  readonly message: string;
  readonly error: string | null;
  /** Unix seconds */
  readonly startedAt: number;
  readonly finishedAt: number | null;
  /** Seconds, as reported on completion */
  readonly duration: number | null;
  readonly lastTime: number;
  /** The id of its newest event (opaque: compare ids for equality only). */
  readonly lastEventId: string;
  /** The username of who started it (the source of its `created`/`started` event, else of its first). */
  readonly startedBy: string;
  /** Their display name, or the username. */
  readonly startedByName: string;
  readonly log: readonly IRunLogEntry[];
}

/**
 * The live feed of builds and deployments.
 */
export interface IEventFeed extends IDisposable {
  readonly state: ConnectionState;
  /** Newest activity first, at most `feedSize`. */
  readonly runs: readonly IRun[];
  /** Whether the history has been loaded. */
  readonly loaded: boolean;
  /** The id of the newest event seen (the cursor resumed from after a reconnect). */
  readonly lastEventId: string | null;
  readonly changed: ISignal<IEventFeed, void>;
  /** Hide a run until its next event (this browser remembers it across reloads). */
  dismiss(channel: string): void;
  /** Hide every completed or failed run (until its next event). */
  clearFinished(): void;
}

export const IEventFeed = new Token<IEventFeed>(
  'jupyter_omniforge:IEventFeed',
  'The live build and deployment feed of OmniForge.'
);

/**
 * A widget that shows an OmniForge room: the presence plugin announces its room.
 */
export interface IRoomWidget {
  readonly omniforgeRoom: string;
}

/**
 * What a room editor exposes to other plugins (the status bar).
 */
export interface IRoomEditor extends Widget, IRoomWidget {
  readonly state: ConnectionState;
  readonly stateChanged: ISignal<IRoomEditor, ConnectionState>;
  /** Why this user cannot edit the room (a translated sentence), or null when they can. */
  readonly readOnlyReason: string | null;
}

export type IRoomEditorTracker = IWidgetTracker<MainAreaWidget<IRoomEditor>>;

export const IRoomEditorTracker = new Token<IRoomEditorTracker>(
  'jupyter_omniforge:IRoomEditorTracker',
  'The open OmniForge room editors.'
);

/**
 * Mentions of the current user in comments (`omniforge/api/notifications`), unread first.
 */
export interface IMentions {
  readonly unread: readonly IMentionNotification[];
  /** How many are unread (the server's count: may be more than `unread` holds). */
  readonly count: number;
  readonly changed: ISignal<IMentions, void>;
  refresh(): Promise<void>;
  markRead(ids: readonly string[] | 'all'): Promise<void>;
  /** Open the mention's thread and mark it read. */
  open(notification: IMentionNotification): Promise<void>;
}

export const IMentions = new Token<IMentions>(
  'jupyter_omniforge:IMentions',
  "Mentions of the current user in OmniForge rooms' comments."
);

/**
 * The command ids.
 */
export namespace CommandIDs {
  export const openRoom = 'omniforge:open-room';
  export const newIdea = 'omniforge:new-idea';
  /** Ask a name and open a new room (`{kind: 'idea' | 'project'}`). */
  export const newRoom = 'omniforge:new-room';
  /** Copy a link that opens the room in JupyterLab (`{room}`; else the row or editor's). */
  export const copyRoomLink = 'omniforge:copy-room-link';
  /** The router's: open the room a `?omniforge-room=` link names. */
  export const openRoomLink = 'omniforge:open-room-link';
  /** When the other users' names show at their carets (`{mode: 'hover' | 'always' | 'never'}`). */
  export const cursorLabels = 'omniforge:cursor-labels';
  export const showSidebar = 'omniforge:show-sidebar';
  export const shareRoom = 'omniforge:share-room';
  /** Open a room and scroll to a person's cursor there (`{room, username, name}`). */
  export const follow = 'omniforge:follow';
  /** Start a comment thread on the selection of the current room editor. */
  export const commentSelection = 'omniforge:comment-selection';
  /** Open a room and show one of its comment threads (`{room, thread}`). */
  export const openThread = 'omniforge:open-thread';
  /** Show or hide a room editor's Comments panel (`{room}`; the current editor's without). */
  export const toggleComments = 'omniforge:room-comments';
  /** Show or hide a room editor's History panel (`{room}`; the current editor's without). */
  export const history = 'omniforge:room-history';
}
