/**
 * Threads in the editor: each open thread's range highlighted, and a marker in the gutter of the
 * line it starts on. A range is where the thread's Yjs relative positions resolve in the
 * editor's own Y.Doc, so it moves with every edit, local or remote, exactly as the server's copy
 * does; between two resolutions (an edit being typed) CodeMirror maps it through the changes,
 * which follows the same rule (text typed at an edge stays outside).
 */
import {
  type EditorState,
  type Extension,
  RangeSet,
  RangeSetBuilder,
  StateEffect,
  StateField
} from '@codemirror/state';
import {
  Decoration,
  type DecorationSet,
  EditorView,
  gutter,
  GutterMarker
} from '@codemirror/view';
import * as Y from 'yjs';

import type { IThread } from './types';

/** Where one thread is in the editor now (UTF-16 offsets, like CodeMirror's). */
export interface IThreadRange {
  readonly id: string;
  readonly from: number;
  readonly to: number;
}

/** Replace the ranges shown (resolved from the document). */
const setRanges = StateEffect.define<IThreadRange[]>();
/** The thread the panel shows as current, or null. */
export const setActiveThread = StateEffect.define<string | null>();

interface IAnchorState {
  readonly ranges: DecorationSet;
  readonly active: string | null;
}

function build(ranges: readonly IThreadRange[], active: string | null): DecorationSet {
  const sorted = ranges.filter(r => r.to > r.from).sort((a, b) => a.from - b.from || a.to - b.to);
  return Decoration.set(
    sorted.map(r =>
      Decoration.mark({
        class:
          r.id === active
            ? 'jp-OmniForge-commentRange jp-mod-active'
            : 'jp-OmniForge-commentRange',
        attributes: { 'data-thread': r.id },
        thread: r.id
      }).range(r.from, r.to)
    )
  );
}

/** The ranges a decoration set holds now. */
function rangesOf(set: DecorationSet): IThreadRange[] {
  const ranges: IThreadRange[] = [];
  for (let it = set.iter(); it.value; it.next()) {
    ranges.push({ id: it.value.spec.thread as string, from: it.from, to: it.to });
  }
  return ranges;
}

const anchorField = StateField.define<IAnchorState>({
  create: () => ({ ranges: Decoration.none, active: null }),
  update(value, tr) {
    let { ranges, active } = value;
    ranges = ranges.map(tr.changes);
    let rebuild: IThreadRange[] | null = null;
    for (const effect of tr.effects) {
      if (effect.is(setRanges)) {
        rebuild = effect.value;
      } else if (effect.is(setActiveThread) && effect.value !== active) {
        active = effect.value;
        rebuild = rebuild ?? rangesOf(ranges);
      }
    }
    if (rebuild) {
      ranges = build(rebuild, active);
    }
    return ranges === value.ranges && active === value.active ? value : { ranges, active };
  },
  provide: field => EditorView.decorations.from(field, value => value.ranges)
});

class ThreadMarker extends GutterMarker {
  constructor(
    readonly threads: readonly string[],
    readonly label: string
  ) {
    super();
  }

  override eq(other: GutterMarker): boolean {
    return other instanceof ThreadMarker && other.threads.join() === this.threads.join();
  }

  override toDOM(): Node {
    const node = document.createElement('span');
    node.className = 'jp-OmniForge-commentMarker';
    node.dataset.threads = this.threads.join(' ');
    node.title = this.label;
    node.textContent = this.threads.length > 1 ? String(this.threads.length) : '';
    return node;
  }
}

function markersOf(state: EditorState, label: (count: number) => string): RangeSet<GutterMarker> {
  const byLine = new Map<number, string[]>();
  for (const range of rangesOf(state.field(anchorField).ranges)) {
    const line = state.doc.lineAt(range.from).from;
    const list = byLine.get(line) ?? [];
    if (!list.includes(range.id)) {
      list.push(range.id);
    }
    byLine.set(line, list);
  }
  const builder = new RangeSetBuilder<GutterMarker>();
  for (const line of [...byLine.keys()].sort((a, b) => a - b)) {
    const threads = byLine.get(line)!;
    builder.add(line, line, new ThreadMarker(threads, label(threads.length)));
  }
  return builder.finish();
}

/**
 * Binds threads to one editor: call {@link setThreads} when they change; the ranges are
 * resolved again after every change of the document.
 */
