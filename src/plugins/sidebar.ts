/**
 * The OmniForge sidebar in the left area.
 */
import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { omniforgeIcon } from '../icons';
import { OmniForgeSidebar } from '../sidebar';
import { CommandIDs, IEventFeed, IMentions, IOmniForgeServer, IPresence } from '../tokens';

export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:sidebar',
  description: 'The OmniForge sidebar: rooms, collaborators and the build/deploy feed.',
  autoStart: true,
  requires: [IOmniForgeServer],
  optional: [IPresence, IEventFeed, ILayoutRestorer, ICommandPalette, ITranslator, IMentions],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    presence: IPresence | null,
    feed: IEventFeed | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    mentions: IMentions | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyter_omniforge');
    const sidebar = new OmniForgeSidebar({
      server,
      presence,
      feed,
      commands: app.commands,
      translator: translator ?? nullTranslator,
      mentions
    });
    sidebar.title.icon = omniforgeIcon;
    sidebar.title.caption = trans.__('OmniForge');
    app.shell.add(sidebar, 'left', { rank: 400 });
    // The unread mentions as a badge on the sidebar's tab (seen with the sidebar closed).
    mentions?.changed.connect(() => {
      const count = mentions.count;
      // The shell keeps the tab's `data-id` in the same dataset: only `unread` is ours.
      const { unread: _, ...others } = sidebar.title.dataset;
      sidebar.title.dataset = count
        ? { ...others, unread: count > 99 ? '99+' : String(count) }
        : others;
      sidebar.title.caption = count
        ? trans.__('OmniForge: %1 unread mentions', count)
        : trans.__('OmniForge');
    });
    restorer?.add(sidebar, 'omniforge-sidebar');

    app.commands.addCommand(CommandIDs.showSidebar, {
      label: trans.__('Show OmniForge Sidebar'),
      execute: () => app.shell.activateById(sidebar.id)
    });
    palette?.addItem({ command: CommandIDs.showSidebar, category: 'OmniForge' });
  }
};
