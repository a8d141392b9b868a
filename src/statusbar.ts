/**
 * The status bar item: the connection state (of the current room editor, else of presence) and
 * how many people are in the current room or document.
 */
import type { IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

import { stateLabel } from './avatar';
import type { ConnectionState, IOmniForgeServer, IPresence, IRoomEditorTracker } from './tokens';

export class OmniForgeStatus extends Widget {
  constructor(options: OmniForgeStatus.IOptions) {
    super();
    this._options = options;
    this.addClass('jp-OmniForge-statusItem');
    this.node.title = 'OmniForge: connection and collaborators here';
    this._dot = document.createElement('span');
    this._dot.className = 'jp-OmniForge-statusDot';
    this._label = document.createElement('span');
    this._label.className = 'jp-OmniForge-statusLabel';
    this._count = document.createElement('span');
    this._count.className = 'jp-OmniForge-statusCount';
    this.node.append(this._dot, this._label, this._count);

    const { presence, tracker, server } = options;
    presence.changed.connect(this._render, this);
    server.settingsChanged.connect(this._render, this);
    server.availabilityChanged.connect(this._render, this);
    tracker?.currentChanged.connect(this._onCurrentEditor, this);
    this._onCurrentEditor();
  }

  override dispose(): void {
    this._editorConnection?.dispose();
    super.dispose();
  }

  private _onCurrentEditor(): void {
    this._editorConnection?.dispose();
    this._editorConnection = null;
    const editor = this._options.tracker?.currentWidget?.content;
    if (editor) {
      editor.stateChanged.connect(this._render, this);
      this._editorConnection = {
        isDisposed: false,
        dispose: () => editor.stateChanged.disconnect(this._render, this)
      };
    }
    this._render();
  }

  private _render(): void {
    const { presence, tracker, server } = this._options;
    const editor = tracker?.currentWidget?.content;
    const showsEditor = !!editor && editor.omniforgeRoom === presence.currentRoom;
    const state: ConnectionState =
      server.availability.status !== 'ok' && server.availability.status !== 'checking'
        ? 'unavailable'
        : showsEditor
          ? editor.state
          : presence.state;
    this.node.dataset.state = state;
    this._label.textContent = `OmniForge: ${stateLabel(state)}`;
    const room = presence.currentRoom;
    if (room && server.settings.showPresence && state !== 'unavailable') {
      const count = presence.collaboratorsIn(room).length;
      this._count.textContent = ` · ${count} here`;
      this._count.title = `${count} ${count === 1 ? 'person' : 'people'} in ${room}`;
      this._count.hidden = false;
    } else {
      this._count.textContent = '';
      this._count.hidden = true;
    }
  }

  private _options: OmniForgeStatus.IOptions;
  private _dot: HTMLElement;
  private _label: HTMLElement;
  private _count: HTMLElement;
  private _editorConnection: IDisposable | null = null;
}

export namespace OmniForgeStatus {
  export interface IOptions {
    server: IOmniForgeServer;
    presence: IPresence;
    tracker: IRoomEditorTracker | null;
  }
}
