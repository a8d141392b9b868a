/**
 * Comments in one room editor: the room's {@link CommentsModel}, its threads highlighted in the
 * editor ({@link ThreadAnchors}) and the {@link CommentsPanel} beside it, kept in step.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

import { CODE_ROOT, type RoomEditor } from '../roomeditor';
import type { IOmniForgeServer, IPresence, IRoomAccess } from '../tokens';
import { relativeRange, ThreadAnchors } from './anchors';
import { CommentsModel } from './model';
import { CommentsPanel, type ICommentsHost } from './panel';
import type { IComment, ICommentUser, IThread } from './types';

/** How long keys typed before the new comment's box shows are kept for it, at most. */
const TYPE_AHEAD_MS = 1000;

export class CommentsController implements IDisposable {
  constructor(options: CommentsController.IOptions) {
    const { editor, trans } = options;
    this.editor = editor;
    this.room = editor.omniforgeRoom;
    this._options = options;
    this.model = new CommentsModel({ room: this.room, server: options.server });
    this.anchors = new ThreadAnchors({
      doc: editor.doc,
      root: CODE_ROOT,
      onSelect: id => this.focusThread(id, false),
      markerLabel: count =>
        count === 1 ? trans.__('A comment thread') : trans.__('%1 comment threads', count),
      onResolved: () => this._changed.emit()
    });
    editor.addExtension(this.anchors.extension);
    this.anchors.attach(editor.editor);
    this.model.changed.connect(this._onModel, this);
    options.presence?.changed.connect(this._emit, this);
    options.access?.changed.connect(this._emit, this);
    this.panel = new CommentsPanel(this._host());
    this.panel.id = `${editor.id}-comments`;
    editor.addSidePanel(this.panel);
  }

