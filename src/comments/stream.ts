/**
 * A subscription to channels of the realtime gateway's event stream, kept alive: it reconnects
 * with a backoff and resumes from the last event id it saw, so nothing is missed in between
 * (the server says `reset` when the cursor is older than what it keeps).
 */
import type { IDisposable } from '@lumino/disposable';

import type { IEventEnvelope, IOmniForgeServer } from '../tokens';

const MAX_BACKOFF_MS = 2500;

export class EventSubscription implements IDisposable {
  constructor(options: EventSubscription.IOptions) {
    this._server = options.server;
    this._channels = options.channels;
    this._handlers = options;
    window.addEventListener('online', this._onOnline);
    this._connect();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Whether the subscription stands now. */
  get connected(): boolean {
    return this._connected;
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
      this._connected = false;
      this._failures += 1;
      this._handlers.onState?.(false);
      // Randomised, so that the tabs a restarted server dropped do not all come back at once.
      const delay =
        Math.min(100 * 2 ** this._failures, MAX_BACKOFF_MS) * (1 - 0.5 * Math.random());
      this._retry = window.setTimeout(() => this._connect(), delay);
    };
  }

  private _onFrame(text: string): void {
    let frame: { type?: string; [key: string]: unknown };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'subscribed': {
        this._failures = 0;
        this._connected = true;
        // Without a cursor the stream starts now: what happened before is for the caller to load.
        const fresh = this._cursor === null;
        if (fresh && typeof frame.lastEventId === 'string' && frame.lastEventId) {
          this._cursor = frame.lastEventId;
        }
        this._handlers.onState?.(true);
        this._handlers.onSubscribed?.(fresh);
        break;
      }
      case 'event': {
        const event = frame.event as IEventEnvelope;
        if (typeof event?.id === 'string') {
          this._cursor = event.id;
          this._handlers.onEvent(event);
        }
        break;
      }
      case 'reset':
        // Our cursor is older than what the server keeps: the caller reloads what it shows.
        this._handlers.onSubscribed?.(true);
        break;
      case 'error':
        console.warn('OmniForge events:', frame.message);
        break;
    }
  }

  private _onOnline = (): void => {
    if (!this._ws && !this._isDisposed) {
      window.clearTimeout(this._retry);
      this._connect();
    }
  };

  private _server: IOmniForgeServer;
  private _channels: string[];
  private _handlers: EventSubscription.IOptions;
  private _ws: WebSocket | null = null;
  private _cursor: string | null = null;
  private _connected = false;
  private _failures = 0;
  private _retry = 0;
  private _isDisposed = false;
}

export namespace EventSubscription {
  export interface IOptions {
    server: IOmniForgeServer;
    channels: string[];
    /** Each event, once, in order. */
    onEvent(event: IEventEnvelope): void;
    /**
     * The subscription stands; `fresh` when the events before it are not coming (the first
     * subscription, or the server reset a stale cursor): load the current state then.
     */
    onSubscribed?(fresh: boolean): void;
    onState?(connected: boolean): void;
  }
}
