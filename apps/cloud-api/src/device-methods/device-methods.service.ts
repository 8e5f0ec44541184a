import { Inject, Injectable } from '@nestjs/common';
import {
  type AgentMethodName,
  encodeMessage,
  GetModuleLogsResult,
  isErrorCode,
  METHOD_TIMEOUT_MAX_MS,
  METHOD_TIMEOUT_MIN_MS,
  MethodReplyV1,
  MethodRequestV1,
  type ModuleLogs,
  type ModuleLogsQuery,
  OutpostError,
  type RestartedModule,
  subjects,
  tryDecodeReply,
} from '@outpost/protocol';
import { NatsError, ErrorCode as NatsErrorCode } from 'nats';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NATS_CONNECTION, type NatsConnectionService } from '../nats/nats-connection.js';
import { DeviceMethodsRepository } from './device-methods.repository.js';

/** A status the agent put in its method reply → the code the API answers with. */
function codeForStatus(status: number): OutpostError['code'] {
  if (status === 404) return 'NOT_FOUND';
  if (status === 400) return 'BAD_REQUEST';
  if (status === 409) return 'CONFLICT';
  if (status === 503) return 'UNAVAILABLE';
  if (status === 504) return 'DEVICE_TIMEOUT';
  return 'INTERNAL';
}

/**
 * Agent methods relayed from HTTP: a MethodRequestV1 on the device's agent.methods subject, answered on a reply
 * subject inside the device's own space (`{ noMux: true, reply }`: across a leaf node, nats-server 2.9 drops replies to
 * ordinary inboxes). An offline device is 503 DEVICE_OFFLINE without asking; silence is 504 DEVICE_TIMEOUT; the
 * agent's own error (NOT_FOUND for an unknown module, …) keeps its code.
 */
@Injectable()
export class DeviceMethodsService {
  private readonly log: Logger;
  private readonly timeoutMs: number;

  constructor(
    private readonly repository: DeviceMethodsRepository,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnectionService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'device-methods' });
    this.timeoutMs = config.deviceMethods.timeoutMs;
  }

  async moduleLogs(deviceId: string, module: string, query: ModuleLogsQuery): Promise<ModuleLogs> {
    const payload = {
      module,
      ...(query.tail === undefined ? {} : { tail: query.tail }),
      ...(query.since === undefined ? {} : { since: query.since }),
    };
    const result = GetModuleLogsResult.safeParse(await this.call(deviceId, 'getModuleLogs', payload));
    if (!result.success) {
      this.log.warn(
        { code: 'BAD_MESSAGE', deviceId, method: 'getModuleLogs' },
        'agent method result does not match its schema',
      );
      throw new OutpostError('INTERNAL', `Device ${deviceId} answered getModuleLogs with an unexpected result`);
    }
    return result.data;
  }

  async restartModule(deviceId: string, module: string): Promise<RestartedModule> {
    await this.call(deviceId, 'restartModule', { module });
    return { deviceId, module, restarted: true };
  }

  /** Calls an agent method and returns the payload of its 2xx reply; every failure is an OutpostError. */
  private async call(
    deviceId: string,
    method: AgentMethodName,
    payload: Record<string, string | number>,
  ): Promise<unknown> {
    const status = await this.repository.deviceStatus(deviceId);
    if (status === null) {
      throw new OutpostError('NOT_FOUND', `Device ${deviceId} not found`, [{ path: 'id', message: 'no such device' }]);
    }
    if (status === 'offline') {
      throw new OutpostError('DEVICE_OFFLINE', `Device ${deviceId} is offline`, [
        { path: 'id', message: 'the device is not connected; try again once it is online' },
      ]);
    }
    const connection = this.nats.connectionOrThrow();
    const request = encodeMessage(MethodRequestV1, {
      payload,
      // The agent's own budget for the call; it answers TIMEOUT itself before the API gives up.
      timeoutMs: Math.min(Math.max(this.timeoutMs, METHOD_TIMEOUT_MIN_MS), METHOD_TIMEOUT_MAX_MS),
    });
    let replyBytes: Uint8Array;
    try {
      const reply = await connection.request(subjects.device.agentMethod(deviceId, method), request, {
        timeout: this.timeoutMs,
        noMux: true,
        reply: subjects.device.reply(deviceId),
      });
      replyBytes = reply.data;
    } catch (err) {
      if (err instanceof NatsError && err.code === NatsErrorCode.NoResponders) {
        throw new OutpostError('DEVICE_OFFLINE', `No agent of device ${deviceId} is listening`, [
          { path: 'id', message: 'the device is not connected (or its agent does not serve methods)' },
        ]);
      }
      if (err instanceof NatsError && err.code === NatsErrorCode.Timeout) {
        this.log.warn({ code: 'DEVICE_TIMEOUT', deviceId, method }, 'agent method not answered in time');
        throw new OutpostError('DEVICE_TIMEOUT', `Device ${deviceId} did not answer ${method} in time`, [
          { path: 'id', message: `no answer within ${this.timeoutMs} ms` },
        ]);
      }
      throw err;
    }
    const decoded = tryDecodeReply(MethodReplyV1, replyBytes);
    if (!decoded.ok) {
      if (decoded.fromPeer) {
        const code = isErrorCode(decoded.error.code) ? decoded.error.code : 'INTERNAL';
        throw new OutpostError(code, decoded.error.message, decoded.error.details);
      }
      this.log.warn({ code: decoded.error.code, deviceId, method }, 'unreadable agent method reply');
      throw new OutpostError('INTERNAL', `Device ${deviceId} answered ${method} with an unreadable reply`);
    }
    const { status: replyStatus, payload: result } = decoded.value;
    if (replyStatus < 200 || replyStatus >= 300) {
      throw new OutpostError(
        codeForStatus(replyStatus),
        `Device ${deviceId} refused ${method} (status ${replyStatus})`,
        [{ path: 'payload', message: JSON.stringify(result) }],
      );
    }
    return result;
  }
}
