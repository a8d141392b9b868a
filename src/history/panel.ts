/**
 * The History panel of a room editor: the room's versions, newest first (with when, what and
 * who), and the selected one read-only with what changed since marked in it. Restoring a
 * version and naming the current state need `write`; without it the buttons stay greyed out,
 * focusable, saying why.
 *
 * The list is one listbox: arrow keys, Home and End move the selection, and Tab goes on to the
 * buttons. The diff follows the live document: it is asked again shortly after the room changes.
 * The list follows the room's event stream while shown: a `room.versioned` or `room.restored`
 * event on the room's channel (replayed after a reconnect) asks for it again; it is polled only
 * while that stream is down.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { historyIcon } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { createAvatar, themeChanged } from '../avatar';
import { EventSubscription } from '../comments/stream';
import type { IEventEnvelope, IRoomAccess, IRoomEditor } from '../tokens';
import type { IDiffPiece, IVersion, IVersionAuthor, VersionHistory } from './model';
import { VersionView } from './view';

/** How long after the last keystroke in the room the diff is asked again. */
const DIFF_REFRESH_MS = 600;
/** How often the list is asked again while the room's event stream is down. */
const LIST_POLL_MS = 20_000;
/** Events that arrive together (a restore: its versions, then the restore) ask once. */
const EVENT_SETTLE_MS = 150;
/** The events that change the list of versions. */
const VERSION_EVENTS = new Set(['room.versioned', 'room.restored']);
/**
 * Rooms whose versions the server does not announce (it writes them from their own events):
 * their list is polled.
 */
const UNANNOUNCED = /^(build|deployment):/;
/** How long the list waits for the selection to settle (arrow keys held) before loading. */
const SELECT_SETTLE_MS = 120;
/** The longest label the server takes. */
const MAX_LABEL = 200;

/** Something whose `update` events say the room changed (the room editor's Yjs document). */
export interface IChangeSource {
  on(event: 'update', listener: () => void): void;
  off(event: 'update', listener: () => void): void;
}

