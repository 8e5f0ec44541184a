// The memory baseline: a bare Node process holding one NATS connection (what any Node device client costs), against
// which the agent's RSS is compared. Prints "connected" once the connection is up, then idles until killed.
//   node bench/baseline-nats-client.mjs <nats-url>
import { connect } from 'nats';

const nc = await connect({ servers: process.argv[2], name: 'outpost-bench-baseline' });
process.stdout.write('connected\n');
process.on('SIGTERM', () => {
  nc.close().finally(() => process.exit(0));
});
