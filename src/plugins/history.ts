/**
 * The History panel of the room editors: a "History" button in each editor's toolbar (and a
 * command) shows or hides the room's versions beside the editor.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandToolbarButton, historyIcon } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';

import { RoomAccessModel } from '../access';
import { isSafeColor } from '../avatar';
import { HistoryPanel, type IChangeSource } from '../history/panel';
import { VersionHistory } from '../history/model';
import {
  CommandIDs,
  IOmniForgeServer,
  IPresence,
  IRoomAccess,
  type IRoomEditor,
  IRoomEditorTracker
} from '../tokens';

/** What the room editor offers beyond `IRoomEditor` (src/roomeditor.ts). */
interface IHistoryHost extends IRoomEditor {
  readonly doc?: IChangeSource;
  addSidePanel?(panel: Widget): void;
}

/** JupyterLab's collaborator colours (`--jp-collaborator-color1` to `7`). */
const COLLABORATOR_COLORS = 7;

export const historyPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:history',
  description: "The History panel of OmniForge's room editor: versions, diffs and restore.",
  autoStart: true,
  requires: [IOmniForgeServer, IRoomEditorTracker],
  optional: [IRoomAccess, IPresence, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    tracker: IRoomEditorTracker,
    access: IRoomAccess | null,
    presence: IPresence | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const rooms = access ?? new RoomAccessModel(server);
    const panels = new Map<string, HistoryPanel>();

    /**
     * A person's colour, as the sidebar shows it: theirs now when they are online, else the one
     * the server recorded with the version (their identity's, or the one their JupyterLab
     * picked), else a stable collaborator colour.
     */
    const colorOf = (username: string, recorded: string | null): string => {
      const online = presence?.collaborators.find(c => c.user.username === username)?.user;
      if (online && isSafeColor(online.color)) {
        return online.color;
      }
      if (isSafeColor(recorded)) {
        return recorded;
      }
      let hash = 0;
      for (const char of username) {
        hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
      }
      return `var(--jp-collaborator-color${1 + (hash % COLLABORATOR_COLORS)})`;
    };

    const editorOf = (room: unknown) => {
      const name = typeof room === 'string' ? room : tracker.currentWidget?.content.omniforgeRoom;
      return tracker.find(widget => widget.content.omniforgeRoom === name) ?? null;
    };

    const isShown = (room: unknown): boolean => {
      const widget = editorOf(room);
      const panel = widget && panels.get(widget.content.omniforgeRoom);
      return !!panel && panel.isVisible;
    };

    app.commands.addCommand(CommandIDs.history, {
      label: args =>
        typeof args.room === 'string'
          ? trans.__('History of %1', args.room)
          : trans.__('Room History'),
      caption: trans.__(
        'Show the versions of this room: what changed, who changed it; restore one'
      ),
      icon: args => (args.isPalette ? undefined : historyIcon),
      isEnabled: args => editorOf(args.room) !== null,
      isToggled: args => isShown(args.room),
      execute: args => {
        const widget = editorOf(args.room);
        if (!widget) {
          return null;
        }
        const editor = widget.content as IHistoryHost;
        const room = editor.omniforgeRoom;
        let panel = panels.get(room);
        if (panel && !panel.isDisposed) {
          if (panel.isVisible && args.toggle !== false) {
            panel.hide();
          } else {
            panel.show();
            panel.activate();
          }
          app.commands.notifyCommandChanged(CommandIDs.history);
          return panel;
        }
        panel = new HistoryPanel({
          history: new VersionHistory(server, room),
          editor,
          access: rooms,
          changes: editor.doc ?? null,
          colorOf,
          trans,
          onVisibility: () => app.commands.notifyCommandChanged(CommandIDs.history)
        });
        panels.set(room, panel);
        panel.disposed.connect(() => {
          panels.delete(room);
          app.commands.notifyCommandChanged(CommandIDs.history);
        });
        if (editor.addSidePanel) {
          editor.addSidePanel(panel);
        } else {
          // An editor without side panels: the panel docks beside it in the main area.
          app.shell.add(panel, 'main', { mode: 'split-right', ref: widget.id });
        }
        panel.activate();
        app.commands.notifyCommandChanged(CommandIDs.history);
        return panel;
      }
    });

    tracker.widgetAdded.connect((_, widget) => {
      const room = widget.content.omniforgeRoom;
      const button = new CommandToolbarButton({
        commands: app.commands,
        id: CommandIDs.history,
        args: { room },
        label: trans.__('History'),
        caption: trans.__('Show or hide the versions of %1', room)
      });
      button.addClass('jp-OmniForge-historyButton');
      widget.toolbar.addItem('omniforge-history', button);
    });
    tracker.currentChanged.connect(() => app.commands.notifyCommandChanged(CommandIDs.history));
    palette?.addItem({ command: CommandIDs.history, category: 'OmniForge' });
  }
};
