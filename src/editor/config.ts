/**
 * The settings a room editor follows: those of JupyterLab's text editor (Settings → Text Editor:
 * line numbers, wrapping, font, size, rulers…), over the CodeMirror defaults every editor made by
 * JupyterLab's editor services already follows (theme, key map, Settings → CodeMirror).
 */
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { IDisposable } from '@lumino/disposable';
import { type ISignal, Signal } from '@lumino/signaling';

/** The plugin of JupyterLab's text editor, whose `editorConfig` a file editor applies. */
export const FILE_EDITOR_PLUGIN = '@jupyterlab/fileeditor-extension:plugin';

/** Options the room editor sets itself (who may write), never from the settings. */
const OWN_OPTIONS = ['readOnly'];

/** Editor options (`CodeMirrorEditor.setOptions`), and when they change. */
export interface IEditorConfigSource {
  readonly config: Readonly<Record<string, unknown>>;
  readonly changed: ISignal<IEditorConfigSource, Readonly<Record<string, unknown>>>;
}

/**
 * The text editor's settings, live: empty until loaded (the editors then get them through
 * `changed`), so that no room editor waits for the setting registry to open.
 */
export class TextEditorSettings implements IEditorConfigSource, IDisposable {
  constructor(registry: ISettingRegistry | null) {
    if (registry) {
      void this._load(registry);
    }
  }

  get config(): Readonly<Record<string, unknown>> {
    return this._config;
  }

  get changed(): ISignal<this, Readonly<Record<string, unknown>>> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._settings?.changed.disconnect(this._apply, this);
    Signal.clearData(this);
  }

  private async _load(registry: ISettingRegistry): Promise<void> {
    try {
      const settings = await registry.load(FILE_EDITOR_PLUGIN);
      if (this._disposed) {
        return;
      }
      this._settings = settings;
      settings.changed.connect(this._apply, this);
      this._apply(settings);
    } catch (error) {
      // A JupyterLab without the text editor: the CodeMirror defaults alone.
      console.info('OmniForge: no text editor settings to follow', error);
    }
  }

  private _apply(settings: ISettingRegistry.ISettings): void {
    const composite = settings.get('editorConfig').composite;
    const config: Record<string, unknown> = {};
    if (composite && typeof composite === 'object' && !Array.isArray(composite)) {
      for (const [key, value] of Object.entries(composite)) {
        if (!OWN_OPTIONS.includes(key) && value !== null && value !== undefined) {
          config[key] = value;
        }
      }
    }
    const scrollPastEnd = settings.get('scrollPastEnd').composite;
    if (typeof scrollPastEnd === 'boolean') {
      config['scrollPastEnd'] = scrollPastEnd;
    }
    this._config = config;
    this._changed.emit(config);
  }

  private _config: Readonly<Record<string, unknown>> = {};
  private _settings: ISettingRegistry.ISettings | null = null;
  private _disposed = false;
  private _changed = new Signal<this, Readonly<Record<string, unknown>>>(this);
}