export class ThreadAnchors {
  constructor(options: ThreadAnchors.IOptions) {
    this._doc = options.doc;
    this._text = options.doc.getText(options.root);
    this._onSelect = options.onSelect;
    this._onResolved = options.onResolved;
    const label = options.markerLabel;
    this.extension = [
      anchorField,
      gutter({
        class: 'jp-OmniForge-commentGutter',
        markers: view => markersOf(view.state, label),
        domEventHandlers: {
          mousedown: (view, line) => {
            const ids = this.threadsOnLine(view, line.from);
            if (ids.length) {
              this._onSelect(ids[0]);
              return true;
            }
            return false;
          }
        }
      }),
      EditorView.domEventHandlers({
        click: (event, _view) => {
          const target = (event.target as HTMLElement | null)?.closest?.('[data-thread]');
          const id = target?.getAttribute('data-thread');
          if (id) {
            this._onSelect(id);
          }
          return false;
        }
      })
    ];
    this._doc.on('update', this._schedule);
  }

  /** The CodeMirror extensions to add to the editor (once). */
  readonly extension: Extension;

  /** Attach to the view the extension was added to. */
  attach(view: EditorView): void {
    this._view = view;
    this._resolve();
  }

  /** The threads to show (resolved ones are not highlighted). */
  setThreads(threads: Iterable<IThread>): void {
    this._threads = Array.from(threads).filter(t => !t.resolved && t.anchor);
    // An anchor never changes: keep the decoded ones of the threads still here.
    const ids = new Set(this._threads.map(t => t.id));
    for (const id of this._decoded.keys()) {
      if (!ids.has(id)) {
        this._decoded.delete(id);
      }
    }
    // The panel orders its cards by these ranges now; the editor shows them at its next frame,
    // so that a page of threads is drawn in the panel without waiting for the editor's update.
    this._resolve(true);
  }

  /** Where the thread `id` is now in this editor, as last resolved or mapped. */
  rangeOf(id: string): IThreadRange | null {
    if (this._pending) {
      return this._pending.index.get(id) ?? null;
    }
    const set = this._view?.state.field(anchorField).ranges;
    if (!set) {
      return null;
    }
    if (set !== this._indexed) {
      // One pass over the decorations per state of them, not one per thread asked about.
      this._indexed = set;
      this._index = new Map(rangesOf(set).map(r => [r.id, r]));
    }
    return this._index.get(id) ?? null;
  }

  /** Every highlighted range now. */
  ranges(): IThreadRange[] {
    return this._view ? rangesOf(this._view.state.field(anchorField).ranges) : [];
  }

  /**
   * Where a thread is in the document: its relative positions resolved in the local copy, else
   * (before the copy has them) the server's positions. Null for a room-wide thread.
   */
  positionOf(thread: IThread): { from: number; to: number } | null {
    const anchor = thread.anchor;
    if (!anchor) {
      return null;
    }
    const relative = this._decode(thread);
    if (relative) {
      const from = Y.createAbsolutePositionFromRelativePosition(relative[0], this._doc);
      const to = Y.createAbsolutePositionFromRelativePosition(relative[1], this._doc);
      if (from && to && from.type === this._text && to.type === this._text) {
        return { from: from.index, to: Math.max(from.index, to.index) };
      }
    }
    if (anchor.start === null || anchor.end === null) {
      return null;
    }
    const text = this._view?.state.doc;
    const length = text ? text.length : this._text.length;
    return { from: Math.min(anchor.start, length), to: Math.min(anchor.end, length) };
  }

  /** Show `id` as the current thread (null: none) and scroll it into view. */
  activate(id: string | null, scroll = true): void {
    const view = this._view;
    if (!view) {
      return;
    }
    const range = id ? this.rangeOf(id) : null;
    view.dispatch({
      effects: [
        setActiveThread.of(id),
        ...(range && scroll ? [EditorView.scrollIntoView(range.from, { y: 'center' })] : [])
      ]
    });
  }

  /** The threads whose range starts on the line at `lineStart`. */
  threadsOnLine(view: EditorView, lineStart: number): string[] {
    return this.ranges()
      .filter(r => view.state.doc.lineAt(r.from).from === lineStart)
      .map(r => r.id);
  }

  /** Whether everything the thread covered was deleted (in this copy of the document). */
  isCollapsed(id: string): boolean {
    return this._collapsed.has(id);
  }

  dispose(): void {
    this._doc.off('update', this._schedule);
    cancelAnimationFrame(this._frame);
    cancelAnimationFrame(this._pending?.frame ?? 0);
    this._pending = null;
    this._view = null;
  }

