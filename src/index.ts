/**
 * jupyter_omniforge for JupyterLab: one plugin per feature.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';

import { accessPlugin } from './plugins/access';
import { commentsPlugin } from './plugins/comments';
import { cursorLabelsPlugin } from './plugins/cursorlabels';
import { feedPlugin } from './plugins/feed';
import { historyPlugin } from './plugins/history';
import { newRoomPlugin } from './plugins/newroom';
import { presencePlugin } from './plugins/presence';
import { roomEditorPlugin } from './plugins/roomeditor';
import { roomLinkPlugin } from './plugins/roomlink';
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
  newRoomPlugin,
  roomLinkPlugin,
  cursorLabelsPlugin,
  sidebarPlugin,
  sharePlugin,
  commentsPlugin,
  historyPlugin,
  statusBarPlugin
];

export default plugins;
