import {
  AGENT_METHODS,
  type AgentMethodName,
  type ErrorBody,
  encodeErrorReply,
  encodeMessage,
  encodeReply,
  GetModuleLogsPayload,
  type GetModuleLogsResult,
  type LogLine,
  LogsChunkV1,
  LogsRequestV1,
  MethodReplyV1,
  MethodRequestV1,
  OutpostError,
  type PingResult,
  RestartModulePayload,
  SubjectToken,
  subjects,
  tryDecodeMessage,
} from '@outpost/protocol';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { z } from 'zod';
import type { AgentConnection } from '../connection/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LogQuery, RuntimeControl } from '../runtime/contracts.js';

/** GetModuleLogsResult and LogsChunkV1 limits (lines per message), from the protocol schemas. */
const MAX_RESULT_LINES = 10_000;
const MAX_CHUNK_LINES = 1_000;
/** Room kept below the server's max_payload for the envelope and headers. */
const PAYLOAD_HEADROOM_BYTES = 4 * 1024;
/** A logs chunk stays small so one slow stream does not hog the device's link. */
const MAX_CHUNK_BYTES = 256 * 1024;
const TIMEOUT_MARGIN_MS = 1_000;

export interface AgentMethodsOptions {
  readonly deviceId: string;
  readonly agentVersion: string;
  /** The presence bootId, so ping answers tell a restarted agent from a reconnected one. */
  readonly bootId: string;
  readonly connection: AgentConnection;
  readonly runtime: RuntimeControl;
  readonly log: Logger;
}

/**
 * The methods the agent answers itself (Azure's $edgeAgent methods): `ping`, `restartModule`, `getModuleLogs` on
 * `outpost.dev.<id>.agent.methods.<name>`, and logs streams requested on `outpost.dev.<id>.logs.request`. The cloud API
 * relays them from `GET …/modules/:module/logs` and `POST …/modules/:module/restart`.
 */
export class AgentMethods {
  private readonly options: AgentMethodsOptions;
  private readonly log: Logger;
  private subscribedOn: NatsConnection | null = null;
  private subscriptions: Subscription[] = [];
  private stopped = false;

