/**
 * A version of a room's text, read-only in CodeMirror, with the changes since marked inline:
 * text deleted since (it is in the version, not in the current document) in `<del>`, text
 * inserted since in `<ins>`, each with its author on hover.
 */
import { EditorState, type Extension, type Range } from '@codemirror/state';
import { Decoration, EditorView, lineNumbers } from '@codemirror/view';
import { jupyterTheme } from '@jupyterlab/codemirror';

import type { IDiffPiece } from './model';

export interface IVersionViewOptions {
  /** Where the view goes. */
  parent: HTMLElement;
  /** The accessible name of the text. */
  label: string;
  /** The tooltip of a marked piece (who wrote it, and what happened to it). */
  describe(piece: IDiffPiece): string;
  /** The colour of an author (a safe CSS colour), for the line under their text. */
  colorOf(author: string): string;
}

/**
 * A read-only CodeMirror view of one version. Focusable (the caret moves, text can be selected
 * and copied), never editable.
 */
export class VersionView {
  constructor(options: IVersionViewOptions) {
    this._options = options;
    this.view = new EditorView({ parent: options.parent, state: this._state('', []) });
  }

  readonly view: EditorView;

  /**
   * Show `pieces`: with `changes`, the version with what changed since marked in it; without,
   * the version's text alone (the inserted pieces left out).
   */
  show(pieces: readonly IDiffPiece[], changes: boolean, label?: string): void {
    if (label !== undefined) {
      this._options.label = label;
    }
    const shown = changes ? pieces : pieces.filter(piece => piece.kind !== 'inserted');
    const marks: Range<Decoration>[] = [];
    let at = 0;
    for (const piece of shown) {
      const end = at + piece.text.length;
      if (changes && piece.kind !== 'same' && end > at) {
        marks.push(
          Decoration.mark({
            tagName: piece.kind === 'inserted' ? 'ins' : 'del',
            class: `jp-OmniForge-History-${piece.kind}`,
            attributes: {
              title: this._options.describe(piece),
              'data-author': piece.author,
              style: `--jp-omniforge-author-color: ${this._options.colorOf(piece.author)}`
            }
          }).range(at, end)
        );
      }
      at = end;
    }
    const text = shown.map(piece => piece.text).join('');
    const scroll = this.view.scrollDOM.scrollTop;
    this.view.setState(this._state(text, marks));
    this.view.scrollDOM.scrollTop = scroll; // a live refresh does not jump to the top
  }

  destroy(): void {
    this.view.destroy();
  }

  private _state(text: string, marks: Range<Decoration>[]): EditorState {
    const extensions: Extension[] = [
      lineNumbers(),
      EditorView.lineWrapping,
      jupyterTheme,
      EditorState.readOnly.of(true),
      EditorView.contentAttributes.of({
        'aria-label': this._options.label,
        'aria-readonly': 'true'
      }),
      EditorView.decorations.of(Decoration.set(marks, true))
    ];
    return EditorState.create({ doc: text, extensions });
  }

  private _options: IVersionViewOptions;
}