export class HistoryPanel extends Widget {
  constructor(options: HistoryPanel.IOptions) {
    super();
    const { history, editor, trans } = options;
    this._history = history;
    this._editor = editor;
    this._access = options.access;
    this._changes = options.changes ?? null;
    this._colorOf = options.colorOf;
    this._onVisibility = options.onVisibility ?? (() => undefined);
    this._trans = trans;
    const room = history.room;
    this.id = `omniforge-history-${room.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    this.addClass('jp-OmniForge-History');
    this.node.dataset.room = room;
    this.title.label = trans.__('History: %1', room);
    this.title.caption = trans.__('Versions of %1', room);
    this.title.icon = historyIcon;
    this.title.closable = true;

    const bar = element('div', 'jp-OmniForge-History-bar');
    this._nameButton = button(trans.__('Name this version…'), 'jp-OmniForge-History-name');
    this._nameButton.addEventListener('click', () => void this._name());
    const refresh = button(trans.__('Refresh'), 'jp-OmniForge-History-refresh');
    refresh.addEventListener('click', () => void this.refresh());
    const close = button(trans.__('Close'), 'jp-OmniForge-History-close');
    close.title = trans.__('Hide the history of %1', room);
    close.addEventListener('click', () => {
      this.hide();
      this._editor.activate(); // the focus goes back to the text
    });
    bar.append(this._nameButton, refresh, close);
    this._reasonNode = element('p', 'jp-OmniForge-History-reason');
    this._reasonNode.id = `${this.id}-reason`;
    this._reasonNode.hidden = true;

    this._list = element('ul', 'jp-OmniForge-History-list');
    this._list.tabIndex = 0;
    this._list.setAttribute('role', 'listbox');
    this._list.setAttribute('aria-label', trans.__('Versions of %1, newest first', room));
    this._list.addEventListener('keydown', this._onKey);
    this._list.addEventListener('click', this._onClick);
    this._emptyNode = element('p', 'jp-OmniForge-History-empty');
    this._emptyNode.hidden = true;
    this._moreButton = button(trans.__('Load older versions'), 'jp-OmniForge-History-more');
    this._moreButton.hidden = true;
    this._moreButton.addEventListener('click', () => void this._loadOlder());

    const detail = element('section', 'jp-OmniForge-History-detail');
    detail.setAttribute('aria-label', trans.__('Selected version'));
    const head = element('div', 'jp-OmniForge-History-detailBar');
    this._titleNode = element('span', 'jp-OmniForge-History-title');
    this._restoreButton = button(trans.__('Restore this version'), 'jp-OmniForge-History-restore');
    this._restoreButton.addEventListener('click', () => void this._restore());
    this._changesButton = button(trans.__('Show changes'), 'jp-OmniForge-History-changes');
    this._changesButton.setAttribute('aria-pressed', 'true');
    this._changesButton.title = trans.__('Mark what changed between this version and now');
    this._changesButton.addEventListener('click', () => {
      this._showChanges = !this._showChanges;
      this._changesButton.setAttribute('aria-pressed', String(this._showChanges));
      this._renderView();
    });
    head.append(this._titleNode, this._changesButton, this._restoreButton);
    this._legendNode = element('p', 'jp-OmniForge-History-legend');
    const host = element('div', 'jp-OmniForge-History-view');
    detail.append(head, this._legendNode, host);
    this._detail = detail;
    detail.hidden = true;

    this._statusNode = element('p', 'jp-OmniForge-History-status');
    this._statusNode.setAttribute('role', 'status');

    this.node.append(
      bar,
      this._reasonNode,
      this._list,
      this._emptyNode,
      this._moreButton,
      this._statusNode,
      detail
    );
    this._view = new VersionView({
      parent: host,
      label: trans.__('Selected version, read-only'),
      describe: piece => this._describe(piece),
      colorOf: author => this._authorColor(author)
    });

    this._access.changed.connect(this._onAccess, this);
    this._editor.stateChanged.connect(this._renderPermissions, this);
    this._editor.disposed.connect(() => this.dispose());
    this._changes?.on('update', this._onRoomChange);
    themeChanged.connect(this._renderList, this);
    this._renderPermissions();
    void this.refresh();
  }

  /** The id of the selected version, or null. */
  get selected(): string | null {
    return this._selected;
  }

  /** Whether the list follows the room's event stream now (else it is polled). */
  get live(): boolean {
    return !!this._events?.connected && !UNANNOUNCED.test(this._history.room);
  }

  /** Ask for the newest versions again (the older pages loaded stay). */
  async refresh(): Promise<void> {
    this._lastList = Date.now();
    try {
      const page = await this._history.list();
      if (this.isDisposed) {
        return;
      }
      const ids = new Set(page.versions.map(v => v.id));
      const oldest = page.versions[page.versions.length - 1];
      if (page.next === null || !oldest) {
        this._versions = [...page.versions];
        this._next = page.next;
      } else {
        // Keep the older pages already loaded, after the new first page.
        const older = this._versions.filter(v => !ids.has(v.id) && v.time <= oldest.time);
        this._versions = [...page.versions, ...older];
        this._next = older.length ? this._next : page.next;
      }
      this._error(null);
    } catch (error) {
      this._error(this._trans.__('Could not list the versions: %1', messageOf(error)));
    }
    this._renderList();
  }

  /** Select `id` (its content and diff load shortly after). */
  select(id: string | null): void {
    if (id === this._selected) {
      return;
    }
    this._selected = id;
    this._renderSelection();
    window.clearTimeout(this._selectTimer);
    this._selectTimer = window.setTimeout(() => void this._load(), SELECT_SETTLE_MS);
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this._selectTimer);
    window.clearTimeout(this._diffTimer);
    window.clearTimeout(this._eventTimer);
    window.clearInterval(this._poll);
    this._stopLive();
    this._changes?.off('update', this._onRoomChange);
    this._access.changed.disconnect(this._onAccess, this);
    this._editor.stateChanged.disconnect(this._renderPermissions, this);
    themeChanged.disconnect(this._renderList, this);
    this._view.destroy();
    super.dispose();
  }

  protected override onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._startLive();
    }
  }

  protected override onBeforeDetach(msg: Message): void {
    this._stopLive();
    super.onBeforeDetach(msg);
  }

  protected override onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    // The stream's first subscription asks for the list (what happened while hidden).
    this._startLive();
    if (this._selected !== null) {
      void this._load(); // the room may have changed while hidden
    }
    this._onVisibility();
  }

  protected override onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._stopLive();
    this._onVisibility();
  }

  /**
   * While shown, follow the room's channel: a version event asks for the list again. A
   * reconnect resumes from the last event seen (the versions kept meanwhile come then); a
   * fresh subscription (the first, or after the server reset the stream) asks for the list
   * itself. While the stream is down, the list is polled.
   */
  private _startLive(): void {
    if (this._events || this.isDisposed) {
      return;
    }
    this._events = new EventSubscription({
      server: this._history.server,
      channels: [this._history.room],
      onEvent: event => this._onEvent(event),
      onSubscribed: fresh => {
        if (fresh) {
          void this.refresh();
        }
      }
    });
    window.clearInterval(this._poll);
    this._poll = window.setInterval(() => {
      if (this.isVisible && !this.live && Date.now() - this._lastList >= LIST_POLL_MS) {
        void this.refresh();
      }
    }, LIST_POLL_MS);
  }

  private _stopLive(): void {
    window.clearInterval(this._poll);
    this._events?.dispose();
    this._events = null;
  }

  private _onEvent(event: IEventEnvelope): void {
    if (!VERSION_EVENTS.has(event.type)) {
      return;
    }
    window.clearTimeout(this._eventTimer);
    this._eventTimer = window.setTimeout(() => {
      void this.refresh();
      if (event.type === 'room.restored' && this._selected !== null) {
        void this._load(); // the current text changed: so did the diff to it
      }
    }, EVENT_SETTLE_MS);
  }

  protected override onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._list.focus();
  }

  // -- permissions ----------------------------------------------------------------------------

  /** Why this user may not restore or name versions here, or null when they may. */
  private _whyNot(): string | null {
    const room = this._history.room;
    const permissions = this._access.get(room);
    if (permissions && !permissions.actions.includes('write')) {
      return permissions.actions.length
        ? this._trans.__(
            'Restoring and naming versions need the write permission in %1; yours are %2.',
            room,
            permissions.actions.join(', ')
          )
        : this._trans.__('You have no permission in %1.', room);
    }
    const refused = this._editor.readOnlyReason;
    if (refused !== null) {
      return refused;
    }
    if (!permissions) {
      return this._trans.__('Checking what you may do in %1…', room);
    }
    return null;
  }

  private _onAccess(_: IRoomAccess, room: string): void {
    if (room === this._history.room) {
      this._renderPermissions();
    }
  }

  private _renderPermissions(): void {
    const reason = this._whyNot();
    this._reasonNode.hidden = reason === null;
    this._reasonNode.textContent = reason ?? '';
    const buttons: [HTMLButtonElement, string][] = [
      [
        this._nameButton,
        this._trans.__('Keep the current state of %1 as a named version', this._history.room)
      ],
      [this._restoreButton, this._trans.__('Make the document this version again, for everyone')]
    ];
    for (const [node, caption] of buttons) {
      // aria-disabled, not disabled: the button stays focusable and its tooltip reachable.
      node.setAttribute('aria-disabled', String(reason !== null));
      node.title = reason ?? caption;
      if (reason === null) {
        node.removeAttribute('aria-describedby');
      } else {
        node.setAttribute('aria-describedby', this._reasonNode.id);
      }
    }
  }

  // -- the list -------------------------------------------------------------------------------

  private _renderList(): void {
    const trans = this._trans;
    const items = this._versions.map(version => {
      const item = element('li', 'jp-OmniForge-History-version');
      item.id = this._optionId(version.id);
      item.dataset.version = version.id;
      item.dataset.kind = version.kind;
      item.setAttribute('role', 'option');
      const when = new Date(version.time * 1000);
      const time = element('time', 'jp-OmniForge-History-time');
      time.dateTime = when.toISOString();
      time.textContent = formatTime(version.time);
      time.title = Time.formatHuman(when);
      const label = element('span', 'jp-OmniForge-History-label');
      label.textContent = this._labelOf(version);
      // The avatars are for the eye (their names on hover); a screen reader hears the names.
      const avatars = element('span', 'jp-OmniForge-avatars');
      avatars.setAttribute('aria-hidden', 'true');
      avatars.append(...version.authors.map(author => this._avatar(author)));
      item.append(time, label, avatars);
      const names = version.authors.map(a => a.displayName).join(', ');
      if (names) {
        const by = element('span', 'jp-OmniForge-History-srOnly');
        by.textContent = trans.__(', by %1', names);
        item.append(by);
      }
      return item;
    });
    this._list.replaceChildren(...items);
    this._list.hidden = items.length === 0;
    this._emptyNode.hidden = items.length > 0;
    this._emptyNode.textContent = trans.__(
      'No versions yet. One is kept after a quiet minute following changes; name one to keep the current state now.'
    );
    this._moreButton.hidden = this._next === null;
    if (this._selected === null && this._versions.length) {
      this.select(this._versions[0].id);
    }
    this._renderSelection();
  }

  private _avatar(author: IVersionAuthor): HTMLElement {
    const node = createAvatar({
      username: author.username,
      name: author.displayName,
      display_name: author.displayName,
      color: this._colorOf(author.username, author.color)
    });
    node.title = this._trans._n(
      '%2: %1 update',
      '%2: %1 updates',
      author.updates,
      author.displayName
    );
    return node;
  }

  private _labelOf(version: IVersion): string {
    const trans = this._trans;
    if (version.kind === 'restored') {
      const from = /^restored from (.+)$/.exec(version.label ?? '')?.[1];
      const source = from ? this._versions.find(v => v.id === from) : undefined;
      return source
        ? trans.__('Restored from the version of %1', formatTime(source.time))
        : trans.__('Restored from an earlier version');
    }
    if (version.label) {
      return version.label;
    }
    return trans.__('Automatic');
  }

  private _renderSelection(): void {
    let active: Element | null = null;
    for (const item of Array.from(this._list.children)) {
      const selected = (item as HTMLElement).dataset.version === this._selected;
      item.setAttribute('aria-selected', String(selected));
      if (selected) {
        active = item;
      }
    }
    if (active) {
      this._list.setAttribute('aria-activedescendant', active.id);
      active.scrollIntoView({ block: 'nearest' });
    } else {
      this._list.removeAttribute('aria-activedescendant');
    }
  }

  private _onKey = (event: KeyboardEvent): void => {
    const ids = this._versions.map(v => v.id);
    if (!ids.length) {
      return;
    }
    const at = this._selected === null ? -1 : ids.indexOf(this._selected);
    const moves: { [key: string]: number } = {
      ArrowDown: Math.min(at + 1, ids.length - 1),
      ArrowUp: Math.max(at - 1, 0),
      Home: 0,
      End: ids.length - 1,
      PageDown: Math.min(at + 10, ids.length - 1),
      PageUp: Math.max(at - 10, 0)
    };
    if (!(event.key in moves)) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    this.select(ids[moves[event.key]]);
  };

  private _onClick = (event: MouseEvent): void => {
    const item = (event.target as Element).closest<HTMLElement>('[role="option"]');
    if (item?.dataset.version) {
      this._list.focus();
      this.select(item.dataset.version);
    }
  };

  private async _loadOlder(): Promise<void> {
    if (this._next === null) {
      return;
    }
    try {
      const page = await this._history.list(this._next);
      const known = new Set(this._versions.map(v => v.id));
      this._versions.push(...page.versions.filter(v => !known.has(v.id)));
      this._next = page.next;
      this._error(null);
    } catch (error) {
      this._error(this._trans.__('Could not list the versions: %1', messageOf(error)));
    }
    this._renderList();
  }

  private _optionId(version: string): string {
    return `${this.id}-v-${version.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  // -- the selected version -------------------------------------------------------------------

  /** Load the selected version's text and its diff to now. */
  private async _load(): Promise<void> {
    const id = this._selected;
    const version = this._versions.find(v => v.id === id);
    if (id === null || !version) {
      this._detail.hidden = true;
      return;
    }
    const ask = ++this._asks;
    try {
      if (this._loaded?.id !== id) {
        this._loaded = { id, text: await this._history.text(id) };
      }
      const pieces = await this._history.diff(id, this._loaded.text);
      if (this.isDisposed || ask !== this._asks) {
        return; // another version was selected meanwhile
      }
      this._pieces = pieces;
      this._error(null);
    } catch (error) {
      if (ask === this._asks) {
        this._error(this._trans.__('Could not load this version: %1', messageOf(error)));
      }
      return;
    }
    const when = formatTime(version.time);
    this._titleNode.textContent = this._trans.__('%1 — %2', when, this._labelOf(version));
    this._viewLabel = this._trans.__('The version of %1, read-only', when);
    this._detail.hidden = false;
    this._detail.dataset.version = id;
    this._renderView();
  }

  private _renderView(): void {
    const pieces = this._pieces;
    this._view.show(pieces, this._showChanges, this._viewLabel);
    const count = (kind: IDiffPiece['kind']): number =>
      pieces.reduce((sum, p) => sum + (p.kind === kind ? p.text.length : 0), 0);
    const added = count('inserted');
    const removed = count('deleted');
    this._legendNode.replaceChildren();
    if (!added && !removed) {
      this._legendNode.textContent = this._trans.__('The same as the current text.');
      return;
    }
    const ins = element('span', 'jp-OmniForge-History-added');
    ins.textContent = this._trans._n(
      '%1 character added since',
      '%1 characters added since',
      added
    );
    const del = element('span', 'jp-OmniForge-History-removed');
    del.textContent = this._trans._n(
      '%1 character removed since',
      '%1 characters removed since',
      removed
    );
    this._legendNode.append(ins, ' ', del);
    this._legendNode.dataset.added = String(added);
    this._legendNode.dataset.removed = String(removed);
  }

  /** The colour of `username`, with the one the versions recorded for them. */
  private _authorColor(username: string): string {
    const recorded = this._versions
      .flatMap(v => v.authors)
      .find(a => a.username === username && a.color !== null)?.color;
    return this._colorOf(username, recorded ?? null);
  }

  private _describe(piece: IDiffPiece): string {
    const who = piece.author || this._trans.__('an unknown author');
    const name = this._versions
      .flatMap(v => v.authors)
      .find(a => a.username === piece.author)?.displayName;
    return piece.kind === 'inserted'
      ? this._trans.__('Added since this version by %1', name ?? who)
      : this._trans.__('Removed since this version; written by %1', name ?? who);
  }

  private _onRoomChange = (): void => {
    if (this.isDisposed || !this.isVisible) {
      return;
    }
    window.clearTimeout(this._diffTimer);
    if (this._selected !== null) {
      this._diffTimer = window.setTimeout(() => void this._load(), DIFF_REFRESH_MS);
    }
  };

  // -- actions --------------------------------------------------------------------------------

  private async _restore(): Promise<void> {
    const id = this._selected;
    const version = this._versions.find(v => v.id === id);
    if (this._whyNot() !== null || id === null || !version) {
      return;
    }
    const trans = this._trans;
    const when = formatTime(version.time);
    const answer = await showDialog({
      title: trans.__('Restore this version?'),
      body: trans.__(
        'The text of %1 becomes the version of %2 again, for everyone; edits others make meanwhile are kept on top. The current text is kept as a version first, so you can come back to it.',
        this._history.room,
        when
      ),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Restore') })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this._history.restore(id);
      this._say(trans.__('Restored the version of %1.', when));
    } catch (error) {
      this._error(trans.__('Could not restore this version: %1', messageOf(error)));
      void this._access.fetch(this._history.room).catch(() => undefined);
      return;
    }
    await this.refresh();
    void this._load();
  }

  private async _name(): Promise<void> {
    if (this._whyNot() !== null) {
      return;
    }
    const trans = this._trans;
    const answer = await InputDialog.getText({
      title: trans.__('Name this version'),
      label: trans.__('A name for the current state of %1', this._history.room),
      placeholder: trans.__('e.g. before the refactor')
    });
    const label = (answer.value ?? '').trim();
    if (!answer.button.accept || !label) {
      return;
    }
    if (label.length > MAX_LABEL) {
      this._error(trans.__('A name has at most %1 characters.', MAX_LABEL));
      return;
    }
    try {
      const version = await this._history.name(label);
      this._say(trans.__('Named the current state "%1".', label));
      await this.refresh();
      if (version) {
        this.select(version.id);
      }
    } catch (error) {
      this._error(trans.__('Could not name this version: %1', messageOf(error)));
      void this._access.fetch(this._history.room).catch(() => undefined);
    }
  }

  private _say(text: string): void {
    this._statusNode.dataset.kind = 'info';
    this._statusNode.textContent = text;
  }

  private _error(text: string | null): void {
    if (text === null) {
      if (this._statusNode.dataset.kind === 'error') {
        this._statusNode.textContent = '';
        delete this._statusNode.dataset.kind;
      }
      return;
    }
    this._statusNode.dataset.kind = 'error';
    this._statusNode.textContent = text;
  }

  private _history: VersionHistory;
  private _editor: IRoomEditor;
  private _access: IRoomAccess;
  private _changes: IChangeSource | null;
  private _colorOf: (username: string, recorded: string | null) => string;
  private _onVisibility: () => void;
  private _trans: TranslationBundle;
  private _nameButton: HTMLButtonElement;
  private _restoreButton: HTMLButtonElement;
  private _changesButton: HTMLButtonElement;
  private _moreButton: HTMLButtonElement;
  private _reasonNode: HTMLElement;
  private _list: HTMLElement;
  private _emptyNode: HTMLElement;
  private _detail: HTMLElement;
  private _titleNode: HTMLElement;
  private _legendNode: HTMLElement;
  private _statusNode: HTMLElement;
  private _view: VersionView;
  private _viewLabel = '';
  private _versions: IVersion[] = [];
  private _next: string | null = null;
  private _selected: string | null = null;
  private _loaded: { id: string; text: string } | null = null;
  private _pieces: IDiffPiece[] = [];
  private _showChanges = true;
  private _asks = 0;
  private _lastList = 0;
  private _selectTimer = 0;
  private _diffTimer = 0;
  private _eventTimer = 0;
  private _poll = 0;
  private _events: EventSubscription | null = null;
}

export namespace HistoryPanel {
  export interface IOptions {
    history: VersionHistory;
    /** The room editor the panel belongs to (it closes with it). */
    editor: IRoomEditor;
    access: IRoomAccess;
    /** The room's live document: the diff follows it. */
    changes?: IChangeSource | null;
    /**
     * The colour a person is drawn in, given the one a version recorded for them (null: none
     * recorded).
     */
    colorOf(username: string, recorded: string | null): string;
    trans: TranslationBundle;
    /** Called when the panel is shown or hidden. */
    onVisibility?: () => void;
  }
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function button(label: string, className: string): HTMLButtonElement {
  const node = element('button', `jp-OmniForge-History-button ${className}`);
  node.type = 'button';
  node.textContent = label;
  return node;
}

/** A version's time (Unix seconds) as this browser's locale writes it, to the second. */
function formatTime(seconds: number): string {
  return new Date(seconds * 1000).toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'medium'
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
