/**
 * The status bar item: the connection state (of the current room editor, else of presence) and
 * how many people are in the current room or document.
 */
import { type ITranslator, nullTranslator, type TranslationBundle } from '@jupyterlab/translation';
import type { IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

import { stateLabel } from './avatar';
import type { ConnectionState, IOmniForgeServer, IPresence, IRoomEditorTracker } from './tokens';

export class OmniForgeStatus extends Widget {
  constructor(options: OmniForgeStatus.IOptions) {
    super();
    this._options = options;
    this._trans = (options.translator ?? nullTranslator).load('jupyter_omniforge');
    this.addClass('jp-OmniForge-statusItem');
    this.node.title = this._trans.__('OmniForge: connection and collaborators here');
    // A button for keyboard users and screen readers: Tab reaches it, Enter or Space opens the
    // sidebar (the plugin listens to `click`, which a key press turns into).
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'button');
    this.node.addEventListener('keydown', this._onKey);
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
    const trans = this._trans;
    this.node.dataset.state = state;
    const status = trans.__('OmniForge: %1', stateLabel(state, trans));
    this._label.textContent = status;
    const room = presence.currentRoom;
    // Only a live connection knows who is here: offline, the last count would be stale.
    if (room && server.settings.showPresence && state === 'connected') {
      const count = presence.collaboratorsIn(room).length;
      const here = trans._n('%1 person in %2', '%1 people in %2', count, room);
      this._count.textContent = ` · ${trans.__('%1 here', count)}`;
      this._count.title = here;
      this._count.hidden = false;
      this.node.setAttribute('aria-label', `${status}, ${here}. ${trans.__('Show the sidebar')}`);
    } else {
      this._count.textContent = '';
      this._count.hidden = true;
      this.node.setAttribute('aria-label', `${status}. ${trans.__('Show the sidebar')}`);
    }
  }

  private _onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.node.click();
    }
  };

  private _options: OmniForgeStatus.IOptions;
  private _trans: TranslationBundle;
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
    translator?: ITranslator | null;
  }
}
