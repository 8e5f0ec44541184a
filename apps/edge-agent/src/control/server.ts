import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type ErrorBody, isErrorCode } from '@outpost/protocol';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeploymentOutcome, RuntimeControl } from '../runtime/contracts.js';
import {
  type AgentStatus,
  CONTROL_PROTOCOL_VERSION,
  ControlError,
  ControlRequest,
  type ControlResponse,
  type ListResult,
  MAX_REQUEST_BYTES,
  sharedErrorCode,
} from './protocol.js';

/** sun_path is 108 bytes on Linux (104 on macOS), NUL included: longer paths fail to bind with an unhelpful EINVAL. */
const MAX_SOCKET_PATH_BYTES = 103;
/** How long probing an existing socket file for a live agent may take before it counts as stale. */
const PROBE_TIMEOUT_MS = 2_000;

export interface ControlServerOptions {
  /** Absolute path of the unix socket (config.controlSocket). */
  readonly socketPath: string;
  readonly runtime: RuntimeControl;
  /** The desired-state client's local deployment entry point (`outpost-agent deploy --file`). */
  readonly applyLocal: (input: unknown) => Promise<DeploymentOutcome>;
  /** The agent's own facts for `status`; deployment and module count come from the runtime. */
  readonly status: () => Omit<AgentStatus, 'deployment' | 'modules'>;
  readonly log: Logger;
}

/**
 * The agent's local control socket: the device CLI (`outpost-agent list/logs/restart/deploy`) talks to the running
 * agent through it. The socket is created 0600, so only the agent's user (and root) can steer the agent. Holding it
 * also makes the agent single-instance per socket: a second agent finds it answered and refuses to start, while a
 * socket file left behind by a killed agent (nobody answers) is replaced.
 */
export class ControlServer {
  private readonly options: ControlServerOptions;
  private readonly log: Logger;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly follows = new Set<AbortController>();
  private listening = false;

