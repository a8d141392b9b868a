#!/usr/bin/env node
// Scriptable y-websocket client for the pytest suite (driven by tests/nodeclient.py).
//
// It uses the STOCK `WebsocketProvider` from the pinned `y-websocket` package, exactly
// as a browser front-end would:
//
//   new WebsocketProvider(server, room, doc, { params: token ? { token } : {}, WebSocketPolyfill })
//
// Usage:
//   node tests/js/yclient.mjs --server ws://127.0.0.1:PORT/base/omniforge/rooms \
//        --room idea:42 [--token T] [--max-backoff MS]
//
// Protocol: newline-delimited JSON commands on stdin, newline-delimited JSON events on
// stdout. Every command may carry an `id`, which is echoed in its reply. Diagnostics go
// to stderr. See tests/nodeclient.py for the list of commands and events.

import process from 'node:process'
import readline from 'node:readline'
import { parseArgs } from 'node:util'

import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

// ---------------------------------------------------------------------------- output

/** Write one JSON event line to stdout. */
const emit = (event) => {
  let line
  try {
    line = JSON.stringify(event)
  } catch (err) {
    line = JSON.stringify({ event: 'error', message: `unserializable event: ${err}` })
  }
  process.stdout.write(line + '\n')
}

const errorMessage = (err) => (err && err.stack) ? String(err.stack) : String(err)

// Never crash on a stray exception (e.g. from a reconnect timer): report it instead.
process.on('uncaughtException', (err) => {
  emit({ event: 'error', id: null, message: errorMessage(err), uncaught: true })
})
process.on('unhandledRejection', (err) => {
  emit({ event: 'error', id: null, message: errorMessage(err), uncaught: true })
})

// ---------------------------------------------------------------------------- arguments

let args
try {
  args = parseArgs({
    options: {
      server: { type: 'string' },
      room: { type: 'string' },
      token: { type: 'string' },
      'max-backoff': { type: 'string' }
    },
    strict: true
  }).values
} catch (err) {
  process.stderr.write(`yclient: ${err.message}\n`)
  process.exit(2)
}
if (!args.server || !args.room) {
  process.stderr.write('usage: yclient.mjs --server URL --room NAME [--token T] [--max-backoff MS]\n')
  process.exit(2)
}

// ---------------------------------------------------------------------------- provider

const doc = new Y.Doc()
const options = {
  params: args.token ? { token: args.token } : {},
  WebSocketPolyfill: WebSocket
}
if (args['max-backoff'] !== undefined) {
  options.maxBackoffTime = Number(args['max-backoff'])
}
// `connect: false` + the explicit `provider.connect()` below is exactly what the default
// `connect: true` does inside the constructor; deferring it lets us subscribe first so the
// initial {"status": "connecting"} event is reported too.
const provider = new WebsocketProvider(args.server, args.room, doc, { ...options, connect: false })
const awareness = provider.awareness

emit({ event: 'ready', clientID: doc.clientID, url: provider.url, pid: process.pid })

provider.on('status', ({ status }) => emit({ event: 'status', status }))
// y-websocket emits 'synced' with `true` once a SyncStep2 arrives, and with `false`
// when the connection drops / a new socket is set up. Report them as distinct events.
provider.on('synced', (state) => emit({ event: state ? 'synced' : 'unsynced' }))
provider.on('connection-close', (ev) => {
  emit({
    event: 'connection-close',
    code: ev && typeof ev.code === 'number' ? ev.code : null,
    reason: ev && ev.reason != null ? String(ev.reason) : '',
    wasClean: ev ? Boolean(ev.wasClean) : null
  })
})
provider.on('connection-error', (ev) => {
  const message = ev && (ev.message || (ev.error && ev.error.message))
  emit({ event: 'connection-error', message: message ? String(message) : null })
})
awareness.on('change', ({ added, updated, removed }, origin) => {
  emit({
    event: 'awareness',
    added,
    updated,
    removed,
    origin: origin === 'local' ? 'local' : 'remote'
  })
})

provider.connect()

// ---------------------------------------------------------------------------- helpers