  constructor(options: AgentMethodsOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'methods' });
  }

  /** Subscribes on every new connection (the client itself resubscribes across reconnects of one connection). */
  start(): void {
    this.options.connection.onConnected(({ nc }) => this.subscribe(nc));
    const current = this.options.connection.current();
    if (current) this.subscribe(current);
  }

  stop(): void {
    this.stopped = true;
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
    this.subscribedOn = null;
  }

  private subscribe(nc: NatsConnection): void {
    if (this.stopped || this.subscribedOn === nc) return;
    this.subscribedOn = nc;
    const { deviceId } = this.options;
    this.subscriptions = [
      nc.subscribe(subjects.device.agentMethods(deviceId), {
        callback: (err, msg) => {
          if (!err) void this.answerMethod(msg);
        },
      }),
      nc.subscribe(subjects.device.logsRequest(deviceId), {
        callback: (err, msg) => {
          if (!err) void this.serveLogs(nc, msg);
        },
      }),
    ];
    this.log.debug({}, 'agent methods subscribed');
  }

  // --- direct methods ---------------------------------------------------------------------------------------------

  private async answerMethod(msg: Msg): Promise<void> {
    const method = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    if (!msg.reply) {
      this.log.warn({ code: 'METHOD_NO_REPLY_SUBJECT', method }, 'agent method request without a reply subject');
      return;
    }
    const started = Date.now();
    let reply: Uint8Array;
    let outcome: string;
    try {
      const decoded = tryDecodeMessage(MethodRequestV1, msg.data, msg.headers);
      if (!decoded.ok) throw asBadMessage(decoded.error);
      // Answer TIMEOUT a little before the caller's own deadline, so it hears why rather than nothing.
      const budgetMs = Math.max(1_000, decoded.value.timeoutMs - TIMEOUT_MARGIN_MS);
      const payload = await withTimeout(this.call(method, decoded.value.payload), budgetMs, method);
      reply = encodeReply(MethodReplyV1, { status: 200, payload });
      outcome = 'ok';
    } catch (err) {
      const body = this.errorBody(err, method);
      reply = encodeErrorReply(body);
      outcome = body.code;
    }
    try {
      msg.respond(reply);
    } catch (err) {
      this.log.warn({ code: 'METHOD_REPLY_FAILED', method, err: errorMessage(err) }, 'agent method reply not sent');
      return;
    }
    this.log.info({ method, outcome, ms: Date.now() - started }, 'agent method answered');
  }

  private async call(method: string, payload: unknown): Promise<z.core.util.JSONType> {
    switch (method as AgentMethodName) {
      case 'ping':
        return {
          agentVersion: this.options.agentVersion,
          bootId: this.options.bootId,
          uptimeSecs: Math.floor(process.uptime()),
        } satisfies PingResult;
      case 'restartModule': {
        const { module } = parsePayload(RestartModulePayload, payload, 'restartModule');
        this.requireModule(module);
        this.log.info({ module }, 'restart requested by agent method');
        await this.options.runtime.restartModule(module);
        return null;
      }
      case 'getModuleLogs': {
        const request = parsePayload(GetModuleLogsPayload, payload, 'getModuleLogs');
        this.requireModule(request.module);
        const lines = await this.options.runtime.moduleLogs(request.module, {
          ...(request.tail !== undefined ? { tail: request.tail } : {}),
          ...(request.since !== undefined ? { since: request.since } : {}),
        });
        const result: GetModuleLogsResult = {
          module: request.module,
          lines: newestFitting(lines.slice(-MAX_RESULT_LINES), this.maxPayloadBytes()),
        };
        return result;
      }
      default:
        throw new OutpostError('NOT_FOUND', `no agent method "${method}" (methods: ${AGENT_METHODS.join(', ')})`, [
          { path: 'method', message: `must be one of ${AGENT_METHODS.join(', ')}` },
        ]);
    }
  }

  // --- logs streams -----------------------------------------------------------------------------------------------

  private async serveLogs(nc: NatsConnection, msg: Msg): Promise<void> {
    const decoded = tryDecodeMessage(LogsRequestV1, msg.data, msg.headers);
    if (!decoded.ok) {
      // Without a readable streamId there is nowhere to answer; with one, the requester learns what was wrong.
      const streamId = readableStreamId(msg.data);
      this.log.warn({ code: 'LOGS_REQUEST_INVALID', streamId, err: decoded.error.message }, 'logs request refused');
      if (streamId) this.publishChunk(nc, streamId, 0, [], true, asBadMessage(decoded.error).toBody());
      return;
    }
    const request = decoded.value;
    const { streamId, module } = request;
    try {
      this.requireModule(module);
    } catch (err) {
      this.publishChunk(nc, streamId, 0, [], true, this.errorBody(err, 'logs.request'));
      return;
    }
    // The first chunk at once: the requester knows the device serves the stream before the (slower) read.
    this.publishChunk(nc, streamId, 0, [], false);
    let seq = 1;
    try {
      const query: LogQuery = {
        ...(request.tail !== undefined ? { tail: request.tail } : {}),
        ...(request.since !== undefined ? { since: request.since } : {}),
        ...(request.until !== undefined ? { until: request.until } : {}),
        ...(request.contains !== undefined ? { contains: request.contains } : {}),
      };
      const lines = await this.options.runtime.moduleLogs(module, query);
      const chunks = chunkLines(lines, Math.min(MAX_CHUNK_BYTES, this.maxPayloadBytes()));
      if (chunks.length === 0) chunks.push([]);
      for (const [index, chunk] of chunks.entries()) {
        this.publishChunk(nc, streamId, seq++, chunk, index === chunks.length - 1);
      }
      this.log.info({ module, streamId, lines: lines.length, chunks: seq }, 'logs stream served');
    } catch (err) {
      this.publishChunk(nc, streamId, seq, [], true, this.errorBody(err, 'logs.request'));
    }
  }

  private publishChunk(
    nc: NatsConnection,
    streamId: string,
    seq: number,
    lines: readonly LogLine[],
    final: boolean,
    error?: ErrorBody,
  ): void {
    try {
      nc.publish(
        subjects.device.logsChunk(this.options.deviceId, streamId),
        encodeMessage(LogsChunkV1, { streamId, seq, lines: [...lines], final, ...(error ? { error } : {}) }),
      );
    } catch (err) {
      this.log.warn({ code: 'LOGS_CHUNK_FAILED', streamId, seq, err: errorMessage(err) }, 'logs chunk not sent');
    }
  }

  // --- shared -----------------------------------------------------------------------------------------------------

  private requireModule(name: string): void {
    if (!this.options.runtime.modules().some((module) => module.name === name)) {
      throw new OutpostError('NOT_FOUND', `no module "${name}" on device ${this.options.deviceId}`, [
        { path: 'module', message: 'not in the deployment' },
      ]);
    }
  }

  private maxPayloadBytes(): number {
    const max = this.subscribedOn?.info?.max_payload ?? 1024 * 1024;
    return Math.max(16 * 1024, max - PAYLOAD_HEADROOM_BYTES);
  }

  /** Coded errors go back as they are; anything else is INTERNAL without its message (logged here instead). */
  private errorBody(err: unknown, method: string): ErrorBody {
    if (err instanceof OutpostError) return err.toBody();
    const code = (err as { code?: unknown } | null)?.code;
    if (code === 'NOT_FOUND') return { code: 'NOT_FOUND', message: errorMessage(err), details: [] };
    if (code === 'MODULE_STOPPED') return { code: 'CONFLICT', message: errorMessage(err), details: [] };
    if (code === 'RUNTIME_STOPPED') {
      return { code: 'UNAVAILABLE', message: `${method}: the agent is stopping; try again`, details: [] };
    }
    this.log.error({ code: 'METHOD_FAILED', method, err: errorMessage(err) }, 'agent method failed');
    return { code: 'INTERNAL', message: `${method} failed on the device (see the agent log)`, details: [] };
  }
}

