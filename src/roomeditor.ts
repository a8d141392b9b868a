/**
 * The room editor: a CodeMirror 6 view bound to a room's `code` text with y-codemirror.next —
 * remote carets and selections labelled with names and colours, undo of one's own edits only —
 * kept offline in IndexedDB and merged with the server's copy on reconnect.
 */
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { Compartment, EditorState } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  keymap,
  lineNumbers
} from '@codemirror/view';
import { jupyterTheme } from '@jupyterlab/codemirror';
import type { Message } from '@lumino/messaging';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import { IndexeddbPersistence } from 'y-indexeddb';
import * as authProtocol from 'y-protocols/auth';
import { messageAuth, WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import { createAvatar, stateLabel } from './avatar';
import { ProviderStatus } from './connection';
import type { ConnectionState, IAwarenessUser, IOmniForgeServer, IRoomEditor } from './tokens';

/** The name of the text root the editor binds (the rooms' `code`). */
export const CODE_ROOT = 'code';

export class RoomEditor extends Widget implements IRoomEditor {
  constructor(options: RoomEditor.IOptions) {
    super();
    const { room, server } = options;
    this.omniforgeRoom = room;
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
    this._noticeNode = document.createElement('div');
    this._noticeNode.className = 'jp-OmniForge-notice';
    this._noticeNode.hidden = true;
    this._header.append(title, this._statusNode, this._hintNode, this._peopleNode);
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
      this._showNotice(`The server closed this room: ${event.reason || `code ${event.code}`}.`);
    });
    if (options.user) {
      // The server stamps `user` for the others; this is what a local-only view shows.
      provider.awareness.setLocalStateField('user', options.user);
    }
    provider.awareness.on('change', this._renderPeople);

    this._status = new ProviderStatus(provider);
    this._status.changed.connect(this._onState, this);

    this._editor = new EditorView({
      parent: host,
      state: EditorState.create({
        doc: ytext.toString(),
        extensions: [
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
          lineNumbers(),
          drawSelection(),
          highlightActiveLine(),
          EditorView.lineWrapping,
          jupyterTheme,
          this._readOnly.of(EditorState.readOnly.of(false)),
          yCollab(ytext, provider.awareness)
        ]
      })
    });
    this._renderState();
    this._renderPeople();
  }

  readonly omniforgeRoom: string;

  get state(): ConnectionState {
    return this._status.state;
  }

  get stateChanged(): Signal<this, ConnectionState> {
    return this._stateChanged;
  }

  /** The CodeMirror view (for tests and other extensions). */
  get editor(): EditorView {
    return this._editor;
  }

  /** The Yjs document of the room. */
  get doc(): Y.Doc {
    return this._doc;
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._provider.awareness.off('change', this._renderPeople);
    this._status.dispose();
    this._editor.destroy();
    this._provider.destroy();
    void this._persistence.destroy();
    this._doc.destroy();
    Signal.clearData(this);
    super.dispose();
  }

  protected override onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this._editor.focus();
  }

  private _onState(): void {
    this._renderState();
    this._stateChanged.emit(this.state);
  }

  private _renderState(): void {
    const state = this.state;
    this._statusNode.dataset.state = state;
    this._statusNode.textContent = stateLabel(state);
    this._hintNode.textContent =
      state === 'offline' || state === 'reconnecting'
        ? 'Your edits are kept in this browser and merged when the connection is back.'
        : '';
  }

  private _renderPeople = (): void => {
    const people = new Map<string, IAwarenessUser>();
    this._provider.awareness.getStates().forEach(state => {
      const user = state['user'] as IAwarenessUser | undefined;
      if (user && typeof user.username === 'string' && !people.has(user.username)) {
        people.set(user.username, user);
      }
    });
    this._peopleNode.replaceChildren(...Array.from(people.values(), createAvatar));
  };

  private _denied(reason: string): void {
    this._editor.dispatch({
      effects: this._readOnly.reconfigure(EditorState.readOnly.of(true))
    });
    this._showNotice(`Read-only: ${reason}`);
  }

  private _showNotice(text: string): void {
    this._noticeNode.textContent = text;
    this._noticeNode.hidden = false;
  }

  private _header: HTMLElement;
  private _statusNode: HTMLElement;
  private _hintNode: HTMLElement;
  private _peopleNode: HTMLElement;
  private _noticeNode: HTMLElement;
  private _doc: Y.Doc;
  private _persistence: IndexeddbPersistence;
  private _provider: WebsocketProvider;
  private _status: ProviderStatus;
  private _editor: EditorView;
  private _readOnly = new Compartment();
  private _stateChanged = new Signal<this, ConnectionState>(this);
}

export namespace RoomEditor {
  export interface IOptions {
    room: string;
    server: IOmniForgeServer;
    /** This JupyterLab's user, for its own awareness state. */
    user?: IAwarenessUser | null;
  }
}
