/**
 * The room editor's toolbar select of the room's language: JupyterLab's languages, by name;
 * a choice is the room's, for everyone in it. Disabled for a user who may not edit the room.
 */
import type { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import type { TranslationBundle } from '@jupyterlab/translation';
import { HTMLSelect, type IOptionProps, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { RoomLanguage } from './language';

export class LanguageSelect extends ReactWidget {
  constructor(options: LanguageSelect.IOptions) {
    super();
    this._language = options.language;
    this._languages = options.languages;
    this._trans = options.trans;
    this._room = options.room;
    this.addClass('jp-OmniForge-languageSelect');
    this._language.changed.connect(this._changed, this);
  }

  /** Whether the user may change the language (they may edit the room). */
  get enabled(): boolean {
    return this._enabled;
  }

  set enabled(value: boolean) {
    if (value !== this._enabled) {
      this._enabled = value;
      this.update();
    }
  }

  override dispose(): void {
    this._language.changed.disconnect(this._changed, this);
    super.dispose();
  }

  protected render(): React.ReactElement {
    // Names are looked up regardless of case ("python" is JupyterLab's "Python").
    const current = this._languages.findByName(this._language.name)?.name ?? this._language.name;
    const options = this._options();
    if (!options.some(option => option.value === current)) {
      // A name this JupyterLab does not know (set by another client): shown as it is.
      options.unshift({ value: current, label: current });
    }
    return (
      <HTMLSelect
        aria-label={this._trans.__('Language of %1', this._room)}
        title={this._trans.__('The language of this room, for everyone in it')}
        value={current}
        disabled={!this._enabled}
        options={options}
        onChange={event => this._language.set(event.target.value)}
      />
    );
  }

  /** JupyterLab's languages by their shown name (computed once: the registry is filled at start). */
  private _options(): IOptionProps[] {
    if (!this._cached) {
      this._cached = this._languages
        .getLanguages()
        .map(spec => ({
          value: spec.name,
          label: spec.name === 'none' ? this._trans.__('Plain text') : spec.displayName || spec.name
        }))
        .sort((a, b) => a.label.localeCompare(b.label, undefined, { sensitivity: 'base' }));
    }
    return [...this._cached];
  }

  private _changed(): void {
    this.update();
  }

  private _language: RoomLanguage;
  private _languages: IEditorLanguageRegistry;
  private _trans: TranslationBundle;
  private _room: string;
  private _enabled = false;
  private _cached: { value: string; label: string }[] | null = null;
}

export namespace LanguageSelect {
  export interface IOptions {
    language: RoomLanguage;
    languages: IEditorLanguageRegistry;
    trans: TranslationBundle;
    room: string;
  }
}
