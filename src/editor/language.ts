/**
 * The language of a room: the `language` key of its `meta` map (a Yjs root the server leaves
 * free), so that a change by one user reaches everyone in the room, offline edits included.
 * A room that never chose one shows in the user's default language (a setting), and nothing is
 * written for it: two users opening a fresh room do not race to set it.
 */
import type { IDisposable } from '@lumino/disposable';
import { type ISignal, Signal } from '@lumino/signaling';
import type * as Y from 'yjs';

/** The Y.Map root holding the room's metadata. */
export const META_ROOT = 'meta';
/** The key of the language's name in it (a name of JupyterLab's language registry). */
export const LANGUAGE_KEY = 'language';
/** The language of a room that never chose one, when no setting says otherwise. */
export const DEFAULT_LANGUAGE = 'python';
/** Longer names are not a language (nor kept). */
const MAX_NAME = 100;

export class RoomLanguage implements IDisposable {
  constructor(doc: Y.Doc, defaultLanguage: string = DEFAULT_LANGUAGE) {
    this._meta = doc.getMap(META_ROOT);
    this._default = defaultLanguage || DEFAULT_LANGUAGE;
    this._current = this._read();
    this._meta.observe(this._onMeta);
  }

  /** The language the room is in: its own, else the default. */
  get name(): string {
    return this._current;
  }

  /** Whether the room chose its language (else it shows in the default one). */
  get chosen(): boolean {
    return this._chosen() !== null;
  }

  get changed(): ISignal<this, string> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Set the room's language, for everyone in it. */
  set(name: string): void {
    if (!name || name.length > MAX_NAME || name === this._chosen()) {
      return;
    }
    this._meta.set(LANGUAGE_KEY, name);
  }

  /** The language of a room that did not choose one changed (the setting). */
  setDefault(name: string): void {
    this._default = name || DEFAULT_LANGUAGE;
    this._update();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._meta.unobserve(this._onMeta);
    Signal.clearData(this);
  }

  private _chosen(): string | null {
    const value = this._meta.get(LANGUAGE_KEY);
    // Anyone may write the map: anything but a plausible name is ignored.
    return typeof value === 'string' && value && value.length <= MAX_NAME ? value : null;
  }

  private _read(): string {
    return this._chosen() ?? this._default;
  }

  private _onMeta = (event: Y.YMapEvent<unknown>): void => {
    if (event.keysChanged.has(LANGUAGE_KEY)) {
      this._update();
    }
  };

  private _update(): void {
    const name = this._read();
    if (name !== this._current) {
      this._current = name;
      this._changed.emit(name);
    }
  }

  private _meta: Y.Map<unknown>;
  private _default: string;
  private _current: string;
  private _disposed = false;
  private _changed = new Signal<this, string>(this);
}
