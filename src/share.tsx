/**
 * Sharing a room: mint a room-scoped token (`POST omniforge/api/tokens`) for a guest, read-only
 * or editable, for a while, and hand out the room's y-websocket URL with it — what a stock
 * y-websocket client or an app connects with.
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import { PageConfig, Time, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button, copyIcon, HTMLSelect, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { parsePermissions } from './access';
import { OmniForgeRequestError } from './server';
import type { IOmniForgeServer } from './tokens';

export type ShareMode = 'read' | 'edit';

/** What each mode lets the link do (and the policy may still narrow). */
export const SHARE_PERMISSIONS: { readonly [mode in ShareMode]: readonly string[] } = {
  read: ['read', 'presence'],
  edit: ['read', 'presence', 'write', 'emit']
};

/** The lifetimes offered, in seconds. */
export const SHARE_TTLS = [3600, 86400, 7 * 86400] as const;

export interface IShareOptions {
  readonly mode: ShareMode;
  readonly ttl: number;
  /** The name the others see for whoever uses the link. */
  readonly name: string;
}

export interface IShareLink {
  readonly room: string;
  readonly mode: ShareMode;
  /** `ws(s)://…/omniforge/rooms/{room}?token=…` */
  readonly link: string;
  /** What a `WebsocketProvider` takes as serverUrl: `ws(s)://…/omniforge/rooms`. */
  readonly serverUrl: string;
  readonly token: string;
  /** The token's id, to revoke it. */
  readonly jti: string;
  /** Unix seconds. */
  readonly expires: number;
  /** The guest's user name (`sub`). */
  readonly user: string;
  /** What the link may do in the room, as the server answers for it (null: not known). */
  readonly granted: readonly string[] | null;
}

/** The room's y-websocket URL with a token: what a stock client dials. */
export function roomLink(roomsUrl: string, room: string, token: string): string {
  return `${roomsUrl}/${room}?token=${encodeURIComponent(token)}`;
}

/** The query parameter of a JupyterLab URL that names a room to open. */
export const ROOM_PARAM = 'omniforge-room';

/**
 * A JupyterLab URL that opens `room` (`{base}lab?omniforge-room=idea:42`): no token in it, so
 * whoever opens it signs in as themselves. `app` is JupyterLab's `appUrl` (`/lab`).
 */
export function labRoomLink(
  room: string,
  base: string = PageConfig.getBaseUrl(),
  app: string = PageConfig.getOption('appUrl') || '/lab'
): string {
  // A room name is [A-Za-z0-9._-] and one ':', which a query may hold as it is.
  const value = encodeURIComponent(room).replace(/%3A/gi, ':');
  return `${URLExt.join(base, app)}?${ROOM_PARAM}=${value}`;
}

/** The room a JupyterLab URL's query (`?…`) names, or null. */
export function roomOfSearch(search: string): string | null {
  return new URLSearchParams(search).get(ROOM_PARAM);
}

/** A few lines of JavaScript that open the room with the stock y-websocket client. */
export function yWebsocketSnippet(link: IShareLink): string {
  const q = (value: string): string => `'${value.replace(/[\\']/g, c => `\\${c}`)}'`;
  return [
    "import * as Y from 'yjs';",
    "import { WebsocketProvider } from 'y-websocket';",
    '',
    'const doc = new Y.Doc();',
    'const provider = new WebsocketProvider(',
    `  ${q(link.serverUrl)},`,
    `  ${q(link.room)},`,
    '  doc,',
    `  { params: { token: ${q(link.token)} } }`,
    ');',
    "provider.on('sync', () => console.log(doc.getText('code').toString()));"
  ].join('\n');
}

/**
 * Mint a token for a new guest user, limited to `room` and the mode's actions, and ask the
 * server what that token may really do there (the room's policy may allow the guest less).
 */
