/**
 * The build and deployment feed: the recent history from `GET omniforge/api/events`, then the
 * live stream from the realtime gateway. After a reconnect it resumes from the last event id it
 * saw, and it drops an event whose id it has already seen (delivery is at least once).
 *
 * Event ids are opaque strings: one server counts (`"17"`), servers sharing Redis name stream
 * entries (`"1767225600000-0@3"`). The feed never compares them; it orders events by arrival,
 * the history's (oldest first, as the server sends it) before anything live.
 */
import { Signal } from '@lumino/signaling';

import { connectionState } from './connection';
import type {
  ConnectionState,
  IEventEnvelope,
  IEventFeed,
  IOmniForgeServer,
  IRun,
  IRunLogEntry,
  RunState
} from './tokens';

export const FEED_CHANNELS = ['build:*', 'deployment:*'];
/** Events asked for when the feed opens (the server caps a page at `event_page_max`). */
const HISTORY_LIMIT = 500;
/** Events kept per run. */
const LOG_MAX = 200;
/** Entries of a run's log: one per event, or one per line of an event's `log` (its output). */
const LOG_ENTRIES_MAX = 500;
/** Runs kept in memory, shown or not. */
const RUNS_MAX = 200;
/** Event ids remembered to drop repeats. */
const SEEN_MAX = 50000;
const MAX_BACKOFF_MS = 2500;
/** Where the dismissed runs are kept (local storage). */
const DISMISSED_KEY = 'jupyter_omniforge:feed-dismissed';

export class EventFeedModel implements IEventFeed {
  constructor(options: EventFeedModel.IOptions) {
    this._server = options.server;
    this._channels = options.channels ?? FEED_CHANNELS;
    this._size = options.size ?? 20;
  }

  get state(): ConnectionState {
    return this._state;
  }

