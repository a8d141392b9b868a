/**
 * "Share room…": a link with a room-scoped token, for users who may administer the room. The
 * command is hidden where this user lacks `admin`; the room editors' toolbars and the sidebar's
 * room rows show it where they have it.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandToolbarButton, shareIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { isRoomName } from '../rooms';
import { shareRoom } from '../share';
import { CommandIDs, IOmniForgeServer, IRoomAccess, IRoomEditorTracker } from '../tokens';

export const sharePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:share',
  description: 'Share an OmniForge room with a link that a y-websocket client can open.',
  autoStart: true,
  requires: [IOmniForgeServer, IRoomAccess],
  optional: [IRoomEditorTracker, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    access: IRoomAccess,
    tracker: IRoomEditorTracker | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const { commands } = app;

    /** The room named in the arguments, else the current room editor's. */
    const roomOf = (args: ReadonlyPartialJSONObject): string | null => {
      const room =
        typeof args.room === 'string' ? args.room : tracker?.currentWidget?.content.omniforgeRoom;
      return room && isRoomName(room) ? room : null;
    };
    // Until the server has answered, hidden: only those who may administer a room see it.
    const mayShare = (args: ReadonlyPartialJSONObject): boolean => {
      const room = roomOf(args);
      return room !== null && access.can(room, 'admin') === true;
    };

    commands.addCommand(CommandIDs.shareRoom, {
      label: args => {
        const room = typeof args.room === 'string' ? args.room : null;
        return room ? trans.__('Share %1…', room) : trans.__('Share Room…');
      },
      caption: trans.__(
        'Create a link to this room, read-only or editable, that a y-websocket client can open'
      ),
      icon: args => (args.isPalette ? undefined : shareIcon),
      isVisible: mayShare,
      isEnabled: mayShare,
      execute: async args => {
        const room = roomOf(args);
        if (!room) {
          return null;
        }
        // Ask again: what the sidebar knew may be a while old.
        const permissions = await access.fetch(room).catch(() => null);
        if (!permissions?.actions.includes('admin')) {
          await showErrorMessage(
            trans.__('Cannot share %1', room),
            trans.__('Sharing a room needs the admin permission in it.')
          );
          return null;
        }
        return shareRoom(server, room, trans);
      }
    });
    access.changed.connect(() => commands.notifyCommandChanged(CommandIDs.shareRoom));
    tracker?.currentChanged.connect(() => commands.notifyCommandChanged(CommandIDs.shareRoom));

    tracker?.widgetAdded.connect((_, widget) => {
      const room = widget.content.omniforgeRoom;
      const button = new CommandToolbarButton({
        commands,
        id: CommandIDs.shareRoom,
        args: { room },
        label: trans.__('Share…'),
        caption: trans.__('Share %1 with a link', room)
      });
      button.addClass('jp-OmniForge-shareButton');
      widget.toolbar.addItem('omniforge-share', button);
      access.get(room); // ask now, so that the button appears without waiting
    });
    palette?.addItem({ command: CommandIDs.shareRoom, category: 'OmniForge' });
  }
};
