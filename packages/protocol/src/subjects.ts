import type { z } from 'zod';
import {
  AuthIdentityV1,
  AuthLoggedOutV1,
  AuthLoginRequestV1,
  AuthLogoutRequestV1,
  AuthMeRequestV1,
  AuthSessionV1,
  CreatedDeviceV1,
  DevicePresenceChangedV1,
  DevicesCreateRequestV1,
  DevicesGetRequestV1,
  DevicesListRequestV1,
  DevicesPageV1,
  DeviceV1,
} from './api.js';
import { ARTIFACTS_BUCKET } from './artifacts.js';
import type { MessageDef } from './catalog.js';
import { checkToken, DeviceId, EndpointName, MethodName, ModuleName, newSubjectToken, SubjectToken } from './ids.js';
import {
  AgentGoodbyeV1,
  AgentHeartbeatV1,
  AgentHelloV1,
  CredentialRenewedV1,
  CredentialRenewRequestV1,
  DesiredChangedV1,
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  EnrollReplyV1,
  EnrollRequestV1,
  LogsChunkV1,
  LogsRequestV1,
  MethodReplyV1,
  MethodRequestV1,
  ModuleMessageV1,
  ReportedStateV1,
  TelemetryV1,
} from './messages.js';

/*
 * The one subject map. Every NATS subject Outpost uses is a row here: its pattern, the message it carries, and who may
 * publish and subscribe. Apps build subjects with these rows (or the `subjects` shorthands below) and never spell
 * one; the README's subject table and the permissions of each credential (`permissionsFor`) are derived from it.
 *
 * Layout (cloud):
 *  - `outpost.dev.<deviceId>.…`  — everything a device sends or receives, so a device credential is its own space;
 *  - `_INBOX_<deviceId>.…`        — replies to the device's own requests (no credential may read `_INBOX.>`);
 *  - `outpost.enroll`, `_INBOX_enroll.…` — enrolment, the only subjects the enrolment credential may use;
 *  - `outpost.api.v1.…`, `outpost.events.v1.…` — the cloud API's calls and events (portal, tools).
 * Layout (device hub, the device's own nats-server):
 *  - `local.modules.<module>.outputs|inputs.<name>` — module messages, never exported across the leaf;
 *  - `devices.<childId>.messages.events[.<key>=<value>…]` — downstream MQTT devices (MQTT topic `devices/<id>/…`).
 */

/** Each placeholder a pattern may use, and the token rule its value must pass. */
const PARAM_SCHEMAS = {
  deviceId: DeviceId,
  childId: DeviceId,
  module: ModuleName,
  output: EndpointName,
  input: EndpointName,
  method: MethodName,
  token: SubjectToken,
  streamId: SubjectToken,
} satisfies Record<string, z.ZodType<string>>;

export type SubjectParamName = keyof typeof PARAM_SCHEMAS;

type Placeholders<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? Name | Placeholders<Rest>
  : never;

/** The values a pattern's placeholders take: `{ deviceId: string }` for `outpost.dev.{deviceId}.agent.hello`. */
export type SubjectParams<P extends string> = { readonly [K in Placeholders<P>]: string };

/** Who holds a credential: the identity issue writes each one's allow-lists from this map. */
export type SubjectRole = 'agent' | 'cloud-api' | 'portal' | 'enrolling-agent' | 'module' | 'child-device';

/** Which server a subject lives on: the cloud cluster, or a device's own hub (a leaf node of the cloud). */
export type SubjectServer = 'cloud' | 'device-hub';

export interface SubjectSpec<M extends MessageDef | null, R extends MessageDef | undefined> {
  readonly server: SubjectServer;
  /** When and why it is sent, in a few words. */
  readonly about: string;
  /** The message published on it; null when it is not an Outpost envelope (see `payload`). */
  readonly message: M;
  /** What travels when `message` is null. */
  readonly payload?: string;
  /** For a request: the message that answers it. */
  readonly reply?: R;
  /** For a request: where the answer goes. */
  readonly replyTo?: string;
  /** Messages here are reply envelopes (`{ ok, … }`, see encodeReply), answering requests made elsewhere. */
  readonly replies?: boolean;
  readonly publish: readonly SubjectRole[];
  readonly subscribe: readonly SubjectRole[];
  /** The cloud API subscribes in CLOUD_API_QUEUE, so one replica handles each message. */
  readonly queueGroup?: boolean;
  /** May be followed by `.<key>=<value>` tokens (MQTT property bags); subscribers need `<subject>` and `<subject>.>`. */
  readonly propertyTokens?: boolean;
}

