import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AgentHelloV1,
  childEventsSubject,
  defineSubject,
  deviceIdFromSubject,
  messageCatalog,
  OutpostError,
  parseChildEventsSubject,
  permissionsFor,
  rpc,
  type SubjectDef,
  subjectMap,
  subjects,
} from '../src/index.js';

const rows = Object.entries(subjectMap) as [string, SubjectDef][];

/** Tokens that must never reach a subject: they would split it, widen it, or break the protocol. */
const BAD_TOKENS = ['a.b', '*', '>', 'a*', 'a>', 'a b', 'a\tb', 'a\nb', '', '-x', '_x', 'é', 'x'.repeat(200)];

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('subject builders', () => {
  it('build every device subject under outpost.dev.<deviceId>', () => {
    const id = 'press-01';
    expect({
      all: subjects.device.all(id),
      hello: subjects.device.hello(id),
      heartbeat: subjects.device.heartbeat(id),
      goodbye: subjects.device.goodbye(id),
      desiredChanged: subjects.device.desiredChanged(id),
      desiredGet: subjects.device.desiredGet(id),
      reported: subjects.device.reported(id),
      telemetry: subjects.device.telemetry(id),
      method: subjects.device.method(id, 'sensor', 'reset'),
      methods: subjects.device.methods(id),
      reply: subjects.device.reply(id, 'abc123'),
      logsRequest: subjects.device.logsRequest(id),
      logsChunk: subjects.device.logsChunk(id, 'stream1'),
      inboxPrefix: subjects.device.inboxPrefix(id),
    }).toEqual({
      all: 'outpost.dev.press-01.>',
      hello: 'outpost.dev.press-01.agent.hello',
      heartbeat: 'outpost.dev.press-01.agent.heartbeat',
      goodbye: 'outpost.dev.press-01.agent.goodbye',
      desiredChanged: 'outpost.dev.press-01.desired.changed',
      desiredGet: 'outpost.dev.press-01.desired.get',
      reported: 'outpost.dev.press-01.reported',
      telemetry: 'outpost.dev.press-01.telemetry',
      method: 'outpost.dev.press-01.modules.sensor.methods.reset',
      methods: 'outpost.dev.press-01.modules.*.methods.*',
      reply: 'outpost.dev.press-01.reply.abc123',
      logsRequest: 'outpost.dev.press-01.logs.request',
      logsChunk: 'outpost.dev.press-01.logs.chunk.stream1',
      inboxPrefix: '_INBOX_press-01',
    });
  });

  it('build the fleet-wide wildcards the cloud subscribes to', () => {
    expect(subjects.fleet).toEqual({
      hello: 'outpost.dev.*.agent.hello',
      heartbeat: 'outpost.dev.*.agent.heartbeat',
      goodbye: 'outpost.dev.*.agent.goodbye',
      desiredGet: 'outpost.dev.*.desired.get',
      reported: 'outpost.dev.*.reported',
      telemetry: 'outpost.dev.*.telemetry',
    });
  });

  it('build the API, event, enrolment and device-hub subjects', () => {
    expect(subjects.api).toEqual({
      devicesList: 'outpost.api.v1.devices.list',
      devicesGet: 'outpost.api.v1.devices.get',
    });
    expect(rpc.devicesList.subject).toBe(subjects.api.devicesList);
    expect(subjects.events.devicePresence).toBe('outpost.events.v1.devices.presence');
    expect(subjects.enroll).toEqual({ request: 'outpost.enroll', inboxPrefix: '_INBOX_enroll' });
    expect(subjects.local.moduleOutput('sensor', 'temperature')).toBe('local.modules.sensor.outputs.temperature');
    expect(subjects.local.moduleInput('filter', 'input1')).toBe('local.modules.filter.inputs.input1');
    expect(subjects.local.allModuleOutputs).toBe('local.modules.*.outputs.*');
    expect(subjects.local.moduleInputs('filter')).toBe('local.modules.filter.inputs.*');
    expect(subjects.local.childEvents('sensor1')).toBe('devices.sensor1.messages.events');
    expect(subjects.local.allChildEvents).toEqual(['devices.*.messages.events', 'devices.*.messages.events.>']);
  });

  it('make a fresh reply subject inside the device’s space for each cloud → device request', () => {
    const first = subjects.device.reply('press-01');
    const second = subjects.device.reply('press-01');
    expect(first).not.toBe(second);
    expect(subjectMap.deviceReply.parse(first)).toEqual({ deviceId: 'press-01', token: expect.any(String) });
    expect(deviceIdFromSubject(first)).toBe('press-01');
  });

  it('refuse every token that would break or widen a subject, naming the parameter', () => {
    const builders: Array<[string, (bad: string) => string]> = [
      ['deviceId', (bad) => subjects.device.hello(bad)],
      ['deviceId', (bad) => subjects.device.inboxPrefix(bad)],
      ['deviceId', (bad) => subjects.device.all(bad)],
      ['module', (bad) => subjects.device.method('d1', bad, 'm')],
      ['method', (bad) => subjects.device.method('d1', 'mod', bad)],
      ['token', (bad) => subjects.device.reply('d1', bad)],
      ['streamId', (bad) => subjects.device.logsChunk('d1', bad)],
      ['module', (bad) => subjects.local.moduleOutput(bad, 'out')],
      ['output', (bad) => subjects.local.moduleOutput('mod', bad)],
      ['input', (bad) => subjects.local.moduleInput('mod', bad)],
      ['childId', (bad) => subjects.local.childEvents(bad)],
    ];
    for (const [param, build] of builders) {
      for (const bad of BAD_TOKENS) {
        const err = thrownBy(() => build(bad));
        expect(err, `${param} = ${JSON.stringify(bad)}`).toBeInstanceOf(OutpostError);
        expect((err as OutpostError).code).toBe('VALIDATION_FAILED');
        expect((err as OutpostError).details[0]?.path).toBe(param);
      }
    }
  });

  it('never let a device be named like the enrolment inbox', () => {
    const err = thrownBy(() => subjects.device.inboxPrefix('enroll'));
    expect((err as OutpostError).message).toMatch(/deviceId/);
  });

  it('no built subject contains whitespace or a wildcard inside a token, for any valid tokens', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/).filter((t) => t !== 'enroll');
    fc.assert(
      fc.property(token, token, token, (a, b, c) => {
        const built = [
          subjects.device.method(a, b, c),
          subjects.device.logsChunk(a, b),
          subjects.device.reply(a, c),
          subjects.local.moduleOutput(a, b),
          subjects.device.inboxPrefix(a),
        ];
        for (const subject of built) {
          expect(subject).not.toMatch(/\s/);
          for (const part of subject.split('.')) expect(part === '' || /[*>]/.test(part)).toBe(false);
        }
      }),
    );
  });
});

