/**
 * Starting a room: "New Idea Room" and "New Project Room" ask for a name (a fresh id is
 * suggested), check it against the server's room-name rules, and open the room editor. They sit
 * on the Launcher (an OmniForge section), in File → New (`jupyter.lab.menus` in
 * schema/server.json), in the command palette and, for ideas, in the sidebar.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { omniforgeIcon } from '../icons';
import { askRoomName } from '../roomname';
import { CommandIDs, IOmniForgeServer } from '../tokens';

/** The kinds a user starts by hand (builds and deployments are started by their tools). */
export const NEW_ROOM_KINDS = ['idea', 'project'] as const;
export type NewRoomKind = (typeof NEW_ROOM_KINDS)[number];

function kindOf(value: unknown): NewRoomKind {
  return value === 'project' ? 'project' : 'idea';
}

export const newRoomPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:new-room',
  description: 'New idea and project rooms: a name prompt, a Launcher card and File → New.',
  autoStart: true,
  requires: [IOmniForgeServer],
  optional: [ILauncher, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const names: Record<NewRoomKind, { item: string; palette: string; caption: string }> = {
      idea: {
        item: trans.__('Idea Room'),
        palette: trans.__('New Idea Room…'),
        caption: trans.__('Start a collaborative idea room: name it, and everyone can join it')
      },
      project: {
        item: trans.__('Project Room'),
        palette: trans.__('New Project Room…'),
        caption: trans.__('Start a collaborative project room: name it, and everyone can join it')
      }
    };

    app.commands.addCommand(CommandIDs.newRoom, {
      label: args => {
        const kind = kindOf(args.kind);
        return args.isPalette ? names[kind].palette : names[kind].item;
      },
      caption: args => names[kindOf(args.kind)].caption,
      icon: args => (args.isPalette ? undefined : omniforgeIcon),
      execute: async args => {
        const kind = kindOf(args.kind);
        const room = await askRoomName(server, kind, trans);
        return room ? app.commands.execute(CommandIDs.openRoom, { room }) : null;
      }
    });

    // The sidebar's "New idea room" (and anything bound to the older id).
    app.commands.addCommand(CommandIDs.newIdea, {
      label: trans.__('New Idea Room…'),
      caption: names.idea.caption,
      icon: args => (args.isPalette ? undefined : omniforgeIcon),
      execute: () => app.commands.execute(CommandIDs.newRoom, { kind: 'idea' })
    });

    NEW_ROOM_KINDS.forEach((kind, rank) => {
      launcher?.add({
        command: CommandIDs.newRoom,
        args: { kind, isLauncher: true },
        category: 'OmniForge',
        rank
      });
      palette?.addItem({
        command: CommandIDs.newRoom,
        args: { kind, isPalette: true },
        category: 'OmniForge'
      });
    });
  }
};
