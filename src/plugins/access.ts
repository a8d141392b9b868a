/**
 * What this user may do in each room: one model the other plugins share.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { RoomAccessModel } from '../access';
import { IOmniForgeServer, IRoomAccess } from '../tokens';

export const accessPlugin: JupyterFrontEndPlugin<IRoomAccess> = {
  id: 'jupyter_omniforge:access',
  description: 'What this user may do in each OmniForge room, from the server.',
  autoStart: true,
  provides: IRoomAccess,
  requires: [IOmniForgeServer],
  activate: (_app: JupyterFrontEnd, server: IOmniForgeServer): IRoomAccess =>
    new RoomAccessModel(server)
};