export interface SubjectDef<
  P extends string = string,
  M extends MessageDef | null = MessageDef | null,
  R extends MessageDef | undefined = MessageDef | undefined,
> extends SubjectSpec<M, R> {
  /** The pattern with `{placeholders}`, e.g. `outpost.dev.{deviceId}.agent.hello`. */
  readonly pattern: P;
  readonly params: readonly SubjectParamName[];
  /** The concrete subject. Throws VALIDATION_FAILED naming a parameter that is not a valid token. */
  build(params: SubjectParams<P>): string;
  /** The subject with `*` for every parameter not given: what a fleet-wide (or wider) subscription uses. */
  wildcard(params?: Partial<SubjectParams<P>>): string;
  /** The parameters of a subject that matches the pattern with valid tokens, else null. */
  parse(subject: string): SubjectParams<P> | null;
}

type PatternToken =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'tail' }
  | { readonly kind: 'param'; readonly name: SubjectParamName; readonly prefix: string; readonly suffix: string };

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

function isParamName(name: string): name is SubjectParamName {
  return Object.hasOwn(PARAM_SCHEMAS, name);
}

function compilePattern(pattern: string): PatternToken[] {
  return pattern.split('.').map((text, index, all): PatternToken => {
    if (text === '>') {
      if (index !== all.length - 1) throw new TypeError(`subject pattern ${pattern}: ">" must come last`);
      return { kind: 'tail' };
    }
    const placeholders = [...text.matchAll(PLACEHOLDER)];
    if (placeholders.length === 0) return { kind: 'literal', text };
    const [placeholder] = placeholders;
    if (placeholders.length > 1 || !placeholder) {
      throw new TypeError(`subject pattern ${pattern}: one placeholder per token`);
    }
    const name = placeholder[1] ?? '';
    if (!isParamName(name)) throw new TypeError(`subject pattern ${pattern}: unknown placeholder {${name}}`);
    const at = placeholder.index;
    return { kind: 'param', name, prefix: text.slice(0, at), suffix: text.slice(at + placeholder[0].length) };
  });
}

/** `unknown` when every placeholder of P is a known parameter, else `never` (so a typo fails to compile). */
type KnownPlaceholders<P extends string> = [Exclude<Placeholders<P>, SubjectParamName>] extends [never]
  ? unknown
  : never;

export function defineSubject<
  const P extends string,
  M extends MessageDef | null,
  R extends MessageDef | undefined = undefined,
