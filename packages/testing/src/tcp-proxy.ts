import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Closes every open connection and refuses new ones until `restore()`: a link that dropped. */
  cut(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  /** Delays every chunk in both directions by this many milliseconds (0 = none). Order is kept. */
  setLatency(ms: number): void;
  /** Connections currently forwarded. */
  connections(): number;
  close(): Promise<void>;
}

/** A TCP proxy on a free 127.0.0.1 port in front of `target`, for injecting link faults between real processes. */
export async function startTcpProxy(
  target: { host?: string; port: number },
  options: { latencyMs?: number } = {},
): Promise<TcpProxy> {
  const targetHost = target.host ?? '127.0.0.1';
  let latencyMs = options.latencyMs ?? 0;
  let isCut = false;
  const pairs = new Set<[Socket, Socket]>();

  const pipeWithLatency = (from: Socket, to: Socket) => {
    // A chain of timers keeps chunk order while each chunk is delayed by the current latency.
    let chain = Promise.resolve();
    from.on('data', (chunk) => {
      if (latencyMs === 0) {
        to.write(chunk);
        return;
      }
      from.pause();
      const delay = latencyMs;
      chain = chain.then(
        () =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              if (!to.destroyed) to.write(chunk);
              from.resume();
              resolve();
            }, delay),
          ),
      );
    });
  };

  const server: Server = createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: targetHost, port: target.port });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const teardown = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.setNoDelay(true);
      socket.on('error', teardown);
      socket.on('close', teardown);
    }
    pipeWithLatency(client, upstream);
    pipeWithLatency(upstream, client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const cut = () => {
    isCut = true;
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };

  return {
    host: '127.0.0.1',
    port,
    cut,
    restore() {
      isCut = false;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    connections: () => pairs.size,
    close() {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
