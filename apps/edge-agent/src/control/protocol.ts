/**
 * The local control protocol between the device CLI and the running agent, over a unix socket: one JSON object per
 * line each way. Requests carry `v` so a newer CLI talking to an older agent (or the reverse) gets a clear
 * UNSUPPORTED_VERSION instead of a misread request.
 *
 *   request:   { "v": 1, "op": "list" | "status" | "logs" | "restart" | "deploy", ... }
 *   response:  { "v": 1, "ok": true, "data": ... }  or  { "v": 1, "ok": false, "error": { code, message, details } }
 *   logs with follow: { "v": 1, "ok": true, "lines": [...] } per batch until the client closes the connection, or a
 *   last { "v": 1, "ok": true, "end": true } when the module's log ends (the module was removed), or an error line.
 */
import { type ErrorBody, ErrorCode, type LogLine } from '@outpost/protocol';
import { z } from 'zod';
import type { DeploymentOutcome, DeploymentView, ModuleView } from '../runtime/contracts.js';

export const CONTROL_PROTOCOL_VERSION = 1;

/** A request line longer than this is refused (a deploy carries a whole manifest, so it is generous). */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

const Timestamp = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time' });
const ModuleNameField = z.string().min(1, 'must not be empty').max(256);

export const ControlRequest = z.discriminatedUnion('op', [
  z.strictObject({ v: z.literal(CONTROL_PROTOCOL_VERSION), op: z.literal('status') }),
  z.strictObject({ v: z.literal(CONTROL_PROTOCOL_VERSION), op: z.literal('list') }),
  z.strictObject({
    v: z.literal(CONTROL_PROTOCOL_VERSION),
    op: z.literal('logs'),
    module: ModuleNameField,
    tail: z.number().int().min(1).max(100_000).optional(),
    since: Timestamp.optional(),
    follow: z.boolean().optional(),
  }),
  z.strictObject({ v: z.literal(CONTROL_PROTOCOL_VERSION), op: z.literal('restart'), module: ModuleNameField }),
  z.strictObject({ v: z.literal(CONTROL_PROTOCOL_VERSION), op: z.literal('deploy'), input: z.unknown() }),
]);
export type ControlRequest = z.infer<typeof ControlRequest>;
export type ControlOp = ControlRequest['op'];

/** What `list` shows per module: the runtime's view plus the uptime derived from lastStartedAt. */
export interface ModuleListEntry extends ModuleView {
  /** Whole seconds since the current run started; null when the module is not running. */
  readonly uptimeSecs: number | null;
}

export interface ListResult {
  readonly modules: readonly ModuleListEntry[];
  readonly deployment: DeploymentView;
}

export interface AgentStatus {
  readonly deviceId: string;
  readonly agentVersion: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeSecs: number;
  /** True while the agent's NATS connection is up. */
  readonly connected: boolean;
  readonly deployment: DeploymentView;
  readonly modules: number;
}

export interface LogsResult {
  readonly module: string;
  readonly lines: readonly LogLine[];
}

export interface RestartResult {
  readonly module: string;
}

/** The result type of each op (follow streams are separate: see ControlClient.followLogs). */
export interface ControlResults {
  status: AgentStatus;
  list: ListResult;
  logs: LogsResult;
  restart: RestartResult;
  deploy: DeploymentOutcome;
}

export type ControlResponse =
  | { readonly v: 1; readonly ok: true; readonly data: unknown }
  | { readonly v: 1; readonly ok: true; readonly lines: readonly LogLine[] }
  | { readonly v: 1; readonly ok: true; readonly end: true }
  | { readonly v: 1; readonly ok: false; readonly error: ErrorBody };

/** A control-protocol failure with a code from the shared table (NOT_FOUND, BAD_REQUEST, ...). */
export class ControlError extends Error {
  readonly code: ErrorCode | 'AGENT_NOT_RUNNING' | 'CONTROL_SOCKET_IN_USE';
  readonly details: ErrorBody['details'];

  constructor(
    code: ControlError['code'],
    message: string,
    details: ErrorBody['details'] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ControlError';
    this.code = code;
    this.details = details;
  }
}

/** The code of a thrown value when it carries one of the shared codes (OutpostError, DriverError('NOT_FOUND'), ...). */
export function sharedErrorCode(err: unknown): ErrorCode | null {
  if (typeof err !== 'object' || err === null || !('code' in err)) return null;
  const parsed = ErrorCode.safeParse(err.code);
  return parsed.success ? parsed.data : null;
}