>(pattern: P & KnownPlaceholders<P>, spec: SubjectSpec<M, R>): SubjectDef<P, M, R> {
  const tokens = compilePattern(pattern);
  const params = tokens.flatMap((token) => (token.kind === 'param' ? [token.name] : []));
  const render = (given: Partial<Record<string, string>>, wildcardMissing: boolean): string =>
    tokens
      .map((token) => {
        if (token.kind === 'literal') return token.text;
        if (token.kind === 'tail') return '>';
        const value = given[token.name];
        if (value === undefined) {
          if (!wildcardMissing) throw new TypeError(`subject ${pattern}: missing {${token.name}}`);
          if (token.prefix !== '' || token.suffix !== '') {
            // `_INBOX_*` is no NATS wildcard: a partial token cannot be wildcarded.
            throw new TypeError(`subject ${pattern}: {${token.name}} is part of a token and cannot be a wildcard`);
          }
          return '*';
        }
        return `${token.prefix}${checkToken(PARAM_SCHEMAS[token.name], value, token.name)}${token.suffix}`;
      })
      .join('.');

  const hasTail = tokens.at(-1)?.kind === 'tail';
  const parse = (subject: string): SubjectParams<P> | null => {
    if (typeof subject !== 'string') return null;
    const parts = subject.split('.');
    const fixed = hasTail ? tokens.length - 1 : tokens.length;
    const lengthFits = hasTail
      ? parts.length > fixed
      : spec.propertyTokens
        ? parts.length >= fixed
        : parts.length === fixed;
    if (!lengthFits) return null;
    const result: Record<string, string> = {};
    for (let i = 0; i < fixed; i++) {
      const token = tokens[i];
      const part = parts[i] ?? '';
      if (!token || token.kind === 'tail') return null;
      if (token.kind === 'literal') {
        if (part !== token.text) return null;
        continue;
      }
      if (part.length <= token.prefix.length + token.suffix.length) return null;
      if (!part.startsWith(token.prefix) || !part.endsWith(token.suffix)) return null;
      const value = part.slice(token.prefix.length, part.length - token.suffix.length);
      if (!PARAM_SCHEMAS[token.name].safeParse(value).success) return null;
      result[token.name] = value;
    }
    return Object.freeze(result) as SubjectParams<P>;
  };

  return Object.freeze({
    ...spec,
    pattern,
    params,
    build: (given: SubjectParams<P>) => render(given, false),
    wildcard: (given: Partial<SubjectParams<P>> = {}) => render(given, true),
    parse,
  });
}

// --- the map --------------------------------------------------------------------------------------------------------

const DEVICE_INBOX = '_INBOX_{deviceId}';
const ENROLL_INBOX = '_INBOX_enroll';
/** The services' own inbox prefixes: no credential may read `_INBOX.>`, services included. */
const PORTAL_INBOX = '_INBOX_portal';
const CLOUD_API_INBOX = '_INBOX_cloud-api';
/** The JetStream stream behind the artifacts object store bucket (nats.js names it `OBJ_<bucket>`). */
export const ARTIFACTS_STREAM = `OBJ_${ARTIFACTS_BUCKET}` as const;