/** Decode failures are reported as BAD_MESSAGE (the request is malformed), naming each problem in the details. */
function asBadMessage(error: ErrorBody): OutpostError {
  if (error.code === 'UNSUPPORTED_VERSION') return OutpostError.fromBody(error);
  const problems = error.details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ');
  return new OutpostError('BAD_MESSAGE', `${error.message}${problems ? `: ${problems}` : ''}`, error.details);
}

function parsePayload<S extends z.ZodType>(schema: S, payload: unknown, method: string): z.output<S> {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => ({
      path: ['payload', ...issue.path.map(String)].join('.'),
      message: issue.message,
    }));
    throw new OutpostError(
      'BAD_MESSAGE',
      `invalid ${method} payload: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
      details,
    );
  }
  return parsed.data;
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, method: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new OutpostError('TIMEOUT', `${method} did not finish within ${timeoutMs} ms (it goes on)`)),
      timeoutMs,
    );
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

const encoder = new TextEncoder();

function lineBytes(line: LogLine): number {
  // JSON overhead per line ({"at":…,"stream":…,"text":…}, escapes) is bounded by this rough allowance.
  return encoder.encode(line.text).length * 2 + 96;
}

/** The newest lines whose encoding fits in `maxBytes` (a reply must fit in one NATS message), oldest first. */
export function newestFitting(lines: readonly LogLine[], maxBytes: number): LogLine[] {
  let total = 256;
  let first = lines.length;
  while (first > 0) {
    const size = lineBytes(lines[first - 1] as LogLine);
    if (total + size > maxBytes) break;
    total += size;
    first--;
  }
  return lines.slice(first);
}

/** Splits lines into chunks of at most MAX_CHUNK_LINES lines and about `maxBytes` bytes each. */
export function chunkLines(lines: readonly LogLine[], maxBytes: number): LogLine[][] {
  const chunks: LogLine[][] = [];
  let current: LogLine[] = [];
  let size = 256;
  for (const line of lines) {
    const bytes = lineBytes(line);
    if (current.length > 0 && (current.length >= MAX_CHUNK_LINES || size + bytes > maxBytes)) {
      chunks.push(current);
      current = [];
      size = 256;
    }
    current.push(line);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The streamId of a logs request that failed validation, when that field alone is usable. */
function readableStreamId(bytes: Uint8Array): string | null {
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(bytes));
    const streamId = (json as { data?: { streamId?: unknown } } | null)?.data?.streamId;
    return SubjectToken.safeParse(streamId).success ? (streamId as string) : null;
  } catch {
    return null;
  }
}
