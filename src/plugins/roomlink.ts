/**
 * Links to rooms: "Copy Room Link" (a room row's context menu, the room editor's toolbar, the
 * palette) copies `{base}lab?omniforge-room=idea:42`. Opened in JupyterLab, a router rule opens
 * that room once the layout is restored, and takes the parameter out of the address bar.
 */
import {
  IRouter,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showDialog } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandToolbarButton, linkIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';

import { isTextRoom } from '../rooms';
import { copyToClipboard, labRoomLink, ROOM_PARAM, roomOfSearch } from '../share';
import { CommandIDs, IRoomEditorTracker } from '../tokens';

export const roomLinkPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:room-link',
  description: 'Copy a link that opens an OmniForge room in JupyterLab, and open such links.',
  autoStart: true,
  optional: [IRouter, IRoomEditorTracker, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    router: IRouter | null,
    tracker: IRoomEditorTracker | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const { commands } = app;

    /**
     * The room named in the arguments; else, from a context menu, the room row clicked; else
     * the current room editor's. Only rooms the editor opens have a link.
     */
    const roomOf = (args: ReadonlyPartialJSONObject): string | null => {
      let room: string | undefined;
      if (typeof args.room === 'string') {
        room = args.room;
      } else {
        // (The palette's item: the last context menu may have been long ago.)
        const row = args.isPalette
          ? undefined
          : app.contextMenuHitTest(node => !!node.dataset.room);
        room = row?.dataset.room ?? tracker?.currentWidget?.content.omniforgeRoom;
      }
      return room && isTextRoom(room) ? room : null;
    };

    commands.addCommand(CommandIDs.copyRoomLink, {
      label: args => {
        const room = typeof args.room === 'string' ? args.room : null;
        return room ? trans.__('Copy Link to %1', room) : trans.__('Copy Room Link');
      },
      caption: trans.__('Copy a link that opens this room in JupyterLab'),
      icon: args => (args.isPalette ? undefined : linkIcon),
      isVisible: args => roomOf(args) !== null,
      isEnabled: args => roomOf(args) !== null,
      execute: async args => {
        const room = roomOf(args);
        if (!room) {
          return null;
        }
        const link = labRoomLink(room);
        if (await copyToClipboard(link)) {
          Notification.success(trans.__('Copied a link to %1', room), { autoClose: 4000 });
        } else {
          // The browser would not: show the link to copy by hand.
          const body = new Widget({ node: document.createElement('input') });
          const input = body.node as HTMLInputElement;
          input.className = 'jp-mod-styled jp-OmniForge-roomLink';
          input.readOnly = true;
          input.value = link;
          input.setAttribute('aria-label', trans.__('Link to %1', room));
          await showDialog({
            title: trans.__('Link to %1', room),
            body,
            buttons: [Dialog.okButton({ label: trans.__('Done') })],
            focusNodeSelector: 'input'
          });
        }
        return link;
      }
    });
    tracker?.currentChanged.connect(() => commands.notifyCommandChanged(CommandIDs.copyRoomLink));

    tracker?.widgetAdded.connect((_, widget) => {
      const room = widget.content.omniforgeRoom;
      const button = new CommandToolbarButton({
        commands,
        id: CommandIDs.copyRoomLink,
        args: { room },
        label: '',
        caption: trans.__('Copy a link that opens %1 in JupyterLab', room)
      });
      button.addClass('jp-OmniForge-copyLinkButton');
      widget.toolbar.addItem('omniforge-copy-link', button);
    });

    // Opening a link: the room opens over the restored layout, and the parameter goes, so that
    // a reload does not open it again.
    commands.addCommand(CommandIDs.openRoomLink, {
      execute: async args => {
        const room = roomOfSearch(typeof args.search === 'string' ? args.search : '');
        const url = new URL(window.location.href);
        url.searchParams.delete(ROOM_PARAM);
        window.history.replaceState(window.history.state, '', url.toString());
        if (!room) {
          return null;
        }
        await app.restored;
        return commands.execute(CommandIDs.openRoom, { room });
      }
    });
    router?.register({
      command: CommandIDs.openRoomLink,
      pattern: new RegExp(`[?&]${ROOM_PARAM}=`)
    });

    palette?.addItem({
      command: CommandIDs.copyRoomLink,
      args: { isPalette: true },
      category: 'OmniForge'
    });
  }
};