const ROOT_TYPES = {
  text: (name) => doc.getText(name),
  map: (name) => doc.getMap(name),
  array: (name) => doc.getArray(name),
  xml: (name) => doc.getXmlFragment(name),
  xmltext: (name) => doc.getXmlFragment(name)
}

const requireString = (cmd, key) => {
  if (typeof cmd[key] !== 'string') throw new Error(`'${key}' must be a string`)
  return cmd[key]
}

const requireInt = (cmd, key, dflt) => {
  const v = cmd[key] === undefined ? dflt : cmd[key]
  if (!Number.isInteger(v)) throw new Error(`'${key}' must be an integer`)
  return v
}

const rootJSON = (name, kind) => {
  const make = ROOT_TYPES[kind]
  if (!make) throw new Error(`unknown root type '${kind}' for '${name}' (use text|map|array|xml)`)
  return make(name).toJSON()
}

/** JSON of every already-typed root, used when `get` carries no `roots`. */
const allRootsJSON = () => {
  const out = {}
  for (const [name, type] of doc.share) {
    if (type instanceof Y.Text || type instanceof Y.Map || type instanceof Y.Array ||
        type instanceof Y.XmlFragment) {
      out[name] = type.toJSON()
    } else {
      out[name] = null // defined remotely but never typed locally
    }
  }
  return out
}

const statesObject = () => {
  const out = {}
  for (const [clientID, state] of awareness.getStates()) out[String(clientID)] = state
  return out
}

/**
 * Resolve with true as soon as `check()` is true (re-evaluated on every `subscribe`
 * notification), or with false after `timeoutSec` seconds.
 */
const waitFor = (check, subscribe, timeoutSec) => new Promise((resolve) => {
  if (check()) return resolve(true)
  let timer = null
  let unsubscribe = () => {}
  const finish = (ok) => {
    if (timer !== null) clearTimeout(timer)
    unsubscribe()
    resolve(ok)
  }
  unsubscribe = subscribe(() => { if (check()) finish(true) })
  timer = setTimeout(() => finish(check()), Math.max(0, Number(timeoutSec) * 1000))
})

const onDocUpdate = (fn) => {
  doc.on('afterTransaction', fn)
  return () => doc.off('afterTransaction', fn)
}

const onAwarenessChange = (fn) => {
  awareness.on('change', fn)
  return () => awareness.off('change', fn)
}

let exiting = false

const shutdown = async (code) => {
  if (exiting) return
  exiting = true
  // Keep the socket so we can let the close handshake (and the "I'm gone" awareness
  // message that disconnect() sends first) reach the server before we exit.
  const ws = provider.ws
  try {
    provider.destroy()
  } catch (err) {
    process.stderr.write(`yclient: destroy failed: ${errorMessage(err)}\n`)
  }
  if (ws && ws.readyState !== WebSocket.CLOSED) {
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 1000)
      ws.once('close', () => { clearTimeout(t); resolve() })
    })
  }
  process.stdout.write('', () => process.exit(code))
}

// ---------------------------------------------------------------------------- commands

