/**
 * The connection to the OmniForge server extension: URLs, the availability check and settings.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

import type { Availability, IOmniForgeServer, IOmniForgeSettings } from './tokens';

export const DEFAULT_SETTINGS: IOmniForgeSettings = {
  defaultRoom: 'idea:scratch',
  feedSize: 20,
  showPresence: true,
  staleAfter: 600,
  defaultLanguage: 'python',
  cursorLabels: 'hover'
};

/**
 * A REST request that failed: `status` is the HTTP status (0 when the server did not answer).
 */
export class OmniForgeRequestError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'OmniForgeRequestError';
  }
}

export class OmniForgeServer implements IOmniForgeServer {
  constructor(serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()) {
    this.serverSettings = serverSettings;
    this.roomsUrl = URLExt.join(serverSettings.wsUrl, 'omniforge', 'rooms');
    const token = serverSettings.token;
    this.wsParams = token ? { token } : {};
    const realtime = URLExt.join(serverSettings.wsUrl, 'omniforge', 'realtime');
    this.realtimeUrl = token ? `${realtime}?token=${encodeURIComponent(token)}` : realtime;
  }

  readonly serverSettings: ServerConnection.ISettings;
  readonly roomsUrl: string;
  readonly realtimeUrl: string;
  readonly wsParams: { [key: string]: string };

  get availability(): Availability {
    return this._availability;
  }

  get availabilityChanged(): Signal<this, Availability> {
    return this._availabilityChanged;
  }

  get settings(): IOmniForgeSettings {
    return this._settings;
  }

  get settingsChanged(): Signal<this, IOmniForgeSettings> {
    return this._settingsChanged;
  }

  /** Replace the settings (from the setting registry). */
  updateSettings(settings: Partial<IOmniForgeSettings>): void {
    this._settings = { ...DEFAULT_SETTINGS, ...settings };
    this._settingsChanged.emit(this._settings);
  }

  /**
   * Ask `GET omniforge/api/rooms`: 404 means the server extension is not enabled, 403 that this
   * user may not use it.
   */
  async checkAvailability(): Promise<Availability> {
    let availability: Availability;
    try {
      await this.requestJSON('rooms');
      availability = { status: 'ok' };
    } catch (error) {
      availability = describeFailure(error);
    }
    this._availability = availability;
    this._availabilityChanged.emit(availability);
    return availability;
  }

  async requestJSON<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.serverSettings.baseUrl, 'omniforge', 'api', path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.serverSettings);
    } catch (error) {
      throw new OmniForgeRequestError(`The Jupyter server did not answer: ${String(error)}`, 0);
    }
    const text = await response.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!response.ok) {
      const detail =
        body && typeof body === 'object' && 'message' in body
          ? String((body as { message: unknown }).message)
          : response.statusText;
      throw new OmniForgeRequestError(detail || `HTTP ${response.status}`, response.status);
    }
    return body as T;
  }

  private _availability: Availability = { status: 'checking' };
  private _availabilityChanged = new Signal<this, Availability>(this);
  private _settings: IOmniForgeSettings = DEFAULT_SETTINGS;
  private _settingsChanged = new Signal<this, IOmniForgeSettings>(this);
}

/**
 * The message a user sees for a failed availability check.
 */
export function describeFailure(error: unknown): Availability {
  const status = error instanceof OmniForgeRequestError ? error.status : 0;
  if (status === 404) {
    return {
      status: 'missing',
      message:
        'The OmniForge server extension is not enabled on this Jupyter server. ' +
        'Install jupyter_omniforge in the environment the server runs in, enable it with ' +
        '"jupyter server extension enable jupyter_omniforge", and restart the server.'
    };
  }
  if (status === 403) {
    return {
      status: 'forbidden',
      message:
        'You do not have permission to use OmniForge on this server. ' +
        'Ask its administrator for access to the "omniforge" resource.'
    };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return {
    status: 'error',
    message: `OmniForge could not reach the server: ${detail}`
  };
}
