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
import { CommandRegistry } from '@lumino/commands';

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
    /** The tab's tooltip: what the sidebar holds, unread mentions, and its shortcut. */
    const caption = (): string => {
      const count = mentions?.count ?? 0;
      const what = count
        ? trans.__('OmniForge: %1 unread mentions', count)
        : trans.__('OmniForge: rooms, collaborators, builds and deployments');
      // The shortcut is a setting (Settings → Keyboard Shortcuts): show the current one.
      const binding = app.commands.keyBindings.find(b => b.command === CommandIDs.showSidebar);
      return binding
        ? `${what} (${binding.keys.map(CommandRegistry.formatKeystroke).join(', ')})`
        : what;
    };
    sidebar.title.caption = caption();
    app.commands.keyBindingChanged.connect(() => {
      sidebar.title.caption = caption();
    });
    app.shell.add(sidebar, 'left', { rank: 400 });
    // The unread mentions as a badge on the sidebar's tab (seen with the sidebar closed).
    mentions?.changed.connect(() => {
      const count = mentions.count;
      // The shell keeps the tab's `data-id` in the same dataset: only `unread` is ours.
      const { unread: _, ...others } = sidebar.title.dataset;
      sidebar.title.dataset = count
        ? { ...others, unread: count > 99 ? '99+' : String(count) }
        : others;
      sidebar.title.caption = caption();
    });
    restorer?.add(sidebar, 'omniforge-sidebar');

    app.commands.addCommand(CommandIDs.showSidebar, {
      label: trans.__('Show OmniForge Sidebar'),
      caption: trans.__('Open the OmniForge sidebar and move the focus into it'),
      icon: args => (args.isPalette ? undefined : omniforgeIcon),
      execute: () => {
        app.shell.activateById(sidebar.id);
        sidebar.focus();
      }
    });
    palette?.addItem({ command: CommandIDs.showSidebar, category: 'OmniForge' });
  }
};