export async function mintShareLink(
  server: IOmniForgeServer,
  room: string,
  options: IShareOptions
): Promise<IShareLink> {
  const user = `guest-${randomId()}`;
  const minted = await server.requestJSON<{ token: string; jti: string; expires: number }>(
    'tokens',
    {
      method: 'POST',
      body: JSON.stringify({
        user,
        name: options.name.trim() || user,
        rooms: [room],
        permissions: SHARE_PERMISSIONS[options.mode],
        ttl: options.ttl
      })
    }
  );
  if (typeof minted?.token !== 'string' || typeof minted.expires !== 'number') {
    throw new OmniForgeRequestError('The server did not answer with a token.', 0);
  }
  return {
    room,
    mode: options.mode,
    link: roomLink(server.roomsUrl, room, minted.token),
    serverUrl: server.roomsUrl,
    token: minted.token,
    jti: String(minted.jti ?? ''),
    expires: minted.expires,
    user,
    granted: await grantedTo(server, room, minted.token)
  };
}

/** What the holder of `token` may do in `room` (`GET omniforge/api/access` as them). */
async function grantedTo(
  server: IOmniForgeServer,
  room: string,
  token: string
): Promise<string[] | null> {
  // The token alone, not the Jupyter token: the request is the guest's.
  const settings = ServerConnection.makeSettings({ ...server.serverSettings, token: '' });
  const url = `${settings.baseUrl}omniforge/api/access?room=${encodeURIComponent(room)}`;
  try {
    const response = await ServerConnection.makeRequest(
      url,
      { headers: { Authorization: `Bearer ${token}` } },
      settings
    );
    if (!response.ok) {
      return null;
    }
    return [...parsePermissions(await response.json(), room).actions];
  } catch {
    return null;
  }
}

/** "in 1 hour", "in 7 days": how far ahead `seconds` (Unix time) is, in the user's language. */
function fromNow(seconds: number): string {
  const ahead = Math.max(0, seconds - Date.now() / 1000);
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'always' });
  if (ahead < 55 * 60) {
    return format.format(Math.max(1, Math.round(ahead / 60)), 'minute');
  }
  if (ahead < 23 * 3600) {
    return format.format(Math.round(ahead / 3600), 'hour');
  }
  return format.format(Math.round(ahead / 86400), 'day');
}