  constructor(options: ControlServerOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'control' });
    this.server = createServer((socket) => this.accept(socket));
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  /** Listens on the socket; throws ControlError CONTROL_SOCKET_IN_USE when another agent answers on it. */
  async start(): Promise<void> {
    const path = this.options.socketPath;
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new ControlError(
        'BAD_REQUEST',
        `control socket ${path} is too long for a unix socket (${Buffer.byteLength(path)} bytes, at most ${MAX_SOCKET_PATH_BYTES}); set controlSocket to a shorter path`,
      );
    }
    try {
      await this.listen(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
        throw new ControlError('INTERNAL', `control socket ${path}: cannot listen: ${errorMessage(err)}`, [], {
          cause: err,
        });
      }
      if (await socketAnswers(path)) {
        throw new ControlError(
          'CONTROL_SOCKET_IN_USE',
          `control socket ${path} is in use: another outpost-agent is running with it; stop that agent first (or give this one another stateDir/controlSocket)`,
        );
      }
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (stat && !stat.isSocket()) {
        throw new ControlError(
          'CONTROL_SOCKET_IN_USE',
          `control socket ${path} exists and is not a socket; remove it or set controlSocket to another path`,
        );
      }
      // Left behind by an agent that was killed: nobody answers, so it is safe to take over.
      this.log.info({ socket: path }, 'replacing a stale control socket');
      if (stat) unlinkSync(path);
      await this.listen(path);
    }
    this.listening = true;
    this.log.info({ socket: path }, 'control socket listening');
  }

  /** Stops listening, ends follow streams and open connections, and removes the socket file. */
  async close(): Promise<void> {
    for (const follow of this.follows) follow.abort();
    for (const socket of this.sockets) socket.destroy();
    if (!this.listening) return;
    this.listening = false;
    // Node removes the socket file itself when a listening unix server closes.
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private listen(path: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        this.server.off('error', onError);
        // The umask below already created it 0600; chmod states the intent should the umask be ignored (some FSes).
        chmodSync(path, 0o600);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      // Bind with a umask that leaves the socket 0600 from its first moment: no window in which others can connect.
      const previous = process.umask(0o177);
      try {
        this.server.listen(path);
      } finally {
        process.umask(previous);
      }
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'control connection error'));
    let buffer = '';
    let queue = Promise.resolve();
    let streaming = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (streaming) return; // a follow stream owns the connection until the client closes it
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES && !buffer.includes('\n')) {
        this.send(socket, errorResponse('BAD_REQUEST', `request longer than ${MAX_REQUEST_BYTES} bytes`));
        socket.end();
        buffer = '';
        return;
      }
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line === '') continue;
        // One request at a time per connection, answered in order.
        queue = queue.then(async () => {
          if (streaming || socket.destroyed) return;
          const followed = await this.handleLine(socket, line);
          if (followed) streaming = true;
        });
      }
    });
  }

  /** Answers one request line; true when it started a follow stream (the connection is then the stream's). */
  private async handleLine(socket: Socket, line: string): Promise<boolean> {
    let request: ControlRequest;
    try {
      request = parseRequest(line);
    } catch (err) {
      this.send(socket, { v: 1, ok: false, error: errorBody(err) });
      return false;
    }
    try {
      if (request.op === 'logs' && request.follow) {
        await this.follow(socket, request.module, request.tail, request.since);
        return true;
      }
      const data = await this.handle(request);
      this.send(socket, { v: 1, ok: true, data });
    } catch (err) {
      const body = errorBody(err);
      if (body.code === 'INTERNAL') {
        this.log.error({ code: 'CONTROL_REQUEST_FAILED', op: request.op, err: errorMessage(err) }, 'request failed');
      }
      this.send(socket, { v: 1, ok: false, error: body });
    }
    return false;
  }

  private async handle(request: ControlRequest): Promise<unknown> {
    const { runtime } = this.options;
    switch (request.op) {
      case 'status':
        return {
          ...this.options.status(),
          deployment: runtime.deployment(),
          modules: runtime.modules().length,
        } satisfies AgentStatus;
      case 'list':
        return listResult(runtime);
      case 'logs': {
        this.requireModule(request.module);
        const lines = await runtime.moduleLogs(request.module, {
          ...(request.tail !== undefined ? { tail: request.tail } : {}),
          ...(request.since !== undefined ? { since: request.since } : {}),
        });
        return { module: request.module, lines };
      }
      case 'restart':
        this.requireModule(request.module);
        this.log.info({ module: request.module }, 'restart requested over the control socket');
        await runtime.restartModule(request.module);
        return { module: request.module };
      case 'deploy': {
        const outcome = await this.options.applyLocal(request.input);
        this.log.info({ code: outcome.code, description: outcome.description }, 'local deployment applied');
        return outcome;
      }
    }
  }

  /** Sends the lines so far (tail/since), then every new line, until the client closes or the log ends. */
  private async follow(socket: Socket, module: string, tail?: number, since?: string): Promise<void> {
    this.requireModule(module);
    const { runtime } = this.options;
    const abort = new AbortController();
    this.follows.add(abort);
    socket.once('close', () => abort.abort());
    try {
      // Follow first, then read the backlog, so nothing written in between is lost (a line may show twice instead).
      // (next() is called at once: an async generator does not start before it.)
      const live = runtime.followModuleLogs(module, abort.signal)[Symbol.asyncIterator]();
      let pending = live.next();
      const backlog = await runtime.moduleLogs(module, {
        ...(tail !== undefined ? { tail } : {}),
        ...(since !== undefined ? { since } : {}),
      });
      await this.sendAndDrain(socket, { v: 1, ok: true, lines: backlog });
      for (;;) {
        const next = await pending;
        if (next.done || abort.signal.aborted) break;
        await this.sendAndDrain(socket, { v: 1, ok: true, lines: [next.value] });
        pending = live.next();
      }
      if (!abort.signal.aborted) {
        this.send(socket, { v: 1, ok: true, end: true });
        socket.end();
      }
    } catch (err) {
      if (!abort.signal.aborted) {
        this.send(socket, { v: 1, ok: false, error: errorBody(err) });
        socket.end();
      }
    } finally {
      this.follows.delete(abort);
    }
  }

  private requireModule(name: string): void {
    if (!this.options.runtime.modules().some((module) => module.name === name)) {
      const known = this.options.runtime.modules().map((module) => module.name);
      throw new ControlError(
        'NOT_FOUND',
        `no module "${name}" in the deployment${known.length > 0 ? ` (modules: ${known.join(', ')})` : ' (no modules deployed)'}`,
      );
    }
  }

  private send(socket: Socket, response: ControlResponse): boolean {
    if (socket.destroyed || !socket.writable) return false;
    return socket.write(`${JSON.stringify(response)}\n`);
  }

  /** Writes and waits for the socket to drain when the client reads slower than the module logs. */
  private async sendAndDrain(socket: Socket, response: ControlResponse): Promise<void> {
    if (this.send(socket, response)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
  }
}

