/**
 * The status bar item: connection state and collaborators in the current room.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator } from '@jupyterlab/translation';

import { OmniForgeStatus } from '../statusbar';
import { CommandIDs, IOmniForgeServer, IPresence, IRoomEditorTracker } from '../tokens';

export const statusBarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_omniforge:status-bar',
  description: 'Shows the OmniForge connection and who is in the current room.',
  autoStart: true,
  requires: [IStatusBar, IOmniForgeServer, IPresence],
  optional: [IRoomEditorTracker, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    statusBar: IStatusBar,
    server: IOmniForgeServer,
    presence: IPresence,
    tracker: IRoomEditorTracker | null,
    translator: ITranslator | null
  ): void => {
    const item = new OmniForgeStatus({ server, presence, tracker, translator });
    item.node.addEventListener('click', () => {
      void app.commands.execute(CommandIDs.showSidebar);
    });
    statusBar.registerStatusItem(statusBarPlugin.id, {
      item,
      align: 'left',
      rank: 100
    });
  }
};
