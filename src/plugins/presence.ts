/**
 * Presence: join the `presence` room and announce which room or document this user is in.
 */
import {
  ILabShell,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import type { Widget } from '@lumino/widgets';

import { PresenceModel } from '../presence';
import { type Availability, IOmniForgeServer, IPresence, type IRoomWidget } from '../tokens';

export const presencePlugin: JupyterFrontEndPlugin<IPresence> = {
  id: 'jupyter_omniforge:presence',
  description: "Who is where, live from the OmniForge presence room's awareness.",
  autoStart: true,
  provides: IPresence,
  requires: [IOmniForgeServer],
  optional: [ILabShell],
  activate: (
    app: JupyterFrontEnd,
    server: IOmniForgeServer,
    labShell: ILabShell | null
  ): IPresence => {
    const users = app.serviceManager.user;
    const presence = new PresenceModel({ server, identity: users.identity });
    void users.ready.then(() => {
      if (users.identity) {
        presence.setIdentity(users.identity);
      }
    });
    users.userChanged.connect((_, user) => presence.setIdentity(user.identity));

    const follow = (availability: Availability): void => {
      if (availability.status === 'ok') {
        presence.start();
      } else if (availability.status === 'missing' || availability.status === 'forbidden') {
        presence.markUnavailable();
      }
    };
    follow(server.availability);
    server.availabilityChanged.connect((_, availability) => follow(availability));

    if (labShell) {
      const update = (): void => presence.setCurrentRoom(roomOf(labShell.currentWidget));
      labShell.currentChanged.connect(update);
      update();
    }
    return presence;
  }
};

/**
 * What a main-area widget shows, as others should see it: an OmniForge room, or a document's
 * path (a notebook, a file), else nothing.
 */
export function roomOf(widget: Widget | null): string | null {
  if (!widget) {
    return null;
  }
  const content = (widget as Widget & { content?: unknown }).content;
  for (const candidate of [widget, content]) {
    const room = (candidate as Partial<IRoomWidget> | undefined)?.omniforgeRoom;
    if (typeof room === 'string') {
      return room;
    }
  }
  const path = (widget as Widget & { context?: { path?: unknown } }).context?.path;
  return typeof path === 'string' ? path : null;
}
