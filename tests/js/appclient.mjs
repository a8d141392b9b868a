// Drives the TypeScript client generated for examples/inventory.yaml (compiled to JS) against a
// real server, for tests/test_agent.py. Usage: node appclient.mjs CLIENT_JS BASE_URL TOKEN
// Prints one JSON line per step; after "ready" it waits for a line on stdin, then for the
// order.shipped event the test emits, then leaves the room.
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import * as Y from 'yjs';

const [clientPath, baseUrl, token] = process.argv.slice(2);
const { InventoryClient, EventRefused } = await import(pathToFileURL(clientPath).href);
const say = value => process.stdout.write(JSON.stringify(value) + '\n');
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise(resolve => lines.once('line', resolve));
const within = (promise, ms, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms))]);

try {
  const client = new InventoryClient({ baseUrl, token, WebSocketPolyfill: WebSocket });
  const order = client.order('ts');
  await within(order.whenSynced, 10000, 'sync');
  order.notes.insert(0, 'from TypeScript');
  order.items.push(['bolt']);
  order.meta.set('priority', 'high');
  order.body.insert(0, [new Y.XmlText('typed')]);
  order.setPresence({ status: 'packing' });

  const placedLive = order.once('order.placed');
  const placed = await order.emit('order.placed', { total: 12.5 });
  const received = await within(placedLive, 10000, 'order.placed');
  let refused = null;
  try {
    await order.emit('order.placed', { total: -1 });
  } catch (error) {
    refused = { refused: error instanceof EventRefused, status: error.status, code: error.code, message: error.message };
  }
  const shipped = order.once('order.shipped');
  say({ step: 'ready', placed, received, refused, history: await order.history() });

  await nextLine();
  const event = await within(shipped, 10000, 'order.shipped');
  const seen = () => [...order.presence().values()].filter(state => state.status === 'watching');
  for (let waited = 0; seen().length === 0 && waited < 10000; waited += 20) {
    await new Promise(resolve => setTimeout(resolve, 20));
  }
  const others = seen();
  say({ step: 'shipped', event, others });
  order.destroy();
  say({ step: 'done' });
  process.exit(0);
} catch (error) {
  say({ step: 'error', message: String(error && error.stack ? error.stack : error) });
  process.exit(1);
}