  readonly room: string;
  readonly editor: RoomEditor;
  readonly model: CommentsModel;
  readonly anchors: ThreadAnchors;
  readonly panel: CommentsPanel;

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Start a thread on the editor's selection (the caret's line when nothing is selected): the
   * range is fixed now, as Yjs relative positions, so edits made while the comment is written
   * move it like any other.
   */
  startThread(): void {
    if (this._canComment() === false) {
      return; // the button says why; the server would refuse the thread anyway
    }
    const view = this.editor.editor;
    const selection = view.state.selection.main;
    let { from, to } = selection;
    if (from === to) {
      const line = view.state.doc.lineAt(from);
      ({ from, to } = line);
    }
    const text = this.editor.doc.getText(CODE_ROOT);
    if (from === to || to > text.length) {
      // An empty line: a room-wide thread.
      this._draft = { id: ++this._drafts, relative: null, quote: '' };
    } else {
      this._draft = {
        id: ++this._drafts,
        relative: relativeRange(text, from, to),
        quote: view.state.sliceDoc(from, to)
      };
    }
    // The composer takes the focus when it is drawn, a moment from now (a key binding runs
    // its command asynchronously): what is typed meanwhile is kept for it, not lost.
    this._typed = '';
    document.addEventListener('keydown', this._buffer, true);
    window.clearTimeout(this._bufferTimer);
    this._bufferTimer = window.setTimeout(() => this._takeTyped(), TYPE_AHEAD_MS);
    this._emit();
  }

  /** The keys typed since the draft was asked for (the composer starts with them). */
  private _takeTyped(): string {
    document.removeEventListener('keydown', this._buffer, true);
    window.clearTimeout(this._bufferTimer);
    const typed = this._typed;
    this._typed = '';
    return typed;
  }

  private _buffer = (event: KeyboardEvent): void => {
    if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      event.stopPropagation();
      this._typed += event.key;
    }
  };

  /** Show the thread `id` in the panel and in the editor. */
  focusThread(id: string, scroll = true): void {
    this._active = id;
    this.anchors.activate(id, scroll);
    this._emit();
    requestAnimationFrame(() => {
      const node = this.panel.node.querySelector<HTMLElement>(`[data-thread="${CSS.escape(id)}"]`);
      node?.scrollIntoView?.({ block: 'nearest' });
    });
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._takeTyped();
    this.anchors.dispose();
    this.model.dispose();
    this.panel.dispose();
    Signal.clearData(this);
  }

  private _onModel(): void {
    this.anchors.setThreads(this.model.threads.values());
    this._emit();
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._changed.emit();
    }
  }

  private _host(): ICommentsHost {
    const { trans, sanitizer, presence } = this._options;
    const view = (): RoomEditor['editor'] => this.editor.editor;
    return {
      room: this.room,
      trans,
      sanitizer,
      me: () => this._options.me(),
      threads: () => this.model.threads.values(),
      loaded: () => this.model.loaded,
      error: () => this.model.error,
      rangeOf: id => this.anchors.rangeOf(id),
      textAt: (from, to) => view().state.sliceDoc(from, to),
      isOrphaned: thread =>
        !!thread.anchor && (thread.orphaned || this.anchors.isCollapsed(thread.id)),
      canComment: () => this._canComment(),
      people: () => {
        const people = new Map<string, ICommentUser>();
        const me = this._options.me();
        const add = (user: ICommentUser): void => {
          if (user.username && user.username !== me && !people.has(user.username)) {
            people.set(user.username, user);
          }
        };
        presence?.collaboratorsIn(this.room).forEach(c => add(c.user));
        presence?.collaborators.forEach(c => add(c.user));
        const recent = [...this.model.threads.values()]
          .flatMap(t => t.comments)
          .sort((a, b) => b.created - a.created);
        recent.forEach(c => add(c.author));
        return [...people.values()];
      },
      draft: () => this._draft,
      takeTyped: () => this._takeTyped(),
      active: () => this._active,
      changed: this._changed,
      startThread: () => this.startThread(),
      cancelDraft: () => {
        this._takeTyped();
        this._draft = null;
        this._emit();
        view().focus();
      },
      submitDraft: async body => {
        const draft = this._draft;
        if (!draft) {
          return;
        }
        const thread = await this.model.createThread(
          body,
          draft.relative ? { root: CODE_ROOT, relative: draft.relative } : null
        );
        if (this._draft === draft) {
          this._draft = null;
        }
        this.focusThread(thread.id, false);
      },
      reply: async (thread, body) => {
        await this.model.reply(thread.id, body);
      },
      setResolved: (thread: IThread, resolved: boolean) =>
        this.model.setResolved(thread.id, resolved),
      react: (comment: IComment, emoji: string, on: boolean) =>
        this.model.react(comment, emoji, on),
      editComment: (comment, body) => this.model.editComment(comment, body),
      deleteComment: comment => this.model.deleteComment(comment),
      reveal: thread => {
        const range = this.anchors.rangeOf(thread.id);
        this.focusThread(thread.id, true);
        if (range) {
          view().dispatch({ selection: { anchor: range.from, head: range.to } });
          view().focus();
        }
      }
    };
  }

  /** Whether this user may comment here: `write` or `comment` (undefined: not known yet). */
  private _canComment(): boolean | undefined {
    const access = this._options.access;
    if (!access) {
      return undefined;
    }
    const write = access.can(this.room, 'write');
    const comment = access.can(this.room, 'comment');
    return write === undefined && comment === undefined ? undefined : !!(write || comment);
  }

  private _options: CommentsController.IOptions;
  private _draft: {
    id: number;
    relative: { start: string; end: string } | null;
    quote: string;
  } | null = null;
  private _drafts = 0;
  private _active: string | null = null;
  private _typed = '';
  private _bufferTimer = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
}

export namespace CommentsController {
  export interface IOptions {
    editor: RoomEditor;
    server: IOmniForgeServer;
    trans: TranslationBundle;
    sanitizer: { sanitize(dirty: string): string };
    /** The current user's name. */
    me(): string;
    presence?: IPresence | null;
    access?: IRoomAccess | null;
  }
}