  get runs(): readonly IRun[] {
    return this._view;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  get lastEventId(): string | null {
    return this._cursor;
  }

  get changed(): Signal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Connect to the gateway; the history is loaded once the subscription stands. */
  start(): void {
    if (this._started || this._isDisposed) {
      return;
    }
    this._started = true;
    window.addEventListener('online', this._onOnline);
    this._connect();
  }

  /** The server side cannot be used: show that rather than a connection that never comes. */
  markUnavailable(): void {
    this._setState('unavailable');
  }

  set size(size: number) {
    this._size = Math.max(1, size);
    this._refreshView();
  }

  /**
   * Apply one event. Returns false (and changes nothing) for an event already seen or outside
   * the feed's channels.
   */
  apply(event: IEventEnvelope): boolean {
    const added = this._add(event);
    if (added) {
      this._refreshView();
    }
    return added;
  }

  dismiss(channel: string): void {
    const record = this._records.get(channel);
    if (record) {
      this._dismissed.hide(channel, record.lastId);
      this._refreshView();
    }
  }

  clearFinished(): void {
    for (const record of this._records.values()) {
      const state = record.run.state;
      if (state === 'completed' || state === 'failed') {
        this._dismissed.hide(record.channel, record.lastId);
      }
    }
    this._refreshView();
  }

  private _add(event: IEventEnvelope, from: 'live' | 'history' = 'live', order = 0): boolean {
    const id = event?.id;
    if (typeof id !== 'string' || id === '' || this._seen.has(id)) {
      return false;
    }
    const channel = typeof event.channel === 'string' ? event.channel : '';
    const kind = channel.slice(0, channel.indexOf(':'));
    if ((kind !== 'build' && kind !== 'deployment') || typeof event.type !== 'string') {
      return false;
    }
    this._seen.add(id);
    if (this._seen.size > SEEN_MAX) {
      // Sets iterate in insertion order: forget the oldest.
      const first = this._seen.values().next();
      if (!first.done) {
        this._seen.delete(first.value);
      }
    }
    if (from === 'live') {
      // The newest event seen is the last one to arrive live; the history only sets the
      // cursor until then (it may answer after live events that are newer than its last).
      this._cursor = id;
      this._cursorIsLive = true;
      order = ++this._arrivals;
    } else if (!this._cursorIsLive) {
      this._cursor = id;
    }
    let record = this._records.get(channel);
    if (!record) {
      record = new RunRecord(channel, kind);
      this._records.set(channel, record);
    }
    record.add(id, event, from, order);
    return true;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.removeEventListener('online', this._onOnline);
    window.clearTimeout(this._retry);
    const ws = this._ws;
    this._ws = null;
    ws?.close();
    Signal.clearData(this);
  }

  private _connect(): void {
    if (this._isDisposed || this._ws) {
      return;
    }
    const ws = new this._server.serverSettings.WebSocket(this._server.realtimeUrl);
    this._ws = ws;
    ws.onopen = () => {
      const frame: { [key: string]: unknown } = { type: 'subscribe', channels: this._channels };
      if (this._cursor !== null) {
        frame.lastEventId = this._cursor;
      }
      ws.send(JSON.stringify(frame));
    };
    ws.onmessage = (message: MessageEvent) => {
      if (this._ws === ws) {
        this._onFrame(String(message.data));
      }
    };
    ws.onclose = () => {
      if (this._ws !== ws) {
        return;
      }
      this._ws = null;
      this._failedAttempts += 1;
      this._updateState(false);
      // Scaled by a random factor in [0.5, 1] (as jupyter_omniforge/backoff.py does), so that
      // the tabs a restarted server dropped do not all come back in the same instant.
      const delay =
        Math.min(100 * 2 ** this._failedAttempts, MAX_BACKOFF_MS) *
        (1 - 0.5 * Math.random());
      this._retry = window.setTimeout(() => this._connect(), delay);
    };
    this._updateState(false);
  }

  private _onFrame(text: string): void {
    let frame: { type?: string; [key: string]: unknown };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'subscribed':
        this._failedAttempts = 0;
        this._everConnected = true;
        if (this._cursor === null && typeof frame.lastEventId === 'string' && frame.lastEventId) {
          // Nothing seen yet: what the server counts from is where we resume from.
          this._cursor = frame.lastEventId;
        }
        this._updateState(true);
        if (!this._historyRequested) {
          this._historyRequested = true;
          void this._loadHistory();
        }
        break;
      case 'event':
        this.apply(frame.event as IEventEnvelope);
        break;
      case 'reset':
        // Our cursor was older than what the server keeps: what it still has follows.
        console.info('OmniForge feed: the server reset the stream:', frame.reason);
        break;
      case 'error':
        console.warn('OmniForge feed:', frame.message);
        break;
    }
  }

  private async _loadHistory(): Promise<void> {
    const channel = encodeURIComponent(this._channels.join(','));
    try {
      const reply = await this._server.requestJSON<{ events: IEventEnvelope[] }>(
        `events?channel=${channel}&limit=${HISTORY_LIMIT}`
      );
      const events = Array.isArray(reply?.events) ? reply.events : [];
      // Older than anything live: ranked below it, in the server's order (oldest first).
      const base = this._historyRank - events.length;
      events.forEach((event, index) => this._add(event, 'history', base + index));
      this._historyRank = base;
      this._refreshView();
    } catch (error) {
      console.warn('OmniForge feed: could not load the history', error);
      this._historyRequested = false; // try again on the next subscription
    }
    this._loaded = true;
    this._changed.emit();
  }

  private _onOnline = (): void => {
    // Back on the network: do not wait for the backoff.
    if (!this._ws && !this._isDisposed && this._started) {
      window.clearTimeout(this._retry);
      this._connect();
    }
  };

  private _updateState(connected: boolean): void {
    if (this._state === 'unavailable') {
      return;
    }
    this._setState(
      connectionState({
        connected,
        everConnected: this._everConnected,
        failedAttempts: this._failedAttempts,
        online: navigator.onLine
      })
    );
  }