describe('the subject map', () => {
  it('parses what it builds, for every row', () => {
    const values: Record<string, string> = {
      deviceId: 'press-01',
      childId: 'sensor1',
      module: 'sensor',
      output: 'temperature',
      input: 'input1',
      method: 'reset',
      token: 'abc',
      streamId: 'stream1',
    };
    for (const [name, row] of rows) {
      const params = Object.fromEntries(row.params.map((param) => [param, values[param] ?? '']));
      const built = row.build(params);
      expect(row.parse(built), name).toEqual(params);
    }
  });

  it('parses only subjects that match, with valid tokens', () => {
    expect(subjectMap.methodCall.parse('outpost.dev.d1.modules.sensor.methods.reset')).toEqual({
      deviceId: 'd1',
      module: 'sensor',
      method: 'reset',
    });
    for (const subject of [
      'outpost.dev.d1.modules.sensor.methods',
      'outpost.dev.d1.modules.sensor.methods.reset.extra',
      'outpost.dev.-d1.modules.sensor.methods.reset',
      'outpost.dev.d1.modules.*.methods.reset',
      'outpost.dev.d1.module.sensor.methods.reset',
      '',
    ]) {
      expect(subjectMap.methodCall.parse(subject), subject).toBeNull();
    }
    expect(subjectMap.deviceInbox.parse('_INBOX_press-01.abc.1')).toEqual({ deviceId: 'press-01' });
    expect(subjectMap.deviceInbox.parse('_INBOX_press-01')).toBeNull();
    expect(subjectMap.deviceInbox.parse('_INBOX_.abc')).toBeNull();
    expect(subjectMap.deviceInbox.parse('_INBOX.abc')).toBeNull();
  });

  it('refuses to wildcard a parameter that is only part of a token', () => {
    expect(() => subjectMap.deviceInbox.wildcard()).toThrow(/part of a token/);
    expect(subjectMap.deviceInbox.wildcard({ deviceId: 'd1' })).toBe('_INBOX_d1.>');
  });

  it('has one row per subject, each carrying a message from the catalog', () => {
    const patterns = rows.map(([, row]) => row.pattern);
    expect(new Set(patterns).size).toBe(patterns.length);
    for (const [name, row] of rows) {
      if (row.message === null) {
        expect(row.payload, name).toBeTruthy();
        continue;
      }
      expect(messageCatalog, name).toContain(row.message);
      if (row.reply) expect(messageCatalog, name).toContain(row.reply);
      expect(row.publish.length, name).toBeGreaterThan(0);
      expect(row.subscribe.length, name).toBeGreaterThan(0);
    }
  });

  it('keeps every cloud device subject under a prefix that names the device', () => {
    for (const [name, row] of rows) {
      if (row.server !== 'cloud' || !row.params.includes('deviceId')) continue;
      const built = row.build(Object.fromEntries(row.params.map((param) => [param, `x${param}`])));
      expect(built.startsWith('outpost.dev.xdeviceId.') || built.startsWith('_INBOX_xdeviceId.'), name).toBe(true);
    }
  });
});

