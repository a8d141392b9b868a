/**
 * When the other users' names show at their carets in the room editors: on hover and for a
 * moment after the caret moves (the default), always, or never. The `cursorLabels` setting;
 * the palette's "Collaborator Names…" commands change it. The room editor's node carries the
 * choice as `data-omniforge-cursor-labels`, which style/base.css reads.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, type MainAreaWidget } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import {
  CommandIDs,
  type CursorLabels,
  IOmniForgeServer,
  type IRoomEditor,
  IRoomEditorTracker
} from '../tokens';
import { serverPlugin } from './server';

const MODES: readonly CursorLabels[] = ['hover', 'always', 'never'];

function modeOf(value: unknown): CursorLabels | null {
  return MODES.includes(value as CursorLabels) ? (value as CursorLabels) : null;
}

export const cursorLabelsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:cursor-labels',
  description: "When the other users' names show at their carets in OmniForge room editors.",
  autoStart: true,
  requires: [IOmniForgeServer, IRoomEditorTracker],
  optional: [ISettingRegistry, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    tracker: IRoomEditorTracker,
    settings: ISettingRegistry | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const current = (): CursorLabels => modeOf(server.settings.cursorLabels) ?? 'hover';
    const apply = (widget: MainAreaWidget<IRoomEditor>): void => {
      widget.node.dataset.omniforgeCursorLabels = current();
    };
    tracker.forEach(apply);
    tracker.widgetAdded.connect((_, widget) => apply(widget));
    server.settingsChanged.connect(() => {
      tracker.forEach(apply);
      app.commands.notifyCommandChanged(CommandIDs.cursorLabels);
    });

    const labels: Record<CursorLabels, string> = {
      hover: trans.__('Collaborator Names on Hover'),
      always: trans.__('Collaborator Names Always Shown'),
      never: trans.__('Collaborator Names Never Shown')
    };
    app.commands.addCommand(CommandIDs.cursorLabels, {
      label: args => labels[modeOf(args.mode) ?? 'hover'],
      caption: trans.__("When the other users' names show at their carets in room editors"),
      isToggled: args => current() === (modeOf(args.mode) ?? 'hover'),
      isEnabled: () => settings !== null,
      execute: async args => {
        const mode = modeOf(args.mode);
        if (mode && settings) {
          await settings.set(serverPlugin.id, 'cursorLabels', mode);
        }
      }
    });
    for (const mode of MODES) {
      palette?.addItem({ command: CommandIDs.cursorLabels, args: { mode }, category: 'OmniForge' });
    }
  }
};