  private _setState(state: ConnectionState): void {
    if (state !== this._state) {
      this._state = state;
      this._changed.emit();
    }
  }

  private _refreshView(): void {
    const records = Array.from(this._records.values()).sort((a, b) => b.rank - a.rank);
    for (const stale of records.slice(RUNS_MAX)) {
      this._records.delete(stale.channel);
    }
    this._view = records
      .filter(record => !this._dismissed.hides(record.channel, record.lastId))
      .slice(0, this._size)
      .map(record => record.run);
    this._changed.emit();
  }

  private _server: IOmniForgeServer;
  private _channels: string[];
  private _size: number;
  private _ws: WebSocket | null = null;
  private _retry = 0;
  private _started = false;
  private _historyRequested = false;
  private _loaded = false;
  private _everConnected = false;
  private _failedAttempts = 0;
  private _state: ConnectionState = 'connecting';
  private _cursor: string | null = null;
  private _cursorIsLive = false;
  /** Live events counted up from 1; history ranks below 0, older pages lower. */
  private _arrivals = 0;
  private _historyRank = 0;
  private _seen = new Set<string>();
  private _records = new Map<string, RunRecord>();
  private _dismissed = new DismissedRuns();
  private _view: IRun[] = [];
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace EventFeedModel {
  export interface IOptions {
    server: IOmniForgeServer;
    channels?: string[];
    size?: number;
  }
}

/**
 * The runs the user dismissed, each with the id of its newest event then: a run stays hidden
 * until it has a newer event, across reloads (kept in the browser's local storage).
 */
class DismissedRuns {
  hide(channel: string, lastId: string): void {
    this._runs.delete(channel); // re-inserted last: the oldest dismissals are forgotten first
    this._runs.set(channel, lastId);
    while (this._runs.size > RUNS_MAX) {
      this._runs.delete(this._runs.keys().next().value as string);
    }
    try {
      localStorage.setItem(DISMISSED_KEY, JSON.stringify([...this._runs]));
    } catch {
      // Storage full or refused: dismissed for this page only.
    }
  }

  hides(channel: string, lastId: string): boolean {
    return this._runs.get(channel) === lastId;
  }

  private _runs = DismissedRuns._load();

  private static _load(): Map<string, string> {
    try {
      const saved: unknown = JSON.parse(localStorage.getItem(DISMISSED_KEY) ?? '[]');
      if (Array.isArray(saved)) {
        return new Map(
          saved.filter(
            (pair): pair is [string, string] =>
              Array.isArray(pair) && typeof pair[0] === 'string' && typeof pair[1] === 'string'
          )
        );
      }
    } catch {
      // Unreadable: start afresh.
    }
    return new Map();
  }
}

/**
 * The events of one build or deployment, in the order they happened, and what they add up to.
 */
class RunRecord {
  constructor(
    readonly channel: string,
    readonly kind: 'build' | 'deployment'
  ) {}

  /** The arrival rank of its newest event: runs with recent activity rank higher. */
  rank = -Infinity;
  lastId = '';
  run!: IRun;

  /**
   * Add an event: a live one after everything, one of the history after the history already
   * added and before the live ones (which a slow history answer may follow).
   */
  add(id: string, event: IEventEnvelope, from: 'live' | 'history', rank: number): void {
    const entry = { id, event };
    if (from === 'live') {
      this._events.push(entry);
      this.lastId = id;
    } else {
      this._events.splice(this._historyCount, 0, entry);
      this._historyCount += 1;
      if (this._events.length === this._historyCount) {
        this.lastId = id;
      }
    }
    if (this._events.length > LOG_MAX) {
      this._events.shift();
      this._historyCount = Math.max(0, this._historyCount - 1);
    }
    this._firstTime = Math.min(this._firstTime, numberOr(event.time, this._firstTime));
    this.rank = Math.max(this.rank, rank);
    this.run = this._fold();
  }