describe('defining a subject', () => {
  const spec = {
    server: 'cloud',
    about: 'test',
    message: AgentHelloV1,
    publish: ['agent'],
    subscribe: ['cloud-api'],
  } as const;

  it('types and validates placeholders, and reads them back', () => {
    const row = defineSubject('test.{deviceId}.x.{module}', spec);
    expect(row.params).toEqual(['deviceId', 'module']);
    expect(row.build({ deviceId: 'd1', module: 'm1' })).toBe('test.d1.x.m1');
    expect(row.wildcard({ module: 'm1' })).toBe('test.*.x.m1');
    expect(row.parse('test.d1.x.m1')).toEqual({ deviceId: 'd1', module: 'm1' });
    expect(Object.isFrozen(row)).toBe(true);
  });

  it('refuses patterns it could not build or parse safely', () => {
    expect(() => defineSubject('test.>.x', spec)).toThrow(/must come last/);
    expect(() => defineSubject('test.{deviceId}{module}', spec)).toThrow(/one placeholder per token/);
    // An unknown placeholder does not compile; the cast checks the runtime guard behind it.
    expect(() => defineSubject('test.{colour}' as never, spec)).toThrow(/unknown placeholder/);
  });
});

describe('permissions derived from the map', () => {
  /**
   * The agent reads artifacts with JetStream direct gets, the query in the body: one subject, no consumer (whose
   * deliver subject nats-server does not check), no stream or account info.
   */
  const ARTIFACT_READ_SUBJECTS = ['$JS.API.DIRECT.GET.OBJ_outpost-artifacts'];

  it('confine an agent to its own device space and its own inbox, plus reading the artifacts bucket', () => {
    const { publish, subscribe } = permissionsFor({ role: 'agent', deviceId: 'press-01' });
    expect(publish).toEqual([
      'outpost.dev.press-01.agent.hello',
      'outpost.dev.press-01.agent.heartbeat',
      'outpost.dev.press-01.agent.goodbye',
      'outpost.dev.press-01.desired.get',
      'outpost.dev.press-01.reported',
      'outpost.dev.press-01.telemetry',
      'outpost.dev.press-01.reply.*',
      'outpost.dev.press-01.logs.chunk.*',
      'outpost.dev.press-01.credential.renew',
      ...ARTIFACT_READ_SUBJECTS,
    ]);
    expect(subscribe).toEqual([
      'outpost.dev.press-01.desired.changed',
      'outpost.dev.press-01.modules.*.methods.*',
      'outpost.dev.press-01.agent.methods.*',
      'outpost.dev.press-01.logs.request',
      '_INBOX_press-01.>',
    ]);
  });

  it('never give one device another’s subjects, nor `_INBOX.>`', () => {
    const deviceIds = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$/).filter((id) => id !== 'enroll');
    fc.assert(
      fc.property(deviceIds, (deviceId) => {
        const { publish, subscribe } = permissionsFor({ role: 'agent', deviceId });
        for (const subject of [...publish, ...subscribe]) {
          const own = subject.startsWith(`outpost.dev.${deviceId}.`) || subject.startsWith(`_INBOX_${deviceId}.`);
          // The one thing devices share: reading the artifacts bucket (publish only, never a subscription).
          const artifactRead = ARTIFACT_READ_SUBJECTS.includes(subject) && publish.includes(subject);
          expect(own || artifactRead).toBe(true);
          expect(subject.split('.')[0]).not.toBe('_INBOX');
        }
        expect(subscribe.filter((subject) => subject.startsWith('$'))).toEqual([]);
        // Never a consumer, flow control or any other JetStream call: only the artifacts stream's direct get.
        expect(publish.filter((subject) => subject.startsWith('$'))).toEqual(ARTIFACT_READ_SUBJECTS);
      }),
    );
  });

  it('give enrolment, the portal, modules and downstream devices only their own subjects', () => {
    expect(permissionsFor({ role: 'enrolling-agent' })).toEqual({
      publish: ['outpost.enroll'],
      subscribe: ['_INBOX_enroll.>'],
    });
    expect(permissionsFor({ role: 'portal' })).toEqual({
      publish: [
        'outpost.api.v1.auth.login',
        'outpost.api.v1.auth.logout',
        'outpost.api.v1.auth.me',
        'outpost.api.v1.devices.create',
        'outpost.api.v1.devices.list',
        'outpost.api.v1.devices.get',
      ],
      subscribe: ['_INBOX_portal.>', 'outpost.events.v1.devices.presence'],
    });
    expect(permissionsFor({ role: 'module', module: 'sensor' })).toEqual({
      publish: ['local.modules.sensor.outputs.*'],
      subscribe: ['local.modules.sensor.inputs.*'],
    });
    expect(permissionsFor({ role: 'child-device', childId: 'sensor1' })).toEqual({
      publish: ['devices.sensor1.messages.events', 'devices.sensor1.messages.events.>'],
      subscribe: [],
    });
  });

  it('refuse a scope that is not a valid token', () => {
    expect(() => permissionsFor({ role: 'agent', deviceId: 'a.b' })).toThrow(OutpostError);
    expect(() => permissionsFor({ role: 'module', module: '*' })).toThrow(OutpostError);
  });
});

