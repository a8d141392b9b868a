/**
 * The room editor: JupyterLab's own code editor (made by its editor services, so it follows the
 * user's theme, key map and text editor settings, and highlights the room's language) bound to
 * a room's `code` text with y-codemirror.next — remote carets and selections labelled with
 * names and colours, undo of one's own edits only — kept offline in IndexedDB and merged with
 * the server's copy on reconnect. The room's language is in its `meta` map
 * ({@link RoomLanguage}); the toolbar's {@link LanguageSelect} changes it for everyone.
 *
 * A user who may not write in the room (`GET omniforge/api/access`, or the server refusing an
 * edit with an auth message) gets a read-only editor and a badge saying why; their caret and
 * selection are still shown to the others.
 */
import { type Extension, Prec } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { CodeEditor, type IEditorServices } from '@jupyterlab/codeeditor';
import {
  CodeMirrorEditor,
  type IEditorLanguage,
  type IEditorLanguageRegistry
} from '@jupyterlab/codemirror';
import { type ITranslator, nullTranslator, type TranslationBundle } from '@jupyterlab/translation';
import { lockIcon } from '@jupyterlab/ui-components';
import { type Message, MessageLoop } from '@lumino/messaging';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import { IndexeddbPersistence } from 'y-indexeddb';
import * as authProtocol from 'y-protocols/auth';
import { messageAuth, WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import { RoomAccessModel } from './access';
import { createAvatar, stateLabel, themeChanged } from './avatar';
import { ProviderStatus } from './connection';
import { cursorLabels, resolveRemoteColors, sourceColorOf } from './cursors';
import type { IEditorConfigSource } from './editor/config';
import { RoomLanguage } from './editor/language';
import { LanguageSelect } from './editor/languageselect';
import type {
  ConnectionState,
  IAwarenessUser,
  IOmniForgeServer,
  IRoomAccess,
  IRoomEditor,
  IRoomPermissions
} from './tokens';

/** The name of the text root the editor binds (the rooms' `code`). */
export const CODE_ROOT = 'code';

/** How long "Follow" waits for a person's caret in a room just opened. */
const FOLLOW_WAIT_MS = 5000;
/** How the server starts the reason of a refused edit (`rooms/room.py`). */
const READ_ONLY_REASON = /^read-only\b/i;
/** How it starts the reason of a refused awareness state: not about editing. */
const PRESENCE_REASON = /\bpresence\b/i;

export class RoomEditor extends Widget implements IRoomEditor {
  constructor(options: RoomEditor.IOptions) {
    super();
    const { room, server } = options;
    this._server = server;
    this.omniforgeRoom = room;
    this._trans = (options.translator ?? nullTranslator).load('jupyter_omniforge');
    this._access = options.access ?? new RoomAccessModel(server);
    this.id = `omniforge-room-${room.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    this.addClass('jp-OmniForge-RoomEditor');
    this.node.dataset.room = room;

    this._header = document.createElement('div');
    this._header.className = 'jp-OmniForge-RoomEditor-header';
    const title = document.createElement('span');
    title.className = 'jp-OmniForge-RoomEditor-room';
    title.textContent = room;
    this._statusNode = document.createElement('span');
    this._statusNode.className = 'jp-OmniForge-status';
    this._statusNode.setAttribute('role', 'status');
    this._hintNode = document.createElement('span');
    this._hintNode.className = 'jp-OmniForge-RoomEditor-hint';
    this._peopleNode = document.createElement('span');
    this._peopleNode.className = 'jp-OmniForge-RoomEditor-people';
    this._readOnlyNode = document.createElement('span');
    this._readOnlyNode.className = 'jp-OmniForge-readOnly';
    this._readOnlyNode.hidden = true;
    this._readOnlyNode.tabIndex = 0; // its tooltip says why: reachable from the keyboard too
    const lock = lockIcon.element({ tag: 'span', className: 'jp-OmniForge-readOnly-icon' });
    const label = document.createElement('span');
    label.textContent = this._trans.__('Read-only');
    this._readOnlyNode.append(lock, label);
    this._noticeNode = document.createElement('div');
    this._noticeNode.className = 'jp-OmniForge-notice';
    this._noticeNode.hidden = true;
    this._header.append(
      title,
      this._readOnlyNode,
      this._statusNode,
      this._hintNode,
      this._peopleNode
    );
    const host = document.createElement('div');
    host.className = 'jp-OmniForge-RoomEditor-editor';
    this.node.append(this._header, this._noticeNode, host);

    const doc = new Y.Doc();
    this._doc = doc;
    const ytext = doc.getText(CODE_ROOT);
    this._persistence = new IndexeddbPersistence(
      `jupyter_omniforge:${server.serverSettings.baseUrl}:${room}`,
      doc
    );
    const provider = new WebsocketProvider(server.roomsUrl, room, doc, {
      params: server.wsParams,
      WebSocketPolyfill: server.serverSettings.WebSocket,
      disableBc: true
    });
    this._provider = provider;
    // The server answers an edit we may not make with an auth message: become read-only.
    provider.messageHandlers[messageAuth] = (_encoder, decoder) => {
      authProtocol.readAuthMessage(decoder, doc, (_doc, reason) => this._denied(reason));
    };
    provider.on('closed', event => {
      this._showNotice(
        this._trans.__(
          'The server closed this room: %1.',
          event.reason || this._trans.__('code %1', event.code)
        )
      );
    });
    if (options.user) {
      // The server stamps `user` for the others; this is what a local-only view shows.
      provider.awareness.setLocalStateField('user', options.user);
    }
    provider.awareness.on('change', this._renderPeople);
    themeChanged.connect(this._renderPeople, this);
    // Before yCollab listens: it paints the carets in the colours this makes concrete.
    this._colors = resolveRemoteColors(provider.awareness);

    this._status = new ProviderStatus(provider);
    this._status.changed.connect(this._onState, this);

    // JupyterLab's editor binds its model's shared text (the registry's Yjs binding, which also
    // writes a `state` map into that text's document): given the room's own document, it would
    // add a root to every room. So the model keeps a private copy the binding may write, and
    // y-codemirror.next binds the room's text, with the remote carets JupyterLab's lacks.
    this._model = new CodeEditor.Model();
    this._model.sharedModel.setSource(ytext.toString());
    this._languages = options.languages;
    this._language = new RoomLanguage(doc, server.settings.defaultLanguage);
    this._language.changed.connect(this._applyLanguage, this);
    server.settingsChanged.connect(this._onSettings, this);
    this._editorConfig = options.editorConfig ?? null;
    const editor = options.editorServices.factoryService.newDocumentEditor({
      host,
      model: this._model,
      config: {
        ...this._editorConfig?.config,
        // Read-only until the server says this user may write (an answer comes in a few
        // milliseconds, before the room has synced; without one, the editor is writable).
        readOnly: true
      },
      extensions: [
        // Undo and redo of one's own edits, before any other binding of those keys.
        Prec.high(keymap.of(yUndoManagerKeymap)),
        // The text box is named (a file editor's is not: screen readers say "edit text").
        EditorView.contentAttributes.of({ 'aria-label': this._trans.__('Text of %1', room) }),
        yCollab(ytext, provider.awareness),
        cursorLabels(provider.awareness, this._colors.resolve)
      ]
    });
    if (!(editor instanceof CodeMirrorEditor)) {
      // Another editor than CodeMirror behind JupyterLab's editor services: nothing to bind.
      editor.dispose();
      this._model.dispose();
      this._language.dispose();
      server.settingsChanged.disconnect(this._onSettings, this);
      themeChanged.disconnect(this._renderPeople, this);
      this._colors.stop();
      this._status.dispose();
      provider.destroy();
      void this._persistence.destroy();
      doc.destroy();
      throw new Error("OmniForge: the room editor needs JupyterLab's CodeMirror editor");
    }
    this._editor = editor;
    this._editorConfig?.changed.connect(this._onEditorConfig, this);
    this._languageSelect = new LanguageSelect({
      language: this._language,
      languages: options.languages,
      trans: this._trans,
      room
    });
    this._applyLanguage();
    this._renderState();
    this._renderPeople();
    void this._checkAccess();
  }

  readonly omniforgeRoom: string;

  get readOnlyReason(): string | null {
    // The policy's answer says more than a refusal (which the server also sends a read-only
    // client for the empty sync reply it makes on connecting).
    return this._notAllowed ?? this._refused;
  }

  get state(): ConnectionState {
    return this._status.state;
  }

  get stateChanged(): Signal<this, ConnectionState> {
    return this._stateChanged;
  }

  /** The CodeMirror view (for tests and other extensions). */
  get editor(): EditorView {
    return this._editor.editor;
  }

  /** JupyterLab's editor around it (options, as `CodeMirrorEditor.setOption` takes them). */
  get codeEditor(): CodeMirrorEditor {
    return this._editor;
  }

  /** The room's language. */
  get language(): RoomLanguage {
    return this._language;
  }

  /** The toolbar item that shows and changes the room's language. */
  get languageSelect(): LanguageSelect {
    return this._languageSelect;
  }

  /** Show this user as `user` to the others (JupyterLab picked their colour meanwhile). */
  setUser(user: IAwarenessUser): void {
    this._provider.awareness.setLocalStateField('user', user);
  }

  /**
   * Scroll to `username`'s caret, waiting up to `timeout` ms for it to be known (a room just
   * opened has not heard the others yet). Resolves whether it was found.
   */
  follow(username: string, timeout = FOLLOW_WAIT_MS): Promise<boolean> {
    return new Promise(resolve => {
      const awareness = this._provider.awareness;
      const attempt = (): boolean => {
        // Before the sync, a caret at the end of the text would resolve to 0.
        const head = this._provider.synced ? this._caretOf(username) : null;
        if (head === null) {
          return false;
        }
        this.editor.dispatch({ effects: EditorView.scrollIntoView(head, { y: 'center' }) });
        return true;
      };
      const done = (found: boolean): void => {
        awareness.off('change', onChange);
        this._doc.off('update', onChange);
        this._provider.off('sync', onChange);
        window.clearTimeout(timer);
        resolve(found);
      };
      const onChange = (): void => {
        if (attempt()) {
          done(true);
        }
      };
      if (attempt()) {
        resolve(true);
        return;
      }
      // Their caret comes with the awareness, the text it points into with the sync.
      awareness.on('change', onChange);
      this._doc.on('update', onChange);
      this._provider.on('sync', onChange);
      const timer = window.setTimeout(() => done(false), timeout);
    });
  }

  /** Where `username`'s caret is in the text, or null when they have none here. */
  private _caretOf(username: string): number | null {
    const awareness = this._provider.awareness;
    for (const [clientId, state] of awareness.getStates()) {
      const user = state['user'] as IAwarenessUser | undefined;
      const head = (state['cursor'] as { head?: unknown } | null | undefined)?.head;
      if (clientId === awareness.clientID || user?.username !== username || !head) {
        continue;
      }
      const position = Y.createAbsolutePositionFromRelativePosition(
        Y.createRelativePositionFromJSON(head),
        this._doc
      );
      if (position) {
        return Math.min(position.index, this.editor.state.doc.length);
      }
    }
    return null;
  }

  /** The Yjs document of the room. */
  get doc(): Y.Doc {
    return this._doc;
  }

  /**
   * Add CodeMirror extensions to the editor (another plugin's highlights, gutters, keys),
   * after the ones it was created with.
   */
  addExtension(extension: Extension): void {
    this._editor.injectExtension(extension);
  }

  /**
   * Show `panel` beside the editor, on its right (the comments, the history…), after the
   * panels added before it. It gets the attach messages of the editor and is disposed with it.
   */
  addSidePanel(panel: Widget): void {
    if (!this._sideBody) {
      // Editor and panels in a row, below the header (made on the first panel only).
      const host = this._editor.host;
      this._sideBody = document.createElement('div');
      this._sideBody.className = 'jp-OmniForge-RoomEditor-body';
      host.replaceWith(this._sideBody);
      this._sideBody.append(host);
    }
    const attached = this.isAttached;
    if (attached) {
      MessageLoop.sendMessage(panel, Widget.Msg.BeforeAttach);
    }
    this._sideBody.append(panel.node);
    if (attached) {
      MessageLoop.sendMessage(panel, Widget.Msg.AfterAttach);
    }
    this._sidePanels.push(panel);
    panel.disposed.connect(() => {
      this._sidePanels = this._sidePanels.filter(p => p !== panel);
      panel.node.remove();
    });
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._provider.awareness.off('change', this._renderPeople);
    themeChanged.disconnect(this._renderPeople, this);
    this._colors.stop();
    this._sidePanels.slice().forEach(panel => panel.dispose());
    this._status.dispose();
    this._server.settingsChanged.disconnect(this._onSettings, this);
    this._editorConfig?.changed.disconnect(this._onEditorConfig, this);
    this._languageSelect.dispose();
    this._language.dispose();
    this._editor.dispose();
    this._model.dispose();
    this._provider.destroy();
    void this._persistence.destroy();
    this._doc.destroy();
    Signal.clearData(this);
    super.dispose();
  }

  /** The side panels live in this widget's node: they get its attach, show and resize messages. */
  protected override notifyLayout(msg: Message): void {
    super.notifyLayout(msg);
    if (msg.type !== 'update-request' && msg.type !== 'fit-request') {
      this._sidePanels.forEach(panel => MessageLoop.sendMessage(panel, msg));
    }
  }

  protected override onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._editor.focus();
  }

  /** Show the text in the room's language (the editor finds it by its model's MIME type). */
  private _applyLanguage(): void {
    const spec = this._languages.findBest(this._language.name, false);
    this._model.mimeType = spec ? this._mimeOf(spec) : 'text/plain';
    this.node.dataset.language = spec?.name ?? this._language.name;
  }

  /** A MIME type the registry maps back to `spec` (else its name, which it looks up first). */
  private _mimeOf(spec: IEditorLanguage): string {
    const mime = Array.isArray(spec.mime) ? spec.mime[0] : (spec.mime as string);
    return mime && this._languages.findBest(mime, false) === spec ? mime : spec.name;
  }

  private _onSettings(): void {
    this._language.setDefault(this._server.settings.defaultLanguage);
  }

  /** The text editor's settings changed: apply them, who may write staying as it is. */
  private _onEditorConfig(_: unknown, config: Readonly<Record<string, unknown>>): void {
    this._editor.setOptions({ ...config, readOnly: this._editor.getOption('readOnly') });
  }

  private _onState(): void {
    const state = this.state;
    if (state === 'connected') {
      if (this._everConnected) {
        // Back after a loss: what we may do may have changed meanwhile.
        void this._checkAccess();
      }
      this._everConnected = true;
    }
    this._renderState();
    this._stateChanged.emit(state);
  }

  /** Ask the server what this user may do here, and follow the answer. */
  private async _checkAccess(): Promise<void> {
    const check = ++this._checks;
    let permissions: IRoomPermissions | null = null;
    try {
      permissions = await this._access.fetch(this.omniforgeRoom);
    } catch (error) {
      // Offline, or a server without the access endpoint: let the server judge the edits.
      console.info(`OmniForge: could not ask what you may do in ${this.omniforgeRoom}`, error);
    }
    if (this.isDisposed || check !== this._checks) {
      return; // a newer check is under way
    }
    this._accessKnown = true;
    if (permissions && !permissions.actions.includes('write')) {
      this._notAllowed = permissions.actions.length
        ? this._trans.__(
            'You can read %1 but not edit it: your permissions here are %2.',
            this.omniforgeRoom,
            permissions.actions.join(', ')
          )
        : this._trans.__('You have no permission to edit %1.', this.omniforgeRoom);
    } else {
      this._notAllowed = null;
      if (permissions && check > this._refusedAtCheck) {
        // Asked after the server refused an edit, and writing is allowed again.
        this._refused = null;
      }
    }
    this._renderReadOnly();
  }

  private _renderState(): void {
    const state = this.state;
    this._statusNode.dataset.state = state;
    this._statusNode.textContent = stateLabel(state, this._trans);
    this._hintNode.textContent =
      (state === 'offline' || state === 'reconnecting') && this.readOnlyReason === null
        ? this._trans.__(
            'Your edits are kept in this browser and merged when the connection is back.'
          )
        : '';
  }

  private _renderPeople = (): void => {
    const people = new Map<string, IAwarenessUser>();
    this._provider.awareness.getStates().forEach(state => {
      const user = state['user'] as IAwarenessUser | undefined;
      if (user && typeof user.username === 'string' && !people.has(user.username)) {
        // In the colour the server sent, not the one resolved for the carets.
        people.set(user.username, { ...user, color: sourceColorOf(user) });
      }
    });
    this._peopleNode.replaceChildren(...Array.from(people.values(), createAvatar));
  };

  /** The server refused something this connection sent, with `reason`. */
  private _denied(reason: string): void {
    if (PRESENCE_REASON.test(reason) && !READ_ONLY_REASON.test(reason)) {
      // Our caret was not shown to the others; editing is not concerned.
      console.info(`OmniForge: ${reason}`);
      return;
    }
    if (READ_ONLY_REASON.test(reason)) {
      this._refused = this._trans.__('The server refused your edit: %1', reason);
      this._refusedAtCheck = this._checks;
      this._renderReadOnly();
      // Ask again, so that a permission given back (and a reconnect) makes it writable.
      void this._checkAccess();
      return;
    }
    // Something else (a document grown past the server's limit): the edit was not kept.
    this._showNotice(this._trans.__('The server did not keep your edit: %1', reason));
  }

  private _renderReadOnly(): void {
    const reason = this.readOnlyReason;
    const readOnly = reason !== null || !this._accessKnown;
    if (readOnly !== this._editor.getOption('readOnly')) {
      this._editor.setOption('readOnly', readOnly);
    }
    this._languageSelect.enabled = !readOnly;
    this._readOnlyNode.hidden = reason === null;
    this._readOnlyNode.title = reason ?? '';
    this._readOnlyNode.setAttribute(
      'aria-label',
      reason === null ? '' : this._trans.__('Read-only: %1', reason)
    );
    this.node.dataset.readOnly = reason === null ? 'false' : 'true';
    this._renderState();
  }

  private _showNotice(text: string): void {
    this._noticeNode.textContent = text;
    this._noticeNode.hidden = false;
  }

  private _header: HTMLElement;
  private _statusNode: HTMLElement;
  private _hintNode: HTMLElement;
  private _peopleNode: HTMLElement;
  private _readOnlyNode: HTMLElement;
  private _noticeNode: HTMLElement;
  private _trans: TranslationBundle;
  private _access: IRoomAccess;
  /** Whether the access check has answered (or failed): until then, read-only. */
  private _accessKnown = false;
  /** Why the policy does not let this user write here, or null. */
  private _notAllowed: string | null = null;
  /** Why the server refused an edit, or null. */
  private _refused: string | null = null;
  private _checks = 0;
  private _refusedAtCheck = 0;
  private _everConnected = false;
  private _doc: Y.Doc;
  private _persistence: IndexeddbPersistence;
  private _provider: WebsocketProvider;
  private _status: ProviderStatus;
  private _server: IOmniForgeServer;
  private _model: CodeEditor.Model;
  private _editor: CodeMirrorEditor;
  private _editorConfig: IEditorConfigSource | null;
  private _languages: IEditorLanguageRegistry;
  private _language: RoomLanguage;
  private _languageSelect: LanguageSelect;
  private _colors: { resolve(): void; stop(): void };
  private _stateChanged = new Signal<this, ConnectionState>(this);
  /** Where the editor and the side panels sit in a row (made with the first panel). */
  private _sideBody: HTMLElement | null = null;
  private _sidePanels: Widget[] = [];
}

export namespace RoomEditor {
  export interface IOptions {
    room: string;
    server: IOmniForgeServer;
    /** JupyterLab's editor services: the editor is made as a file editor's is. */
    editorServices: IEditorServices;
    /** The languages a room may be in (JupyterLab's registry). */
    languages: IEditorLanguageRegistry;
    /** The text editor settings to follow (else the CodeMirror defaults alone). */
    editorConfig?: IEditorConfigSource | null;
    /** This JupyterLab's user, for its own awareness state. */
    user?: IAwarenessUser | null;
    /** What this user may do in each room (else the editor asks the server itself). */
    access?: IRoomAccess | null;
    translator?: ITranslator | null;
  }
}
