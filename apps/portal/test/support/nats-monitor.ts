import { getFreePort, type NatsServerHandle, startNatsServer } from '@outpost/testing';

/** A private nats-server with its HTTP monitoring port, so tests can see which subjects a client subscribes to. */
export async function startMonitoredNatsServer(): Promise<{ server: NatsServerHandle; monitorUrl: string }> {
  const monitorPort = await getFreePort();
  const server = await startNatsServer({ config: `http: "127.0.0.1:${monitorPort}"` });
  return { server, monitorUrl: `http://127.0.0.1:${monitorPort}` };
}

interface Connz {
  connections?: Array<{ name?: string; subscriptions_list?: string[] }>;
}

/** The subjects every client connection named `connectionName` is subscribed to right now, as the server sees it. */
export async function subscriptionsOf(monitorUrl: string, connectionName: string): Promise<string[]> {
  const response = await fetch(`${monitorUrl}/connz?subs=1`);
  if (!response.ok) throw new Error(`connz answered ${response.status}`);
  const connz = (await response.json()) as Connz;
  return (connz.connections ?? [])
    .filter((connection) => connection.name === connectionName)
    .flatMap((connection) => connection.subscriptions_list ?? []);
}
