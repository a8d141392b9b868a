/**
 * The connection state of a y-websocket provider, as the UI shows it.
 */
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import type { WebsocketProvider } from 'y-websocket';

import type { ConnectionState } from './tokens';

/**
 * Failed attempts in a row after which a lost connection counts as offline (with y-websocket's
 * backoff, about five seconds).
 */
export const OFFLINE_AFTER_ATTEMPTS = 5;

/**
 * Derive a {@link ConnectionState} from a network state and a count of failed attempts.
 */
export function connectionState(options: {
  connected: boolean;
  everConnected: boolean;
  failedAttempts: number;
  online: boolean;
}): ConnectionState {
  if (options.connected) {
    return 'connected';
  }
  if (!options.online || options.failedAttempts >= OFFLINE_AFTER_ATTEMPTS) {
    return 'offline';
  }
  return options.everConnected ? 'reconnecting' : 'connecting';
}

/**
 * Follows a `WebsocketProvider`: `connected` once the connection is open and the document
 * synced, `reconnecting` while it is being re-established, `offline` without network or after
 * {@link OFFLINE_AFTER_ATTEMPTS} failed attempts.
 */
export class ProviderStatus implements IDisposable {
  constructor(provider: WebsocketProvider) {
    this._provider = provider;
    provider.on('status', this._update);
    provider.on('sync', this._update);
    provider.on('connection-close', this._update);
    window.addEventListener('online', this._update);
    window.addEventListener('offline', this._update);
    this._update();
  }

  get state(): ConnectionState {
    return this._state;
  }

  get changed(): Signal<this, ConnectionState> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._provider.off('status', this._update);
    this._provider.off('sync', this._update);
    this._provider.off('connection-close', this._update);
    window.removeEventListener('online', this._update);
    window.removeEventListener('offline', this._update);
    Signal.clearData(this);
  }

  private _update = (): void => {
    const provider = this._provider;
    const connected = provider.wsconnected && provider.synced;
    this._everConnected = this._everConnected || connected;
    const state = connectionState({
      connected,
      everConnected: this._everConnected,
      failedAttempts: provider.wsUnsuccessfulReconnects,
      online: navigator.onLine
    });
    if (state !== this._state) {
      this._state = state;
      this._changed.emit(state);
    }
  };

  private _provider: WebsocketProvider;
  private _state: ConnectionState = 'connecting';
  private _everConnected = false;
  private _isDisposed = false;
  private _changed = new Signal<this, ConnectionState>(this);
}
