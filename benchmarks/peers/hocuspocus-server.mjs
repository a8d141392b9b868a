// Hocuspocus as benchmarks/compare.py runs it: `node hocuspocus-server.mjs` with HOST and PORT
// in the environment. No extensions (in memory, nothing stored), every other setting default,
// except the two below.
import { Server } from "@hocuspocus/server";

const server = new Server({
	address: process.env.HOST ?? "127.0.0.1",
	port: Number(process.env.PORT ?? 1234),
	quiet: true,
	// Hocuspocus closes a connection that sent nothing for `timeout` ms (default 60 s): a real
	// provider renews its awareness well within that, the benchmark's light subscribers send
	// nothing after their sync, and some phases (the rate search, memory) hold them longer.
	timeout: 30 * 60_000,
	// The events workload: a stateless message (type 5) is Hocuspocus's application event; this
	// server relays it to every connection of the document, as an event gateway would.
	async onStateless({ document, payload }) {
		document.broadcastStateless(payload);
	},
});

await server.listen();
console.log(`Hocuspocus listening on ${server.address.address}:${server.address.port}`);