/** The `list` answer: every module with its uptime, and the deployment view. */
export function listResult(runtime: RuntimeControl, now = Date.now()): ListResult {
  return {
    modules: runtime.modules().map((module) => ({
      ...module,
      uptimeSecs:
        module.status === 'running' && module.lastStartedAt
          ? Math.max(0, Math.floor((now - Date.parse(module.lastStartedAt)) / 1000))
          : null,
    })),
    deployment: runtime.deployment(),
  };
}

function parseRequest(line: string): ControlRequest {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    throw new ControlError('BAD_REQUEST', `request is not valid JSON: ${errorMessage(err)}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ControlError('BAD_REQUEST', 'request must be a JSON object { "v": 1, "op": ... }');
  }
  const version = (json as { v?: unknown }).v;
  if (version !== CONTROL_PROTOCOL_VERSION) {
    throw new ControlError(
      'UNSUPPORTED_VERSION',
      `control request version ${JSON.stringify(version) ?? 'missing'} is not supported (this agent speaks v${CONTROL_PROTOCOL_VERSION})`,
      [{ path: 'v', message: `must be ${CONTROL_PROTOCOL_VERSION}` }],
    );
  }
  const parsed = ControlRequest.safeParse(json);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    throw new ControlError(
      'BAD_REQUEST',
      `invalid control request: ${details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ')}`,
      details,
    );
  }
  return parsed.data;
}

function errorResponse(code: ErrorBody['code'], message: string): ControlResponse {
  return { v: 1, ok: false, error: { code, message, details: [] } };
}

/** Any thrown value → the wire error. Local callers are the agent's own user, so the message is theirs to see. */
function errorBody(err: unknown): ErrorBody {
  if (err instanceof ControlError && isErrorCode(err.code)) {
    return { code: err.code, message: err.message, details: [...err.details] };
  }
  // The runtime refuses work while it stops (RUNTIME_STOPPED): for the caller the agent is unavailable.
  // A module desired stopped cannot be restarted: a conflict with the deployment, not a failure of the agent.
  const runtimeCode = errorCodeOf(err);
  const code =
    sharedErrorCode(err) ??
    (runtimeCode === 'RUNTIME_STOPPED' ? 'UNAVAILABLE' : runtimeCode === 'MODULE_STOPPED' ? 'CONFLICT' : null);
  const details =
    typeof err === 'object' && err !== null && 'details' in err && Array.isArray(err.details)
      ? (err.details as ErrorBody['details'])
      : [];
  return { code: code ?? 'INTERNAL', message: errorMessage(err), details };
}

function errorCodeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

/** True when something accepts connections on the unix socket at `path` (a running agent). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    const finish = (answered: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(answered);
    };
    // A live agent that does not even accept within the timeout is hung; treat it as alive rather than steal its socket.
    const timer = setTimeout(() => finish(true), PROBE_TIMEOUT_MS);
    probe.once('connect', () => finish(true));
    probe.once('error', () => finish(false));
  });
}