  private _fold(): IRun {
    let state: RunState = 'created';
    let percent = 0;
    let message = '';
    let error: string | null = null;
    let startedAt = this._firstTime;
    let finishedAt: number | null = null;
    let duration: number | null = null;
    let starter: IEventEnvelope['source'] | null = this._events[0]?.event.source ?? null;
    let lastTime = this._firstTime;
    for (const { event } of this._events) {
      const data = event.data ?? {};
      const text = typeof data.message === 'string' ? data.message : null;
      const value = typeof data.percent === 'number' ? data.percent : null;
      const phase = event.type.slice(event.type.indexOf('.') + 1);
      lastTime = Math.max(lastTime, event.time);
      switch (phase) {
        case 'created':
          state = 'created';
          message = text ?? 'created';
          starter = event.source ?? starter;
          break;
        case 'started':
          state = 'running';
          startedAt = event.time;
          finishedAt = null;
          duration = null;
          error = null;
          percent = 0;
          message = text ?? 'started';
          starter = event.source ?? starter;
          break;
        case 'progress':
          state = 'running';
          percent = value ?? percent;
          message = text ?? message;
          break;
        case 'completed':
          state = 'completed';
          percent = 100;
          finishedAt = event.time;
          duration = typeof data.duration === 'number' ? data.duration : null;
          message = text ?? 'completed';
          break;
        case 'failed':
          state = 'failed';
          finishedAt = event.time;
          duration = typeof data.duration === 'number' ? data.duration : null;
          error = typeof data.error === 'string' ? data.error : 'failed';
          message = error;
          break;
      }
    }
    return {
      channel: this.channel,
      kind: this.kind,
      id: this.channel.slice(this.channel.indexOf(':') + 1),
      state,
      percent: Math.max(0, Math.min(100, percent)),
      message,
      error,
      startedAt,
      finishedAt,
      duration,
      lastTime,
      lastEventId: this.lastId,
      startedBy: String(starter?.username ?? ''),
      startedByName: String(starter?.name || starter?.username || ''),
      log: logOf(this._events)
    };
  }

  private _events: { id: string; event: IEventEnvelope }[] = [];
  private _historyCount = 0;
  private _firstTime = Infinity;
}

/**
 * The newest `LOG_ENTRIES_MAX` entries of a run's log, oldest first: one per event, or one per
 * line of an event that carries its lines of output in `log` (`jupyter omniforge run`).
 */
function logOf(events: { id: string; event: IEventEnvelope }[]): IRunLogEntry[] {
  const log: IRunLogEntry[] = [];
  for (let k = events.length - 1; k >= 0 && log.length < LOG_ENTRIES_MAX; k--) {
    const { id, event } = events[k];
    const data = event.data ?? {};
    const value = typeof data.percent === 'number' ? data.percent : null;
    const lines = Array.isArray(data.log) ? data.log : [];
    if (lines.length === 0) {
      const text = typeof data.message === 'string' ? data.message : null;
      log.push({
        id,
        time: event.time,
        type: event.type,
        percent: value,
        message: text ?? (typeof data.error === 'string' ? data.error : '')
      });
      continue;
    }
    for (let i = lines.length - 1; i >= 0 && log.length < LOG_ENTRIES_MAX; i--) {
      log.push({
        id: `${id}#${i}`,
        time: event.time,
        type: event.type,
        percent: i === lines.length - 1 ? value : null,
        message: String(lines[i])
      });
    }
  }
  return log.reverse();
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** Whether `run` has not finished and had no event for `staleAfter` seconds at `now`. */
export function isStale(run: IRun, now: number, staleAfter: number): boolean {
  const finished = run.state === 'completed' || run.state === 'failed';
  return !finished && now - run.lastTime > staleAfter;
}
