/**
 * The other users' carets in a room editor, as y-codemirror.next draws them, made readable:
 *
 * - their colours resolved to concrete ones (JupyterLab's `var(--jp-collaborator-colorN)` is
 *   what the server passes on, and y-codemirror needs a colour it can make translucent), again
 *   when the theme changes;
 * - the name label hidden but on hover, and for a moment after that caret moves;
 * - the label's text black or white, whichever reads on the user's colour.
 */
import type { Extension } from '@codemirror/state';
import { type EditorView, ViewPlugin, type ViewUpdate } from '@codemirror/view';
import type { Awareness } from 'y-protocols/awareness';
import type * as Y from 'yjs';

import { colorOf, cssColor, resolveColor, type RGB, textColorOn, themeChanged } from './avatar';
import type { IAwarenessUser } from './tokens';

/** How long a caret's name stays shown after it moves (as jupyter-collaboration does). */
export const LABEL_SHOW_MS = 2000;
/** How opaque a remote selection is painted over the text. */
const SELECTION_ALPHA = 0.25;

/** The class of a label shown because its caret moved a moment ago. */
const RECENT_CLASS = 'jp-mod-recent';

interface IAwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

/** The user of a state as this page paints it: the colour the server sent is kept aside. */
interface IPaintedUser extends IAwarenessUser {
  readonly sourceColor?: string;
}

/** The colour the server sent for `user`, before {@link resolveRemoteColors} resolved it. */
export function sourceColorOf(user: IAwarenessUser): string | undefined {
  return (user as IPaintedUser).sourceColor ?? user.color;
}

/**
 * Rewrite the remote states' `user.color`/`colorLight` to concrete colours, in place. Must be
 * listening before y-codemirror is: it reads the states when the awareness changes. Returns
 * what resolves them again (after a theme change) and what stops listening.
 */
export function resolveRemoteColors(awareness: Awareness): { resolve(): void; stop(): void } {
  const resolve = (): void => {
    awareness.getStates().forEach((state, clientId) => {
      const user = state['user'] as IPaintedUser | undefined;
      if (clientId === awareness.clientID || !user || typeof user !== 'object') {
        return;
      }
      const source = user.sourceColor ?? user.color;
      const rgb = resolveColor(colorOf({ ...user, color: source }));
      const color = cssColor(rgb);
      if (user.color !== color || user.sourceColor !== source) {
        state['user'] = {
          ...user,
          sourceColor: source,
          color,
          colorLight: cssColor(rgb, SELECTION_ALPHA)
        };
      }
    });
  };
  awareness.on('change', resolve);
  awareness.on('update', resolve);
  resolve();
  return {
    resolve,
    stop: () => {
      awareness.off('change', resolve);
      awareness.off('update', resolve);
    }
  };
}

/** The CodeMirror extension that shows and colours the remote carets' labels. */
export function cursorLabels(awareness: Awareness, resolveColors: () => void): Extension {
  return ViewPlugin.define(view => new LabelPainter(view, awareness, resolveColors));
}

class LabelPainter {
  constructor(
    private readonly _view: EditorView,
    private readonly _awareness: Awareness,
    private readonly _resolveColors: () => void
  ) {
    _awareness.on('change', this._onChange);
    _awareness.doc.on('afterTransaction', this._onTransaction);
    themeChanged.connect(this._onTheme, this);
    this._remember();
    this._schedule();
  }

  update(update: ViewUpdate): void {
    if (update.docChanged || update.transactions.length || update.viewportChanged) {
      this._schedule();
    }
  }

  destroy(): void {
    this._awareness.off('change', this._onChange);
    this._awareness.doc.off('afterTransaction', this._onTransaction);
    themeChanged.disconnect(this._onTheme, this);
    this._timers.forEach(timer => window.clearTimeout(timer));
  }

  /** Remember each caret where it is, so that a move is told from a renewal. */
  private _remember(): string[] {
    const moved: string[] = [];
    this._awareness.getStates().forEach((state, clientId) => {
      if (clientId === this._awareness.clientID) {
        return;
      }
      const cursor = JSON.stringify(state['cursor'] ?? null);
      const before = this._cursors.get(clientId);
      this._cursors.set(clientId, cursor);
      const name = (state['user'] as IAwarenessUser | undefined)?.name;
      if (before !== undefined && before !== cursor && typeof name === 'string') {
        moved.push(name);
      }
    });
    return moved;
  }

  private _onChange = (change: IAwarenessChange): void => {
    change.removed.forEach(clientId => this._cursors.delete(clientId));
    this._remember().forEach(this._show);
    this._schedule();
  };

  /**
   * Typing moves a caret without changing its awareness state (it is relative to the text
   * after it): the clients whose edits a remote transaction brings have moved too.
   */
  private _onTransaction = (transaction: Y.Transaction): void => {
    if (transaction.local) {
      return;
    }
    const states = this._awareness.getStates();
    transaction.afterState.forEach((clock, clientId) => {
      const name = (states.get(clientId)?.['user'] as IAwarenessUser | undefined)?.name;
      if (clock > (transaction.beforeState.get(clientId) ?? 0) && typeof name === 'string') {
        this._show(name);
      }
    });
    this._schedule();
  };

  /** Show `name`'s label for a moment. */
  private _show = (name: string): void => {
    this._recent.set(name, Date.now() + LABEL_SHOW_MS);
    window.clearTimeout(this._timers.get(name));
    this._timers.set(
      name,
      window.setTimeout(() => {
        this._timers.delete(name);
        this._recent.delete(name);
        this._schedule();
      }, LABEL_SHOW_MS)
    );
  };

  private _onTheme(): void {
    // The remote colours were resolved in the old theme: resolve them again and redraw.
    this._resolveColors();
    this._view.dispatch({});
  }

  /** Paint the labels once CodeMirror has drawn the carets. */
  private _schedule(): void {
    this._view.requestMeasure({ key: this, read: () => null, write: () => this._paint() });
  }

  private _paint(): void {
    const now = Date.now();
    this._view.contentDOM.querySelectorAll<HTMLElement>('.cm-ySelectionCaret').forEach(caret => {
      const label = caret.querySelector<HTMLElement>('.cm-ySelectionInfo');
      if (!label) {
        return;
      }
      const rgb = caret.style.backgroundColor.match(/[\d.]+/g)?.slice(0, 3).map(Number);
      if (rgb && rgb.length === 3) {
        label.style.color = textColorOn(rgb as RGB);
      }
      const until = this._recent.get(label.textContent ?? '');
      label.classList.toggle(RECENT_CLASS, until !== undefined && until > now);
    });
  }

  /** The last cursor seen of each remote client (JSON). */
  private _cursors = new Map<number, string>();
  /** Until when each name's label shows because its caret moved. */
  private _recent = new Map<string, number>();
  private _timers = new Map<string, number>();
}