  /** After a change of the document: resolve again once the editor has it (next frame). */
  private _schedule = (): void => {
    if (!this._frame) {
      this._frame = requestAnimationFrame(() => {
        this._frame = 0;
        this._resolve();
      });
    }
  };

  /**
   * Resolve every thread's range in the document, and show them in the editor: now, or
   * (`later`) at the start of the next frame, before it is drawn.
   */
  private _resolve(later = false): void {
    const view = this._view;
    if (!view) {
      return;
    }
    const length = view.state.doc.length;
    if (length !== this._text.length && this._waits++ < 30) {
      // The editor has not caught up with the document yet (it will): try on the next frame.
      this._schedule();
      return;
    }
    this._waits = 0;
    const ranges: IThreadRange[] = [];
    this._collapsed.clear();
    for (const thread of this._threads) {
      const position = this.positionOf(thread);
      if (position && position.to > position.from && position.to <= length) {
        ranges.push({ id: thread.id, ...position });
      } else if (position && this._decode(thread)) {
        // Everything it covered was deleted here: orphaned, whatever the server said last.
        this._collapsed.add(thread.id);
      }
    }
    const key = (r: IThreadRange): string => `${r.id}:${r.from}:${r.to}`;
    const now = new Set(this.ranges().map(key));
    const same = now.size === ranges.length && ranges.every(r => now.has(key(r)));
    cancelAnimationFrame(this._pending?.frame ?? 0);
    this._pending = null;
    if (!same && later) {
      const frame = requestAnimationFrame(() => {
        this._pending = null;
        if (this._view === view && view.state.doc.length === length) {
          view.dispatch({ effects: setRanges.of(ranges) });
        } else {
          this._resolve(); // the text changed meanwhile: resolved again, for this text
        }
      });
      this._pending = { frame, index: new Map(ranges.map(r => [r.id, r])) };
    } else if (!same) {
      view.dispatch({ effects: setRanges.of(ranges) });
    }
    this._onResolved?.();
  }

  private _decode(thread: IThread): [Y.RelativePosition, Y.RelativePosition] | null {
    if (this._decoded.has(thread.id)) {
      return this._decoded.get(thread.id) ?? null;
    }
    let decoded: [Y.RelativePosition, Y.RelativePosition] | null = null;
    const relative = thread.anchor?.relative;
    if (relative?.start && relative?.end) {
      try {
        decoded = [
          Y.decodeRelativePosition(fromBase64(relative.start)),
          Y.decodeRelativePosition(fromBase64(relative.end))
        ];
      } catch (error) {
        console.warn(`OmniForge: unreadable anchor of thread ${thread.id}`, error);
      }
    }
    this._decoded.set(thread.id, decoded);
    return decoded;
  }

  private _doc: Y.Doc;
  private _text: Y.Text;
  private _view: EditorView | null = null;
  private _threads: IThread[] = [];
  private _decoded = new Map<string, [Y.RelativePosition, Y.RelativePosition] | null>();
  private _frame = 0;
  private _waits = 0;
  private _collapsed = new Set<string>();
  private _indexed: DecorationSet | null = null;
  /** Ranges resolved and not in the editor yet (until its next frame), by thread. */
  private _pending: { frame: number; index: Map<string, IThreadRange> } | null = null;
  private _index = new Map<string, IThreadRange>();
  private _onSelect: (id: string) => void;
  private _onResolved?: () => void;
}

export namespace ThreadAnchors {
  export interface IOptions {
    doc: Y.Doc;
    root: string;
    /** A thread was clicked in the editor (its highlight or its gutter marker). */
    onSelect(id: string): void;
    /** The tooltip of a marker of `count` threads. */
    markerLabel(count: number): string;
    /** The ranges were resolved again (after a change of the threads or of the text). */
    onResolved?(): void;
  }
}

/**
 * The relative positions of `from`–`to` in `text`, base64: the start sticks to the first
 * character covered, the end to the last, so text typed at either edge stays outside.
 */
export function relativeRange(
  text: Y.Text,
  from: number,
  to: number
): { start: string; end: string } {
  const start = Y.createRelativePositionFromTypeIndex(text, from, 0);
  const end = Y.createRelativePositionFromTypeIndex(text, to, -1);
  return {
    start: toBase64(Y.encodeRelativePosition(start)),
    end: toBase64(Y.encodeRelativePosition(end))
  };
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  bytes.forEach(b => (binary += String.fromCharCode(b)));
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}