const commands = {
  insert: (cmd) => {
    const text = doc.getText(requireString(cmd, 'root'))
    text.insert(requireInt(cmd, 'index', 0), requireString(cmd, 'text'), cmd.attributes)
    return { event: 'ok' }
  },
  delete: (cmd) => {
    const text = doc.getText(requireString(cmd, 'root'))
    text.delete(requireInt(cmd, 'index', 0), requireInt(cmd, 'length'))
    return { event: 'ok' }
  },
  map_set: (cmd) => {
    if (!('value' in cmd)) throw new Error("'value' is required")
    doc.getMap(requireString(cmd, 'root')).set(requireString(cmd, 'key'), cmd.value)
    return { event: 'ok' }
  },
  map_delete: (cmd) => {
    doc.getMap(requireString(cmd, 'root')).delete(requireString(cmd, 'key'))
    return { event: 'ok' }
  },
  array_push: (cmd) => {
    if (!Array.isArray(cmd.values)) throw new Error("'values' must be an array")
    doc.getArray(requireString(cmd, 'root')).push(cmd.values)
    return { event: 'ok' }
  },
  array_insert: (cmd) => {
    if (!Array.isArray(cmd.values)) throw new Error("'values' must be an array")
    doc.getArray(requireString(cmd, 'root')).insert(requireInt(cmd, 'index', 0), cmd.values)
    return { event: 'ok' }
  },
  array_delete: (cmd) => {
    doc.getArray(requireString(cmd, 'root'))
      .delete(requireInt(cmd, 'index', 0), requireInt(cmd, 'length', 1))
    return { event: 'ok' }
  },
  get: (cmd) => {
    if (cmd.roots === undefined || cmd.roots === null) {
      return { event: 'doc', json: allRootsJSON() }
    }
    if (typeof cmd.roots !== 'object' || Array.isArray(cmd.roots)) {
      throw new Error("'roots' must be an object like {\"code\": \"text\"}")
    }
    const json = {}
    for (const [name, kind] of Object.entries(cmd.roots)) json[name] = rootJSON(name, kind)
    return { event: 'doc', json }
  },
  wait_text: async (cmd) => {
    const text = doc.getText(requireString(cmd, 'root'))
    if (typeof cmd.value !== 'string') throw new Error("'value' must be a string")
    const ok = await waitFor(() => text.toString() === cmd.value, onDocUpdate, cmd.timeout ?? 10)
    return ok ? { event: 'ok' } : { event: 'timeout', value: text.toString() }
  },
  awareness: (cmd) => {
    awareness.setLocalState(cmd.state === undefined ? null : cmd.state)
    return { event: 'ok' }
  },
  awareness_field: (cmd) => {
    awareness.setLocalStateField(requireString(cmd, 'field'), cmd.value === undefined ? null : cmd.value)
    return { event: 'ok' }
  },
  states: () => ({ event: 'states', states: statesObject(), self: doc.clientID }),
  wait_states: async (cmd) => {
    const count = requireInt(cmd, 'count')
    const ok = await waitFor(() => awareness.getStates().size === count, onAwarenessChange,
      cmd.timeout ?? 10)
    return ok
      ? { event: 'ok' }
      : { event: 'timeout', value: awareness.getStates().size, states: statesObject() }
  },
  info: () => ({
    event: 'info',
    url: provider.url,
    clientID: doc.clientID,
    wsconnected: provider.wsconnected,
    wsconnecting: provider.wsconnecting,
    synced: provider.synced,
    shouldConnect: provider.shouldConnect,
    unsuccessfulReconnects: provider.wsUnsuccessfulReconnects
  }),
  disconnect: () => {
    provider.disconnect()
    return { event: 'ok' }
  },
  connect: () => {
    provider.connect()
    return { event: 'ok' }
  },
  exit: () => ({ event: 'ok', exiting: true })
}

/** Parse and run one command line. */
const handleLine = (line) => {
  if (line.trim() === '') return
  let cmd
  try {
    cmd = JSON.parse(line)
    if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) {
      throw new Error('command must be a JSON object')
    }
  } catch (err) {
    emit({ event: 'error', id: null, message: `bad command line: ${err.message}` })
    return
  }
  const id = cmd.id === undefined ? null : cmd.id
  const handler = Object.prototype.hasOwnProperty.call(commands, cmd.cmd) ? commands[cmd.cmd] : null
  if (!handler) {
    emit({ event: 'error', id, message: `unknown command: ${JSON.stringify(cmd.cmd)}` })
    return
  }
  const fail = (err) => emit({ event: 'error', id, message: err && err.message ? err.message : String(err) })
  const done = (reply) => {
    emit({ ...reply, id })
    if (cmd.cmd === 'exit') shutdown(0)
  }
  // Synchronous handlers reply immediately, so replies keep the order of the commands;
  // only the wait_* commands are asynchronous (and run concurrently with later ones).
  let reply
  try {
    reply = handler(cmd)
  } catch (err) {
    fail(err)
    return
  }
  if (reply && typeof reply.then === 'function') reply.then(done, fail)
  else done(reply)
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => { handleLine(line) })
// The driving process went away: clean up and leave.
rl.on('close', () => { shutdown(0) })
process.on('SIGTERM', () => { shutdown(0) })