describe('device subjects', () => {
  it('give the device id back from any device subject, and null for anything else', () => {
    expect(deviceIdFromSubject('outpost.dev.dev-device-01.agent.heartbeat')).toBe('dev-device-01');
    expect(deviceIdFromSubject('outpost.api.v1.devices.list')).toBeNull();
    expect(deviceIdFromSubject('outpost.dev.a')).toBeNull();
    expect(deviceIdFromSubject('outpost.dev.-bad.agent.hello')).toBeNull();
    expect(deviceIdFromSubject('outpost.dev.*.agent.hello')).toBeNull();
  });
});

describe('downstream MQTT events', () => {
  it('carry properties as percent-encoded key=value tokens, with . and * encoded too', () => {
    const subject = childEventsSubject('sensor1', { alert: 'true', 'content type': 'application/json', 'a.b': '*' });
    expect(subject).toBe('devices.sensor1.messages.events.alert=true.content%20type=application%2Fjson.a%2Eb=%2A');
    expect(parseChildEventsSubject(subject)).toEqual({
      childId: 'sensor1',
      properties: { alert: 'true', 'content type': 'application/json', 'a.b': '*' },
    });
  });

  it('read subjects without properties, Azure-style `&` bags, and refuse malformed ones', () => {
    expect(parseChildEventsSubject('devices.sensor1.messages.events')).toEqual({ childId: 'sensor1', properties: {} });
    expect(parseChildEventsSubject('devices.sensor1.messages.events.a=1&b=2.a=3')).toEqual({
      childId: 'sensor1',
      properties: { a: '3', b: '2' },
    });
    for (const subject of [
      'devices.sensor1.messages.events.novalue',
      'devices.sensor1.messages.events.=x',
      'devices.sensor1.messages.events.a=%E0%A4%A',
      'devices.-x.messages.events',
      'devices.sensor1.messages',
      'devices.sensor1.messages.telemetry',
    ]) {
      expect(parseChildEventsSubject(subject), subject).toBeNull();
    }
  });

  it('round-trip any property names and values', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.string()), (properties) => {
        const subject = childEventsSubject('sensor1', properties);
        expect(subject).not.toMatch(/\s/);
        expect(parseChildEventsSubject(subject)).toEqual({ childId: 'sensor1', properties: { ...properties } });
      }),
    );
  });
});
