/**
 * jupyter_omniforge for JupyterLab: one plugin per feature.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { accessPlugin } from './plugins/access';
import { commentsPlugin } from './plugins/comments';
import { feedPlugin } from './plugins/feed';
import { historyPlugin } from './plugins/history';
import { presencePlugin } from './plugins/presence';
import { roomEditorPlugin } from './plugins/roomeditor';
import { serverPlugin } from './plugins/server';
import { sharePlugin } from './plugins/share';
import { sidebarPlugin } from './plugins/sidebar';
import { statusBarPlugin } from './plugins/statusbar';

export * from './tokens';
export { OmniForgeRequestError } from './server';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  serverPlugin,
  accessPlugin,
  presencePlugin,
  feedPlugin,
  roomEditorPlugin,
  sidebarPlugin,
  sharePlugin,
  commentsPlugin,
  historyPlugin,
  statusBarPlugin
];

export default plugins;