export const subjectMap = {
  agentHello: defineSubject('outpost.dev.{deviceId}.agent.hello', {
    server: 'cloud',
    about: 'on every (re)connect',
    message: AgentHelloV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  agentHeartbeat: defineSubject('outpost.dev.{deviceId}.agent.heartbeat', {
    server: 'cloud',
    about: 'every heartbeat interval; presence comes from these',
    message: AgentHeartbeatV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  agentGoodbye: defineSubject('outpost.dev.{deviceId}.agent.goodbye', {
    server: 'cloud',
    about: 'on clean shutdown; offline at once',
    message: AgentGoodbyeV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  desiredChanged: defineSubject('outpost.dev.{deviceId}.desired.changed', {
    server: 'cloud',
    about: 'the desired state changed: pull it with `desired.get`',
    message: DesiredChangedV1,
    publish: ['cloud-api'],
    subscribe: ['agent'],
  }),
  desiredGet: defineSubject('outpost.dev.{deviceId}.desired.get', {
    server: 'cloud',
    about: 'request: on start, reconnect, notification and periodically',
    message: DesiredGetRequestV1,
    reply: DesiredGetReplyV1,
    replyTo: `${DEVICE_INBOX}.…`,
    publish: ['agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  reported: defineSubject('outpost.dev.{deviceId}.reported', {
    server: 'cloud',
    about: 'module runtime state and desired-state outcome, on change and with the heartbeat',
    message: ReportedStateV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  telemetry: defineSubject('outpost.dev.{deviceId}.telemetry', {
    server: 'cloud',
    about:
      'upstream messages from the durable forwarder (`Nats-Msg-Id` = `<deviceId>:<seq>`), captured by the cloud stream',
    message: TelemetryV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
  }),
  methodCall: defineSubject('outpost.dev.{deviceId}.modules.{module}.methods.{method}', {
    server: 'cloud',
    about: 'direct method request, 5-300 s timeout',
    message: MethodRequestV1,
    reply: MethodReplyV1,
    replyTo: 'outpost.dev.{deviceId}.reply.{token}',
    publish: ['cloud-api'],
    subscribe: ['agent'],
  }),
  agentMethod: defineSubject('outpost.dev.{deviceId}.agent.methods.{method}', {
    server: 'cloud',
    about: 'a method the agent answers itself: ping, restartModule, getModuleLogs',
    message: MethodRequestV1,
    reply: MethodReplyV1,
    replyTo: 'outpost.dev.{deviceId}.reply.{token}',
    publish: ['cloud-api'],
    subscribe: ['agent'],
  }),
  deviceReply: defineSubject('outpost.dev.{deviceId}.reply.{token}', {
    server: 'cloud',
    about: 'replies to cloud → device requests: across a leaf node they must stay inside the device’s space (nats 2.9)',
    message: MethodReplyV1,
    replies: true,
    publish: ['agent'],
    subscribe: ['cloud-api'],
  }),
  logsRequest: defineSubject('outpost.dev.{deviceId}.logs.request', {
    server: 'cloud',
    about: 'send a module’s logs to `logs.chunk.<streamId>`',
    message: LogsRequestV1,
    publish: ['cloud-api'],
    subscribe: ['agent'],
  }),
  logsChunk: defineSubject('outpost.dev.{deviceId}.logs.chunk.{streamId}', {
    server: 'cloud',
    about: 'one chunk of a logs stream; the last has `final: true`',
    message: LogsChunkV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
  }),
  deviceInbox: defineSubject(`${DEVICE_INBOX}.>`, {
    server: 'cloud',
    about: 'replies to the agent’s own requests (connection option `inboxPrefix: _INBOX_<deviceId>`)',
    message: DesiredGetReplyV1,
    replies: true,
    publish: ['cloud-api'],
    subscribe: ['agent'],
  }),
  credentialRenew: defineSubject('outpost.dev.{deviceId}.credential.renew', {
    server: 'cloud',
    about: 'request: a new JWT for the same key, before the current one expires (refused once revoked)',
    message: CredentialRenewRequestV1,
    reply: CredentialRenewedV1,
    replyTo: `${DEVICE_INBOX}.…`,
    publish: ['agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  enroll: defineSubject('outpost.enroll', {
    server: 'cloud',
    about: 'request: trade a one-time token and a public key for a device credential',
    message: EnrollRequestV1,
    reply: EnrollReplyV1,
    replyTo: `${ENROLL_INBOX}.…`,
    publish: ['enrolling-agent'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  enrollInbox: defineSubject(`${ENROLL_INBOX}.>`, {
    server: 'cloud',
    about: 'enrolment replies (shared by every enrolling agent; a JWT is useless without its seed)',
    message: EnrollReplyV1,
    replies: true,
    publish: ['cloud-api'],
    subscribe: ['enrolling-agent'],
  }),
  apiAuthLogin: defineSubject('outpost.api.v1.auth.login', {
    server: 'cloud',
    about: 'request: a person logs in (username and password) and gets a session token',
    message: AuthLoginRequestV1,
    reply: AuthSessionV1,
    replyTo: 'the requester’s inbox',
    publish: ['portal'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  apiAuthLogout: defineSubject('outpost.api.v1.auth.logout', {
    server: 'cloud',
    about: 'request: end the session in `Outpost-Authorization`',
    message: AuthLogoutRequestV1,
    reply: AuthLoggedOutV1,
    replyTo: 'the requester’s inbox',
    publish: ['portal'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  apiAuthMe: defineSubject('outpost.api.v1.auth.me', {
    server: 'cloud',
    about: 'request: who the token in `Outpost-Authorization` belongs to, and their role',
    message: AuthMeRequestV1,
    reply: AuthIdentityV1,
    replyTo: 'the requester’s inbox',
    publish: ['portal'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  apiDevicesCreate: defineSubject('outpost.api.v1.devices.create', {
    server: 'cloud',
    about: 'request: register a device (operator or admin)',
    message: DevicesCreateRequestV1,
    reply: CreatedDeviceV1,
    replyTo: 'the requester’s inbox',
    publish: ['portal'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  apiDevicesList: defineSubject('outpost.api.v1.devices.list', {
    server: 'cloud',
    about: 'request: a page of devices',
    message: DevicesListRequestV1,
    reply: DevicesPageV1,
    replyTo: 'the requester’s inbox',
    publish: ['portal'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  apiDevicesGet: defineSubject('outpost.api.v1.devices.get', {
    server: 'cloud',
    about: 'request: one device',
    message: DevicesGetRequestV1,
    reply: DeviceV1,
    replyTo: 'the requester’s inbox',
    publish: ['portal'],
    subscribe: ['cloud-api'],
    queueGroup: true,
  }),
  portalInbox: defineSubject(`${PORTAL_INBOX}.>`, {
    server: 'cloud',
    about: 'replies to the portal’s requests (connection option `inboxPrefix: _INBOX_portal`)',
    message: null,
    payload: 'a reply to an `outpost.api.v1.…` request, or `error`',
    publish: ['cloud-api'],
    subscribe: ['portal'],
  }),
  cloudApiInbox: defineSubject(`${CLOUD_API_INBOX}.>`, {
    server: 'cloud',
    about: 'replies to the cloud API’s own requests, JetStream API replies included (`inboxPrefix: _INBOX_cloud-api`)',
    message: null,
    payload: 'NATS and JetStream replies',
    publish: [],
    subscribe: ['cloud-api'],
  }),
  devicePresence: defineSubject('outpost.events.v1.devices.presence', {
    server: 'cloud',
    about: 'a device went online or offline',
    message: DevicePresenceChangedV1,
    publish: ['cloud-api'],
    subscribe: ['portal'],
  }),
  /*
   * Reading module artifacts from the object store bucket ARTIFACTS_BUCKET with the agent's own credential: JetStream
   * direct gets only (the stream has `allow_direct`, which the cloud API sets), one request per message, the reply
   * going to the agent's own inbox. The agent reads an object's metadata (`last_by_subj` of `$O.<bucket>.M.<name>`) and
   * then its chunks (`next_by_subj` of `$O.<bucket>.C.<nuid>`) with the query in the request body, so the one subject
   * below is all it needs. No consumer (whose deliver subject nats-server 2.9 does not check), no stream or account
   * info, nothing that writes, purges or deletes: `$O.<bucket>.>` and every other JetStream call stay refused.
   */
  artifactsDirectGet: defineSubject(`$JS.API.DIRECT.GET.${ARTIFACTS_STREAM}`, {
    server: 'cloud',
    about: 'request: one message of the artifacts bucket (an object’s metadata or one chunk), JSON query in the body',
    message: null,
    payload: 'a JetStream direct get request (`{ last_by_subj }` or `{ seq, next_by_subj }`)',
    replyTo: `${DEVICE_INBOX}.…`,
    publish: ['agent'],
    subscribe: [],
  }),
  moduleOutput: defineSubject('local.modules.{module}.outputs.{output}', {
    server: 'device-hub',
    about: 'a module’s output; the agent’s router takes it from here',
    message: ModuleMessageV1,
    publish: ['module'],
    subscribe: ['agent'],
  }),
  moduleInput: defineSubject('local.modules.{module}.inputs.{input}', {
    server: 'device-hub',
    about: 'what a route delivers to a module’s input',
    message: ModuleMessageV1,
    publish: ['agent'],
    subscribe: ['module'],
  }),
  childEvents: defineSubject('devices.{childId}.messages.events', {
    server: 'device-hub',
    about: 'a downstream device’s telemetry (MQTT topic `devices/<childId>/messages/events[/<key>=<value>…]`, QoS 0/1)',
    message: null,
    payload: 'the MQTT payload as sent (JSON by default)',
    publish: ['child-device'],
    subscribe: ['agent'],
    propertyTokens: true,
  }),
} as const;

export type SubjectName = keyof typeof subjectMap;

/** The queue group every cloud API replica joins, so each message is handled once. */
export const CLOUD_API_QUEUE = 'outpost-cloud-api';

// --- shorthands -----------------------------------------------------------------------------------------------------

const DEVICE_SPACE = 'outpost.dev';

/** Shorthands over `subjectMap` for the subjects apps build most. */
export const subjects = {
  device: {
    /** Everything under one device's space. */
    all: (deviceId: string) => `${DEVICE_SPACE}.${checkToken(DeviceId, deviceId, 'deviceId')}.>`,
    hello: (deviceId: string) => subjectMap.agentHello.build({ deviceId }),
    heartbeat: (deviceId: string) => subjectMap.agentHeartbeat.build({ deviceId }),
    goodbye: (deviceId: string) => subjectMap.agentGoodbye.build({ deviceId }),
    desiredChanged: (deviceId: string) => subjectMap.desiredChanged.build({ deviceId }),
    desiredGet: (deviceId: string) => subjectMap.desiredGet.build({ deviceId }),
    reported: (deviceId: string) => subjectMap.reported.build({ deviceId }),
    telemetry: (deviceId: string) => subjectMap.telemetry.build({ deviceId }),
    credentialRenew: (deviceId: string) => subjectMap.credentialRenew.build({ deviceId }),
    method: (deviceId: string, module: string, method: string) =>
      subjectMap.methodCall.build({ deviceId, module, method }),
    /** What the agent subscribes to for every method of every module. */
    methods: (deviceId: string) => subjectMap.methodCall.wildcard({ deviceId }),
    agentMethod: (deviceId: string, method: string) => subjectMap.agentMethod.build({ deviceId, method }),
    /** What the agent subscribes to for its own methods. */
    agentMethods: (deviceId: string) => subjectMap.agentMethod.wildcard({ deviceId }),
    /** A reply subject inside the device's space for a cloud → device request (`{ noMux: true, reply }`). */
    reply: (deviceId: string, token: string = newSubjectToken()) => subjectMap.deviceReply.build({ deviceId, token }),
    logsRequest: (deviceId: string) => subjectMap.logsRequest.build({ deviceId }),
    logsChunk: (deviceId: string, streamId: string) => subjectMap.logsChunk.build({ deviceId, streamId }),
    /** The agent's connection option `inboxPrefix`: replies to its requests arrive under it. */
    inboxPrefix: (deviceId: string) => subjectMap.deviceInbox.build({ deviceId }).slice(0, -'.>'.length),
  },
  /** Wildcards the cloud subscribes to (in a queue group, except telemetry, which a stream captures). */
  fleet: {
    hello: subjectMap.agentHello.wildcard(),
    heartbeat: subjectMap.agentHeartbeat.wildcard(),
    goodbye: subjectMap.agentGoodbye.wildcard(),
    desiredGet: subjectMap.desiredGet.wildcard(),
    reported: subjectMap.reported.wildcard(),
    telemetry: subjectMap.telemetry.wildcard(),
  },
  api: {
    devicesList: subjectMap.apiDevicesList.build({}),
    devicesGet: subjectMap.apiDevicesGet.build({}),
  },
  events: {
    devicePresence: subjectMap.devicePresence.build({}),
  },
  portal: {
    /** The portal's connection option `inboxPrefix`. */
    inboxPrefix: PORTAL_INBOX,
  },
  cloudApi: {
    /** The cloud API's connection option `inboxPrefix`. */
    inboxPrefix: CLOUD_API_INBOX,
  },
  enroll: {
    request: subjectMap.enroll.build({}),
    /** The enrolment credential's connection option `inboxPrefix`. */
    inboxPrefix: ENROLL_INBOX,
  },
  /** The device hub. */
  local: {
    moduleOutput: (module: string, output: string) => subjectMap.moduleOutput.build({ module, output }),
    moduleInput: (module: string, input: string) => subjectMap.moduleInput.build({ module, input }),
    /** What the router subscribes to: every output of every module. */
    allModuleOutputs: subjectMap.moduleOutput.wildcard(),
    /** What a module subscribes to: all its inputs. */
    moduleInputs: (module: string) => subjectMap.moduleInput.wildcard({ module }),
    childEvents: (childId: string, properties?: MessageProperties) => childEventsSubject(childId, properties),
    /** What the router subscribes to for every downstream device: with and without property tokens. */
    allChildEvents: [subjectMap.childEvents.wildcard(), `${subjectMap.childEvents.wildcard()}.>`] as const,
  },
} as const;

/**
 * The device id a device subject belongs to, or null when the subject is not a well-formed device subject.
 * The id in the subject is the one the NATS permissions vouch for, so the cloud trusts it over any id in a body.
 */
export function deviceIdFromSubject(subject: string): string | null {
  if (typeof subject !== 'string') return null;
  const parts = subject.split('.');
  if (parts.length < 4 || parts[0] !== 'outpost' || parts[1] !== 'dev') return null;
  const id = parts[2] ?? '';
  return DeviceId.safeParse(id).success ? id : null;
}

// --- downstream MQTT devices ----------------------------------------------------------------------------------------

export type MessageProperties = Readonly<Record<string, string>>;

/**
 * Property tokens are percent-encoded (as Azure's property bags are), with `.` and `*` encoded too: a NATS token can
 * hold neither, and nats-server 2.9's MQTT bridge closes a connection whose topic contains `.` or a space.
 */
function encodePropertyPart(text: string): string {
  return encodeURIComponent(text).replace(/[.*!'()~]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `devices.<childId>.messages.events[.<key>=<value>…]`. */
export function childEventsSubject(childId: string, properties: MessageProperties = {}): string {
  const base = subjectMap.childEvents.build({ childId });
  const tokens = Object.entries(properties).map(([key, value]) => {
    if (key === '') throw new TypeError('message property names cannot be empty');
    return `${encodePropertyPart(key)}=${encodePropertyPart(value)}`;
  });
  return [base, ...tokens].join('.');
}

/**
 * Reads a downstream device's events subject: its id and the properties in the trailing tokens. A token may hold one
 * `key=value` or several joined by `&` (Azure's property-bag form); a repeated key keeps its last value. Null for
 * anything else — a malformed topic is dropped, not guessed at.
 */
export function parseChildEventsSubject(subject: string): { childId: string; properties: MessageProperties } | null {
  const params = subjectMap.childEvents.parse(subject);
  if (!params) return null;
  const properties: Record<string, string> = Object.create(null);
  for (const token of subject.split('.').slice(4)) {
    for (const pair of token.split('&')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) return null;
      try {
        properties[decodeURIComponent(pair.slice(0, equals))] = decodeURIComponent(pair.slice(equals + 1));
      } catch {
        return null; // malformed percent-encoding
      }
    }
  }
  return { childId: params.childId, properties: { ...properties } };
}

// --- permissions ----------------------------------------------------------------------------------------------------

/** A credential Outpost issues, with what scopes it. The cloud API and operators hold broader credentials. */
export type Principal =
  | { readonly role: 'agent'; readonly deviceId: string }
  | { readonly role: 'enrolling-agent' }
  | { readonly role: 'portal' }
  | { readonly role: 'module'; readonly module: string }
  | { readonly role: 'child-device'; readonly childId: string };

export interface SubjectPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/**
 * The subjects a credential may publish and subscribe to, from the map: the agent's are all inside its device space
 * and inbox, a module's are its own outputs and inputs on the device hub. An empty list here means nothing is allowed;
 * NATS reads an empty allow-list as "everything", so the identity issue must write it as a deny of `>`.
 */
export function permissionsFor(principal: Principal): SubjectPermissions {
  const server: SubjectServer =
    principal.role === 'module' || principal.role === 'child-device' ? 'device-hub' : 'cloud';
  const { role, ...scope } = principal;
  const publish = new Set<string>();
  const subscribe = new Set<string>();
  for (const row of Object.values(subjectMap) as SubjectDef[]) {
    if (row.server !== server) continue;
    const canPublish = row.publish.includes(role);
    const canSubscribe = row.subscribe.includes(role);
    if (!canPublish && !canSubscribe) continue;
    const base = row.wildcard(scope as Partial<Record<string, string>>);
    const patterns = row.propertyTokens ? [base, `${base}.>`] : [base];
    for (const pattern of patterns) {
      if (canPublish) publish.add(pattern);
      if (canSubscribe) subscribe.add(pattern);
    }
  }
  return { publish: [...publish], subscribe: [...subscribe] };
}
