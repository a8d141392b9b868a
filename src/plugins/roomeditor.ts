/**
 * The room editor: the command to open a room (plugins/newroom.ts starts new ones), and the
 * tracker that restores open rooms on reload.
 */
import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  showErrorMessage,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { TextEditorSettings } from '../editor/config';
import { omniforgeIcon } from '../icons';
import { userFromIdentity } from '../presence';
import { RoomEditor } from '../roomeditor';
import { isTextRoom } from '../rooms';
import {
  CommandIDs,
  IOmniForgeServer,
  IPresence,
  IRoomAccess,
  IRoomEditorTracker
} from '../tokens';

const CATEGORY = 'OmniForge';

export const roomEditorPlugin: JupyterFrontEndPlugin<IRoomEditorTracker> = {
  id: 'jupyter_omniforge:room-editor',
  description: 'A collaborative editor for OmniForge idea, project and preview rooms.',
  autoStart: true,
  provides: IRoomEditorTracker,
  requires: [IOmniForgeServer, IEditorServices, IEditorLanguageRegistry],
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    IPresence,
    IRoomAccess,
    ITranslator,
    ISettingRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    editorServices: IEditorServices,
    languages: IEditorLanguageRegistry,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    presence: IPresence | null,
    access: IRoomAccess | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null
  ): IRoomEditorTracker => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    // The room editors follow the text editor's settings, as a file editor does.
    const editorConfig = new TextEditorSettings(settingRegistry);
    const tracker = new WidgetTracker<MainAreaWidget<RoomEditor>>({
      namespace: 'omniforge-room'
    });

    app.commands.addCommand(CommandIDs.openRoom, {
      label: args =>
        args.room ? trans.__('Open %1', String(args.room)) : trans.__('Open Room…'),
      caption: trans.__(
        'Open an OmniForge idea, project or preview room in a collaborative editor'
      ),
      icon: args => (args.isPalette ? undefined : omniforgeIcon),
      execute: async args => {
        const availability = server.availability;
        if (availability.status === 'missing' || availability.status === 'forbidden') {
          await showErrorMessage(trans.__('OmniForge is not available'), availability.message);
          return null;
        }
        let room = typeof args.room === 'string' ? args.room : '';
        if (!room) {
          const answer = await InputDialog.getText({
            title: trans.__('Open an OmniForge room'),
            label: trans.__('Room (kind:id, e.g. idea:42)'),
            text: server.settings.defaultRoom
          });
          if (!answer.button.accept || !answer.value) {
            return null;
          }
          room = answer.value.trim();
        }
        if (!isTextRoom(room)) {
          await showErrorMessage(
            trans.__('Cannot open this room'),
            trans.__(
              '"%1" is not an idea, project or preview room. A room is kind:id, e.g. idea:42, ' +
                'with an id of letters, digits, ".", "_" and "-".',
              room
            )
          );
          return null;
        }
        const open = tracker.find(widget => widget.content.omniforgeRoom === room);
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        // Ourselves as the server stamps us (its colour), else from the Jupyter identity.
        const identity = app.serviceManager.user.identity;
        const self = presence?.collaborators.find(person => person.local)?.user;
        const content = new RoomEditor({
          room,
          server,
          editorServices,
          languages,
          editorConfig,
          access,
          translator,
          user: self ?? (identity ? userFromIdentity(identity) : null)
        });
        const widget = new MainAreaWidget({ content });
        widget.id = content.id;
        widget.title.label = room;
        widget.title.caption = `OmniForge room ${room}`;
        widget.title.icon = omniforgeIcon;
        widget.title.closable = true;
        widget.toolbar.addItem('language', content.languageSelect);
        void tracker.add(widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    app.commands.addCommand(CommandIDs.follow, {
      label: args => trans.__('Follow %1', String(args.name ?? args.username ?? '')),
      caption: trans.__("Open the room and scroll to this person's cursor"),
      execute: async args => {
        const username = String(args.username ?? '');
        const widget = (await app.commands.execute(CommandIDs.openRoom, {
          room: args.room
        })) as MainAreaWidget<RoomEditor> | null;
        return widget && username ? widget.content.follow(username) : false;
      }
    });

    // JupyterLab may pick this user's colour after rooms were opened: claim it there too.
    app.serviceManager.user.userChanged.connect((_, user) => {
      tracker.forEach(widget => widget.content.setUser(userFromIdentity(user.identity)));
    });

    palette?.addItem({ command: CommandIDs.openRoom, category: CATEGORY });

    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openRoom,
        args: widget => ({ room: widget.content.omniforgeRoom }),
        name: widget => widget.content.omniforgeRoom
      });
    }
    return tracker;
  }
};