function randomId(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/** Put `text` on the clipboard; false when the browser would not. */
export async function copyToClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API here (an insecure origin) or no permission: the old way, which needs
    // the user's gesture.
    try {
      Clipboard.copyToSystem(text);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Ask the options, mint the link, copy it, and show it. Resolves with the link (null when the
 * user cancelled).
 */
export async function shareRoom(
  server: IOmniForgeServer,
  room: string,
  trans: TranslationBundle
): Promise<IShareLink | null> {
  const options = new ShareOptionsBody(trans);
  const answer = await showDialog<IShareOptions>({
    title: trans.__('Share %1', room),
    body: options,
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.okButton({ label: trans.__('Create link') })
    ],
    focusNodeSelector: 'input[type="radio"]:checked'
  });
  if (!answer.button.accept || !answer.value) {
    return null;
  }
  let link: IShareLink;
  try {
    link = await mintShareLink(server, room, answer.value);
  } catch (error) {
    await showDialog({
      title: trans.__('Could not share %1', room),
      body: error instanceof Error ? error.message : String(error),
      buttons: [Dialog.okButton({ label: trans.__('Close') })]
    });
    return null;
  }
  const copied = await copyToClipboard(link.link);
  await showDialog({
    title: trans.__('Link to %1', room),
    body: new ShareLinkBody(link, copied, trans),
    buttons: [Dialog.okButton({ label: trans.__('Done') })]
  });
  return link;
}

/** The first dialog: read-only or editable, for how long, and the guest's name. */
export class ShareOptionsBody extends ReactWidget implements Dialog.IBodyWidget<IShareOptions> {
  constructor(private readonly _trans: TranslationBundle) {
    super();
    this.addClass('jp-OmniForge-share');
    this._options = { mode: 'read', ttl: SHARE_TTLS[1], name: _trans.__('Guest') };
  }

  getValue(): IShareOptions {
    return this._options;
  }

  protected render(): JSX.Element {
    const trans = this._trans;
    const set = (change: Partial<IShareOptions>): void => {
      this._options = { ...this._options, ...change };
      this.update();
    };
    const { mode, ttl, name } = this._options;
    const ttlLabels: { [ttl: number]: string } = {
      3600: trans.__('1 hour'),
      86400: trans.__('1 day'),
      604800: trans.__('7 days')
    };
    return (
      <div className="jp-OmniForge-share-form">
        <fieldset className="jp-OmniForge-share-mode">
          <legend>{trans.__('Whoever has the link can')}</legend>
          <label>
            <input
              type="radio"
              name="jp-OmniForge-share-mode"
              value="read"
              checked={mode === 'read'}
              onChange={() => set({ mode: 'read' })}
            />{' '}
            {trans.__('Read only: see the document and who is there')}
          </label>
          <label>
            <input
              type="radio"
              name="jp-OmniForge-share-mode"
              value="edit"
              checked={mode === 'edit'}
              onChange={() => set({ mode: 'edit' })}
            />{' '}
            {trans.__('Edit: change the document too')}
          </label>
        </fieldset>
        <label className="jp-OmniForge-share-field">
          <span>{trans.__('Expires after')}</span>
          <HTMLSelect
            aria-label={trans.__('Expires after')}
            value={ttl}
            onChange={event => set({ ttl: Number(event.target.value) })}
            options={SHARE_TTLS.map(value => ({ value, label: ttlLabels[value] }))}
          />
        </label>
        <label className="jp-OmniForge-share-field">
          <span>{trans.__('Name shown to others')}</span>
          <input
            className="jp-mod-styled"
            value={name}
            maxLength={100}
            onChange={event => set({ name: event.target.value })}
          />
        </label>
      </div>
    );
  }

  private _options: IShareOptions;
}

/** The second dialog: the link (already copied), its expiry and how to connect with it. */
export class ShareLinkBody extends ReactWidget {
  constructor(
    readonly link: IShareLink,
    copied: boolean,
    private readonly _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-OmniForge-share');
    this._copied = copied;
  }

  protected render(): JSX.Element {
    const { link } = this;
    const trans = this._trans;
    const expires = new Date(link.expires * 1000);
    const asked = SHARE_PERMISSIONS[link.mode];
    const missing = link.granted ? asked.filter(action => !link.granted!.includes(action)) : [];
    const copy = async (): Promise<void> => {
      this._copied = await copyToClipboard(link.link);
      this.update();
    };
    return (
      <div className="jp-OmniForge-share-result" data-mode={link.mode}>
        <p>
          {link.mode === 'read'
            ? trans.__('Whoever has this link can read %1 and see who is there.', link.room)
            : trans.__('Whoever has this link can edit %1.', link.room)}{' '}
          <span className="jp-OmniForge-share-expires">
            {trans.__('It expires %1 (%2).', Time.format(expires), fromNow(link.expires))}
          </span>
        </p>
        {missing.length > 0 && (
          <p className="jp-OmniForge-share-warning" role="alert">
            {link.granted!.includes('read')
              ? trans.__(
                  'The room’s policy allows %1 less than asked: the link cannot %2.',
                  link.user,
                  missing.join(', ')
                )
              : trans.__(
                  'The room’s policy gives %1 no access to %2: the link will be refused.',
                  link.user,
                  link.room
                )}
          </p>
        )}
        <label className="jp-OmniForge-share-field">
          <span>{trans.__('y-websocket URL')}</span>
          <span className="jp-OmniForge-share-linkRow">
            <input
              className="jp-mod-styled jp-OmniForge-share-link"
              readOnly
              value={link.link}
              onFocus={event => event.target.select()}
            />
            <Button
              className="jp-mod-styled jp-OmniForge-share-copy"
              title={trans.__('Copy the link')}
              onClick={() => void copy()}
            >
              <copyIcon.react tag="span" className="jp-OmniForge-share-copyIcon" />
              {trans.__('Copy')}
            </Button>
          </span>
        </label>
        <p className="jp-OmniForge-share-copied" aria-live="polite">
          {this._copied
            ? trans.__('Copied to the clipboard.')
            : trans.__('Your browser did not allow copying: copy the link from the field.')}
        </p>
        <p>{trans.__('Connect with the stock y-websocket client:')}</p>
        <pre className="jp-OmniForge-share-snippet">
          <code>{yWebsocketSnippet(link)}</code>
        </pre>
        <p className="jp-OmniForge-share-revoke">
          {trans.__('To end it sooner: jupyter omniforge token revoke %1', link.jti)}
        </p>
      </div>
    );
  }

  private _copied: boolean;
}
