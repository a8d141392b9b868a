/**
 * The connection to the server extension and the user's settings: every other plugin needs it.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { DEFAULT_SETTINGS, OmniForgeServer } from '../server';
import { IOmniForgeServer, type IOmniForgeSettings } from '../tokens';

/** A failed check that is not a 404 or 403 (the server restarting, say) is retried this often. */
const RECHECK_MS = 5000;

export const serverPlugin: JupyterFrontEndPlugin<IOmniForgeServer> = {
  id: 'jupyter_omniforge:server',
  description: 'Connects to the OmniForge server extension and holds the OmniForge settings.',
  autoStart: true,
  provides: IOmniForgeServer,
  optional: [ISettingRegistry],
  activate: async (
    app: JupyterFrontEnd,
    settingRegistry: ISettingRegistry | null
  ): Promise<IOmniForgeServer> => {
    const server = new OmniForgeServer(app.serviceManager.serverSettings);
    if (settingRegistry) {
      try {
        const settings = await settingRegistry.load(serverPlugin.id);
        const apply = (): void => {
          const composite = settings.composite as Partial<IOmniForgeSettings>;
          server.updateSettings({ ...DEFAULT_SETTINGS, ...composite });
        };
        apply();
        settings.changed.connect(apply);
      } catch (error) {
        console.warn('OmniForge: could not load the settings; using the defaults', error);
      }
    }
    const check = async (): Promise<void> => {
      const availability = await server.checkAvailability();
      if (availability.status === 'error') {
        window.setTimeout(() => void check(), RECHECK_MS);
      }
    };
    void check();
    return server;
  }
};
