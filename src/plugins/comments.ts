/**
 * Comments in the room editors: each editor gets its threads highlighted and a Comments panel
 * beside it; a command (Ctrl+Alt+M) starts a thread on the selection; mentions of this user go
 * to JupyterLab's notification centre and to the sidebar's unread badge.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  ICommandPalette,
  ISanitizer,
  type MainAreaWidget,
  Sanitizer
} from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandToolbarButton } from '@jupyterlab/ui-components';

import { CommentsController } from '../comments/controller';
import { MentionsModel } from '../comments/mentions';
import { RoomEditor } from '../roomeditor';
import {
  type Availability,
  CommandIDs,
  type IEventEnvelope,
  IMentions,
  IOmniForgeServer,
  IPresence,
  IRoomAccess,
  type IRoomEditor,
  IRoomEditorTracker
} from '../tokens';

export const commentsPlugin: JupyterFrontEndPlugin<IMentions> = {
  id: 'jupyter_omniforge:comments',
  description: 'Comment threads anchored to the text of OmniForge rooms, with mentions.',
  autoStart: true,
  provides: IMentions,
  requires: [IOmniForgeServer, IRoomEditorTracker],
  optional: [ISanitizer, IPresence, IRoomAccess, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    tracker: IRoomEditorTracker,
    sanitizer: ISanitizer | null,
    presence: IPresence | null,
    access: IRoomAccess | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): IMentions => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const clean = sanitizer ?? new Sanitizer();
    const me = (): string => app.serviceManager.user.identity?.username ?? '';
    const controllers = new Map<IRoomEditor, CommentsController>();

    const mentions = new MentionsModel({
      server,
      trans,
      me,
      open: (room, thread) => app.commands.execute(CommandIDs.openThread, { room, thread })
    });
    const follow = (availability: Availability): void => {
      if (availability.status === 'ok') {
        mentions.start();
      }
    };
    follow(server.availability);
    server.availabilityChanged.connect((_, availability) => follow(availability));

    const controllerOf = (room?: unknown): CommentsController | null => {
      const widget =
        typeof room === 'string'
          ? tracker.find(w => w.content.omniforgeRoom === room)
          : tracker.currentWidget;
      return (widget && controllers.get(widget.content)) ?? null;
    };

    const attach = (widget: MainAreaWidget<IRoomEditor>): void => {
      const editor = widget.content;
      if (!(editor instanceof RoomEditor) || controllers.has(editor)) {
        return;
      }
      const controller = new CommentsController({
        editor,
        server,
        trans,
        sanitizer: clean,
        me,
        presence,
        access
      });
      controllers.set(editor, controller);
      const onEvent = (_: unknown, event: IEventEnvelope): void => mentions.noticeEvent(event);
      controller.model.eventApplied.connect(onEvent);
      widget.toolbar.addItem(
        'comments',
        new CommandToolbarButton({
          commands: app.commands,
          id: CommandIDs.toggleComments,
          args: { room: editor.omniforgeRoom },
          label: trans.__('Comments')
        })
      );
      widget.disposed.connect(() => {
        controllers.delete(editor);
        controller.dispose();
      });
    };
    tracker.forEach(attach);
    tracker.widgetAdded.connect((_, widget) => attach(widget));

    app.commands.addCommand(CommandIDs.commentSelection, {
      label: trans.__('Comment on Selection'),
      caption: trans.__('Start a comment thread on the selected text (or the current line)'),
      isEnabled: () => !!controllerOf(),
      execute: () => {
        const controller = controllerOf();
        if (controller) {
          controller.panel.show();
          controller.startThread();
        }
      }
    });
    app.commands.addKeyBinding({
      command: CommandIDs.commentSelection,
      keys: ['Accel Alt M'],
      selector: '.jp-OmniForge-RoomEditor'
    });

    app.commands.addCommand(CommandIDs.toggleComments, {
      label: args =>
        typeof args.room === 'string'
          ? trans.__('Comments on %1', args.room)
          : trans.__('Show Room Comments'),
      caption: trans.__('Show or hide the comments beside the editor'),
      isToggled: args => controllerOf(args.room)?.panel.isHidden === false,
      isEnabled: args => !!controllerOf(args.room),
      execute: args => {
        const panel = controllerOf(args.room)?.panel;
        if (panel) {
          panel.setHidden(!panel.isHidden);
          app.commands.notifyCommandChanged(CommandIDs.toggleComments);
        }
      }
    });

    app.commands.addCommand(CommandIDs.openThread, {
      label: trans.__('Open Comment Thread'),
      execute: async args => {
        const room = String(args.room ?? '');
        const thread = String(args.thread ?? '');
        await app.commands.execute(CommandIDs.openRoom, { room });
        const controller = controllerOf(room);
        if (controller && thread) {
          controller.panel.show();
          controller.focusThread(thread);
        }
      }
    });

    palette?.addItem({ command: CommandIDs.commentSelection, category: 'OmniForge' });
    palette?.addItem({ command: CommandIDs.toggleComments, category: 'OmniForge' });
    return mentions;
  }
};
