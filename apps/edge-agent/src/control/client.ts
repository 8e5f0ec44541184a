import { createConnection, type Socket } from 'node:net';
import type { ErrorBody, LogLine } from '@outpost/protocol';
import { errorMessage } from '../errors.js';
import {
  CONTROL_PROTOCOL_VERSION,
  ControlError,
  type ControlOp,
  type ControlRequest,
  type ControlResults,
} from './protocol.js';

/** Most requests answer at once; a deploy fetches artifacts and runs the plan, which may take minutes. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEPLOY_REQUEST_TIMEOUT_MS = 15 * 60_000;

/** A request as the caller writes it: the version is added here. */
export type ControlRequestInput<Op extends ControlOp> = { readonly op: Op } & Omit<
  Extract<ControlRequest, { op: Op }>,
  'v' | 'op'
>;

/**
 * The CLI's side of the control socket: one connection per request. A missing or dead socket is the common failure
 * (the agent is not running), so it gets its own code and a message saying how to start the agent.
 */
export class ControlClient {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  async request<Op extends ControlOp>(
    request: ControlRequestInput<Op>,
    timeoutMs = request.op === 'deploy' ? DEPLOY_REQUEST_TIMEOUT_MS : DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<ControlResults[Op]> {
    const socket = await this.connect();
    try {
      const lines = readLines(socket);
      socket.write(`${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, ...request })}\n`);
      const timer = new Promise<never>((_, reject) => {
        const handle = setTimeout(
          () => reject(new ControlError('TIMEOUT', `the agent did not answer "${request.op}" within ${timeoutMs} ms`)),
          timeoutMs,
        );
        socket.once('close', () => clearTimeout(handle));
      });
      const first = await Promise.race([lines.next(), timer]);
      if (first.done)
        throw new ControlError('UNAVAILABLE', 'the agent closed the control connection without answering');
      return unwrap(first.value) as ControlResults[Op];
    } finally {
      socket.destroy();
    }
  }

  /**
   * The module's lines so far (tail/since), then each new one, until `signal` aborts (the connection is closed) or the
   * module's log ends. Errors (NOT_FOUND) are thrown from the iteration.
   */
  async *followLogs(
    module: string,
    options: { tail?: number; since?: string },
    signal: AbortSignal,
  ): AsyncGenerator<LogLine> {
    const socket = await this.connect();
    const onAbort = () => socket.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      socket.write(
        `${JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, op: 'logs', module, ...options, follow: true })}\n`,
      );
      try {
        for await (const message of readLines(socket)) {
          if (typeof message === 'object' && message !== null && 'end' in message) return;
          if (typeof message === 'object' && message !== null && 'lines' in message && Array.isArray(message.lines)) {
            yield* message.lines as LogLine[];
            continue;
          }
          unwrap(message);
        }
      } catch (err) {
        if (signal.aborted) return; // the caller closed the stream: the aborted read is expected
        throw err;
      }
      if (!signal.aborted) throw new ControlError('UNAVAILABLE', 'the agent closed the log stream (it is stopping?)');
    } finally {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
    }
  }

  private connect(): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => {}); // surfaced by the reader as a closed connection
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => reject(this.connectError(err)));
    });
  }

  private connectError(err: NodeJS.ErrnoException): ControlError {
    const path = this.socketPath;
    switch (err.code) {
      case 'ENOENT':
      case 'ECONNREFUSED':
        return new ControlError(
          'AGENT_NOT_RUNNING',
          `the agent is not running (nothing answers on its control socket ${path}); start it with \`outpost-agent run --config <file>\` (or \`systemctl start outpost-agent\`)`,
          [],
          { cause: err },
        );
      case 'EACCES':
      case 'EPERM':
        return new ControlError(
          'FORBIDDEN',
          `permission denied on the control socket ${path}: run this as the agent's user (or root)`,
          [],
          { cause: err },
        );
      default:
        return new ControlError('UNAVAILABLE', `cannot reach the agent on ${path}: ${errorMessage(err)}`, [], {
          cause: err,
        });
    }
  }
}

/** The data of an ok response, or the agent's error thrown as a ControlError. */
function unwrap(message: unknown): unknown {
  if (typeof message !== 'object' || message === null || !('ok' in message)) {
    throw new ControlError('BAD_MESSAGE', 'the agent sent something that is not a control response');
  }
  if (message.ok === true && 'data' in message) return message.data;
  if (message.ok === false && 'error' in message) {
    const error = message.error as ErrorBody;
    throw new ControlError(error.code, error.message, error.details ?? []);
  }
  throw new ControlError('BAD_MESSAGE', 'the agent sent an unexpected control response');
}

/** Newline-delimited JSON from the socket, one parsed value per line. */
async function* readLines(socket: Socket): AsyncGenerator<unknown> {
  let buffer = '';
  socket.setEncoding('utf8');
  for await (const chunk of socket) {
    buffer += chunk as string;
    for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim() === '') continue;
      try {
        yield JSON.parse(line);
      } catch {
        throw new ControlError('BAD_MESSAGE', 'the agent sent a line that is not JSON');
      }
    }
  }
}
