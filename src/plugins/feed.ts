/**
 * The build and deployment feed, live from the event stream.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { EventFeedModel } from '../feed';
import { type Availability, IEventFeed, IOmniForgeServer } from '../tokens';

export const feedPlugin: JupyterFrontEndPlugin<IEventFeed> = {
  id: 'jupyter_omniforge:feed',
  description: 'The live build and deployment feed of OmniForge.',
  autoStart: true,
  provides: IEventFeed,
  requires: [IOmniForgeServer],
  activate: (_app: JupyterFrontEnd, server: IOmniForgeServer): IEventFeed => {
    const feed = new EventFeedModel({ server, size: server.settings.feedSize });
    server.settingsChanged.connect((_, settings) => {
      feed.size = settings.feedSize;
    });
    const follow = (availability: Availability): void => {
      if (availability.status === 'ok') {
        feed.start();
      } else if (availability.status === 'missing' || availability.status === 'forbidden') {
        feed.markUnavailable();
      }
    };
    follow(server.availability);
    server.availabilityChanged.connect((_, availability) => follow(availability));
    return feed;
  }
};
