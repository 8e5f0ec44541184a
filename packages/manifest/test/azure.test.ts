/** The Azure converter against small deployments written here, so it is covered without the shared corpus. */
import { describe, expect, it } from 'vitest';
import {
  AzureImportError,
  type AzureImportResult,
  fromAzureManifest,
  type Layer,
  type Manifest,
  type ManifestIssue,
  validateManifest,
  valueAtJsonPath,
} from '../src/index.js';
import { edited, REMOVE } from './helpers.js';

const AGENT = 'modulesContent.$edgeAgent["properties.desired"]';
const HUB = 'modulesContent.$edgeHub["properties.desired"]';

/** A full deployment in the shape `az iot edge set-modules` takes; `change` edits a fresh copy. */
function deployment(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const d: Record<string, unknown> = {
    modulesContent: {
      $edgeAgent: {
        'properties.desired': {
          schemaVersion: '1.1',
          runtime: {
            type: 'docker',
            settings: {
              minDockerVersion: 'v1.25',
              loggingOptions: '',
              registryCredentials: {
                contoso: { username: 'user', password: 'pa55', address: 'contoso.azurecr.io' },
              },
            },
          },
          systemModules: {
            edgeAgent: {
              type: 'docker',
              settings: { image: 'mcr.microsoft.com/azureiotedge-agent:1.5', createOptions: '' },
              env: {
                MaxRestartCount: { value: '7' },
                IntensiveCareTimeInMinutes: { value: 3 },
                UpstreamProtocol: { value: 'Amqp' },
              },
            },
            edgeHub: {
              type: 'docker',
              status: 'running',
              restartPolicy: 'always',
              settings: { image: 'mcr.microsoft.com/azureiotedge-hub:1.5', createOptions: '{}' },
            },
          },
          modules: {
            sensor: {
              version: '1.0',
              type: 'docker',
              status: 'running',
              restartPolicy: 'always',
              startupOrder: 1,
              imagePullPolicy: 'never',
              env: { INTERVAL: { value: 5 }, VERBOSE: { value: true }, DB_PASSWORD: { value: 'pw' } },
              settings: {
                image: 'contoso.azurecr.io/sensor:1.0',
                createOptions: '{"HostConfig":{"PortBindings":{"80/tcp":[{"Host',
                createOptions01: 'Port":"8080"}]},',
                createOptions02: '"Memory":1024}}',
              },
            },
            filter: {
              version: '1.0',
              type: 'docker',
              status: 'stopped',
              restartPolicy: 'on-unhealthy',
              settings: { image: 'example/filter:2', createOptions: '' },
            },
          },
        },
      },
      $edgeHub: {
        'properties.desired': {
          schemaVersion: '1.2',
          routes: {
            sensorToFilter:
              'FROM /messages/modules/sensor/outputs/* INTO BrokeredEndpoint("/modules/filter/inputs/in")',
            filterToCloud: {
              route: 'FROM /messages/modules/filter/* INTO $upstream',
              priority: 1,
              timeToLiveSecs: 600,
            },
            noPriority: { route: 'FROM /messages INTO $upstream' },
          },
          storeAndForwardConfiguration: { timeToLiveSecs: 1800 },
        },
      },
      sensor: { 'properties.desired': { sendInterval: 5, limits: { high: 30 } } },
    },
  };
  return edited(d, changes);
}

function importManifest(document: unknown): { manifest: Manifest; warnings: ManifestIssue[] } {
  const result = fromAzureManifest(document);
  if (result.kind !== 'manifest') expect.fail(`expected a manifest, got a ${result.kind}`);
  return result;
}

function importLayer(document: unknown): { manifest: Layer; warnings: ManifestIssue[] } {
  const result = fromAzureManifest(document);
  if (result.kind !== 'layer') expect.fail(`expected a layer, got a ${result.kind}`);
  return result;
}

function importErrors(document: unknown): readonly ManifestIssue[] {
  try {
    fromAzureManifest(document);
  } catch (error) {
    if (error instanceof AzureImportError) return error.errors;
    throw error;
  }
  return expect.fail('expected the import to fail');
}

function warningAt(warnings: readonly ManifestIssue[], path: string): string {
  const found = warnings.filter((warning) => warning.path === path);
  if (found.length === 0) expect.fail(`no warning at ${path}; warnings: ${JSON.stringify(warnings, null, 2)}`);
  return found.map((warning) => warning.message).join(' | ');
}

describe('fromAzureManifest: full deployments', () => {
  it('converts modules, routes, store-and-forward and module twins', () => {
    const { manifest } = importManifest(deployment());
    expect(manifest.modules.sensor).toEqual({
      type: 'container',
      version: '1.0',
      status: 'running',
      restartPolicy: 'always',
      startupOrder: 1,
      env: { INTERVAL: { value: '5' }, VERBOSE: { value: 'true' }, DB_PASSWORD: { value: 'pw', secret: true } },
      container: {
        image: 'contoso.azurecr.io/sensor:1.0',
        createOptions: { HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '8080' }] }, Memory: 1024 } },
        pullPolicy: 'never',
        registryCredentialsRef: 'contoso',
      },
      desiredProperties: { sendInterval: 5, limits: { high: 30 } },
    });
    expect(manifest.modules.filter).toEqual({
      type: 'container',
      version: '1.0',
      status: 'stopped',
      restartPolicy: 'on-unhealthy',
      container: { image: 'example/filter:2', pullPolicy: 'on-create' },
    });
    expect(manifest.routes).toEqual({
      sensorToFilter: 'FROM /messages/modules/sensor/outputs/* INTO BrokeredEndpoint("/modules/filter/inputs/in")',
      filterToCloud: { route: 'FROM /messages/modules/filter/* INTO $upstream', priority: 1, timeToLiveSecs: 600 },
      noPriority: { route: 'FROM /messages INTO $upstream' },
    });
    expect(manifest.storeAndForward).toEqual({ timeToLiveSecs: 1800, whenFull: 'drop-oldest' });
    expect(manifest.schemaVersion).toBe('1.0');
  });

  it("carries the Azure agent's restart settings over from its environment", () => {
    const { manifest } = importManifest(deployment());
    expect(manifest.agent).toMatchObject({ maxRestarts: 7, healthyResetSecs: 180, restartBackoffUnitSecs: 10 });
  });

  it('lists what it did not carry over, with paths into the Azure document', () => {
    const { warnings } = importManifest(deployment());
    expect(warningAt(warnings, `${AGENT}.systemModules.edgeAgent`)).toBe(
      "Azure's edge agent is replaced by outpost-agent; its image and createOptions are not carried over; its " +
        'environment (UpstreamProtocol) has no Outpost equivalent',
    );
    expect(warningAt(warnings, `${AGENT}.systemModules.edgeHub`)).toContain("Azure's edge hub is replaced");
    expect(warningAt(warnings, `${AGENT}.runtime.settings.registryCredentials.contoso`)).toBe(
      'the username and password are not carried over into the manifest; store them in Outpost as registry ' +
        'credentials named "contoso", which module "sensor" now refers to',
    );
    expect(warningAt(warnings, `${AGENT}.modules.sensor.env.DB_PASSWORD`)).toContain('imported with secret: true');
    expect(warnings).toHaveLength(4);
    expect(JSON.stringify(importManifest(deployment()))).not.toContain('pa55');
  });

  it('returns a manifest that validates on its own', () => {
    const { manifest } = importManifest(deployment());
    expect(validateManifest(manifest).ok).toBe(true);
  });

  it('accepts the JSON text as well as the parsed value', () => {
    expect(importManifest(JSON.stringify(deployment())).manifest).toEqual(importManifest(deployment()).manifest);
    expect(importErrors('{"modulesContent": ')[0]?.message).toMatch(/^not JSON: /);
  });

  it('reads the az CLI deployment format and returns its priority and target condition', () => {
    const wrapped = {
      id: 'sensors-v2',
      priority: 10,
      targetCondition: "tags.site = 'plant-7'",
      labels: { team: 'ops' },
      content: deployment(),
      metrics: { queries: {} },
      etag: 'MQ==',
    };
    const result: AzureImportResult = fromAzureManifest(wrapped);
    expect(result.kind).toBe('manifest');
    expect(result.deployment).toEqual({
      id: 'sensors-v2',
      priority: 10,
      targetCondition: "tags.site = 'plant-7'",
      labels: { team: 'ops' },
    });
    expect(warningAt(result.warnings, 'metrics')).toContain('metrics queries are not carried over');
    expect(warningAt(result.warnings, `content.${AGENT}.systemModules.edgeAgent`)).toContain('outpost-agent');
  });

  it('drops Azure runtime modules and flags nested-edge references', () => {
    const { manifest, warnings } = importManifest(
      deployment({
        [`${AGENT}.modules.proxy`]: {
          type: 'docker',
          settings: { image: '$upstream:443/azureiotedge-api-proxy:1.1', createOptions: '' },
        },
        [`${AGENT}.modules.relay`]: {
          type: 'docker',
          env: { PARENT_HOSTNAME: { value: 'gateway.local' } },
          settings: { image: '$upstream:443/relay:1.0', createOptions: '{"Env":["UPSTREAM=$upstream"]}' },
        },
      }),
    );
    expect(manifest.modules.proxy).toBeUndefined();
    expect(warningAt(warnings, `${AGENT}.modules.proxy`)).toBe(
      'module not carried over: the Azure IoT Edge API proxy serves nested edge, which Outpost does not support yet',
    );
    expect(manifest.modules.relay?.type).toBe('container');
    expect(warningAt(warnings, `${AGENT}.modules.relay.settings.image`)).toContain('pulls through the parent device');
    expect(warningAt(warnings, `${AGENT}.modules.relay.settings.createOptions`)).toContain(
      'refers to the parent device',
    );
    expect(warningAt(warnings, `${AGENT}.modules.relay.env.PARENT_HOSTNAME`)).toContain('refers to the parent device');
  });

  it('warns about edge hub MQTT broker settings and twins of modules the deployment lacks', () => {
    const { warnings } = importManifest(
      deployment({
        [`${HUB}.mqttBroker`]: { authorizations: [] },
        'modulesContent.ghost': { 'properties.desired': { a: 1 } },
      }),
    );
    expect(warningAt(warnings, `${HUB}.mqttBroker`)).toContain('not carried over');
    expect(warningAt(warnings, 'modulesContent.ghost')).toBe(
      'desired properties for module "ghost", which the deployment does not run; not carried over',
    );
  });

  it('warns about a route to a module the deployment lacks, as the validator does', () => {
    const { warnings } = importManifest(
      deployment({ [`${HUB}.routes.toRelay`]: 'FROM /messages INTO BrokeredEndpoint("/modules/relay/inputs/in")' }),
    );
    expect(warningAt(warnings, `${HUB}.routes.toRelay`)).toContain('sends to module "relay"');
  });

  it('accepts a route table with no routes', () => {
    const { manifest } = importManifest(deployment({ [`${HUB}.routes`]: {} }));
    expect(manifest.routes).toEqual({});
  });

  it('treats a whole createOptions object and an empty string alike', () => {
    const { manifest } = importManifest(
      deployment({
        [`${AGENT}.modules.sensor.settings`]: { image: 'x/sensor:1', createOptions: { Env: ['A=1'] } },
        [`${AGENT}.modules.filter.settings.createOptions`]: '   ',
      }),
    );
    const sensor = manifest.modules.sensor;
    expect(sensor?.type === 'container' && sensor.container.createOptions).toEqual({ Env: ['A=1'] });
    const filter = manifest.modules.filter;
    expect(filter?.type === 'container' && filter.container.createOptions).toBeUndefined();
  });
});

describe('fromAzureManifest: $edgeAgent schema versions (agent-semantics C4)', () => {
  it.each([
    ['1.0', true],
    ['1.1', true],
    ['1.1.0', true],
    ['0.1', false],
    ['1', false],
    ['1.2', false],
    ['1.1.1', false],
    ['1.1.0.0', false],
    ['2.0', false],
    ['2.0.1', false],
    ['one', false],
  ])('%s → accepted: %s', (version, accepted) => {
    const document = deployment({ [`${AGENT}.schemaVersion`]: version });
    if (accepted) {
      expect(importManifest(document).manifest.modules.sensor).toBeDefined();
    } else {
      expect(importErrors(document)).toEqual([
        {
          path: `${AGENT}.schemaVersion`,
          message: `$edgeAgent schema version "${version}" is not accepted: Azure IoT Edge reads 1.0 to 1.1.0`,
        },
      ]);
    }
  });

  it('accepts startupOrder under 1.0 (Azure does not enforce it)', () => {
    const document = deployment({ [`${AGENT}.schemaVersion`]: '1.0', [`${HUB}.schemaVersion`]: '1.1' });
    expect(importManifest(document).manifest.modules.sensor?.startupOrder).toBe(1);
  });

  it('requires a schema version', () => {
    const document = deployment({ [`${AGENT}.schemaVersion`]: REMOVE });
    expect(importErrors(document)).toEqual([
      { path: `${AGENT}.schemaVersion`, message: 'required: the $edgeAgent schema version ("1.0" or "1.1")' },
    ]);
  });
});

describe('fromAzureManifest: $edgeHub desired properties (routing-semantics B10)', () => {
  it.each([
    ['1.0', true],
    ['1.1', true],
    ['1.1.0', true],
    ['1.2', true],
    ['1.3', true],
    ['0.1', false],
    ['1', false],
    ['1.4', false],
    ['2.0', false],
    ['2.0.1', false],
  ])('%s → accepted: %s', (version, accepted) => {
    // String routes only, so that 1.0 is tested on the version alone.
    const document = deployment({
      [`${HUB}.schemaVersion`]: version,
      [`${HUB}.routes`]: { route1: 'FROM /* INTO $upstream' },
      [`${HUB}.storeAndForwardConfiguration`]: { timeToLiveSecs: 20 },
    });
    if (accepted) {
      const { manifest } = importManifest(document);
      expect(manifest.routes).toEqual({ route1: 'FROM /* INTO $upstream' });
      expect(manifest.storeAndForward.timeToLiveSecs).toBe(20);
    } else {
      expect(importErrors(document)).toEqual([
        {
          path: `${HUB}.schemaVersion`,
          message: `$edgeHub schema version "${version}" is not accepted: Azure IoT Edge reads 1.0 to 1.3`,
        },
      ]);
    }
  });

  it('rejects a missing schema version, object routes under 1.0 and a missing route table', () => {
    expect(importErrors(deployment({ [`${HUB}.schemaVersion`]: REMOVE }))[0]?.path).toBe(`${HUB}.schemaVersion`);
    expect(importErrors(deployment({ [`${HUB}.schemaVersion`]: '1.0' }))).toEqual([
      {
        path: `${HUB}.routes.filterToCloud`,
        message:
          '$edgeHub schema 1.0 allows only string routes; { route, priority, timeToLiveSecs } needs 1.1 or later',
      },
      {
        path: `${HUB}.routes.noPriority`,
        message:
          '$edgeHub schema 1.0 allows only string routes; { route, priority, timeToLiveSecs } needs 1.1 or later',
      },
    ]);
    expect(importErrors(deployment({ [`${HUB}.routes`]: REMOVE }))).toEqual([
      { path: `${HUB}.routes`, message: 'required: the route table ({} for none)' },
    ]);
  });

  it('rejects empty route names and texts, priorities outside 0-9 and bad routes, at their Azure paths', () => {
    const errors = importErrors(
      deployment({
        [`${HUB}.routes`]: {
          '': 'FROM /* INTO $upstream',
          emptyText: '',
          emptyObject: { route: '', priority: 1 },
          tooLow: { route: 'FROM /* INTO $upstream', priority: 50 },
          broken: 'FROM /messages WHERE INTO',
        },
      }),
    );
    expect(errors).toEqual([
      { path: `${HUB}.routes[""]`, message: 'route name cannot be empty' },
      { path: `${HUB}.routes.emptyText`, message: 'route cannot be empty' },
      { path: `${HUB}.routes.emptyObject.route`, message: 'route cannot be empty' },
      { path: `${HUB}.routes.tooLow.priority`, message: 'must be at most 9' },
      { path: `${HUB}.routes.broken`, message: expect.stringMatching(/\(line 1, column \d+\)$/) },
    ]);
  });
});

describe('fromAzureManifest: problems in modules', () => {
  it('reports validation problems at the Azure path they came from', () => {
    const errors = importErrors(
      deployment({
        [`${AGENT}.modules.filter.restartPolicy`]: 'sometimes',
        [`${AGENT}.modules["temp.sensor"]`]: valueAtJsonPath(deployment(), `${AGENT}.modules.filter`),
        [`${AGENT}.modules.sensor.env.BAD`]: { value: { nested: true } },
        [`${AGENT}.modules.sensor.imagePullPolicy`]: 'always',
      }),
    );
    expect(errors).toEqual([
      {
        path: `${AGENT}.modules.sensor.env.BAD.value`,
        message: 'expected a string, got an object',
      },
      { path: `${AGENT}.modules.sensor.imagePullPolicy`, message: 'expected one of on-create, never, got "always"' },
      {
        path: `${AGENT}.modules.filter.restartPolicy`,
        message: 'expected one of never, on-failure, on-unhealthy, always, got "sometimes"',
      },
      {
        path: `${AGENT}.modules["temp.sensor"]`,
        message:
          "module name contains '.', which cannot appear in a NATS subject token; use letters, digits, '-' and '_'",
      },
    ]);
  });

  it('rejects modules Outpost cannot run as containers', () => {
    const errors = importErrors(
      deployment({ [`${AGENT}.modules.filter.type`]: 'vm', [`${AGENT}.modules.sensor.settings`]: REMOVE }),
    );
    expect(errors).toEqual([
      { path: `${AGENT}.modules.sensor.settings`, message: 'required: { image, createOptions }' },
      { path: `${AGENT}.modules.filter.type`, message: 'expected "docker" (the only Azure module type), got "vm"' },
    ]);
  });

  it('rejects createOptions that are not JSON, or whose chunks have a gap', () => {
    expect(importErrors(deployment({ [`${AGENT}.modules.sensor.settings.createOptions02`]: REMOVE }))).toEqual([
      {
        path: `${AGENT}.modules.sensor.settings.createOptions`,
        message: expect.stringMatching(/^not valid JSON \(joined from 2 chunks\): /),
      },
    ]);
    expect(importErrors(deployment({ [`${AGENT}.modules.sensor.settings.createOptions01`]: REMOVE }))).toEqual([
      {
        path: `${AGENT}.modules.sensor.settings.createOptions01`,
        message: 'missing: createOptions chunks must be numbered 01, 02, … without gaps',
      },
    ]);
    expect(importErrors(deployment({ [`${AGENT}.modules.filter.settings.createOptions`]: '[1]' }))).toEqual([
      { path: `${AGENT}.modules.filter.settings.createOptions`, message: 'expected a JSON object, got an array' },
    ]);
  });
});

describe('fromAzureManifest: documents that are not deployments', () => {
  it.each([
    [null, '', 'expected an Azure IoT Edge deployment object, got null'],
    [[], '', 'expected an Azure IoT Edge deployment object, got an array'],
    [{}, '', 'no modulesContent: expected { modulesContent: { $edgeAgent, $edgeHub, … } }'],
    [{ modulesContent: 7 }, 'modulesContent', 'modulesContent must be an object'],
    [
      { properties: { desired: { schemaVersion: '1.1', modules: {} } } },
      'properties',
      'this is a module twin (properties.desired / reported), not a deployment; import the deployment content',
    ],
    [
      { modulesContent: { $edgeAgent: { 'properties.desired': { schemaVersion: '1.1' } } } },
      'modulesContent.$edgeHub',
      "a deployment needs both $edgeAgent and $edgeHub 'properties.desired'; $edgeHub has none",
    ],
    [
      {
        modulesContent: {
          $edgeAgent: { 'properties.desired': { schemaVersion: '1.1' } },
          $edgeHub: { 'properties.desired.routes.r': 'FROM /* INTO $upstream' },
        },
      },
      'modulesContent',
      "mixes a full deployment ('properties.desired') with layered keys ('properties.desired.…')",
    ],
  ])('%j is rejected', (document, path, message) => {
    expect(importErrors(document)).toEqual([{ path, message }]);
  });

  it('summarises the errors in the exception message', () => {
    try {
      fromAzureManifest({});
      expect.fail('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(AzureImportError);
      expect((error as Error).message).toBe(
        'cannot import the Azure IoT Edge deployment: no modulesContent: expected { modulesContent: { $edgeAgent, $edgeHub, … } }',
      );
    }
  });
});

describe('fromAzureManifest: layered deployments', () => {
  const layered = () => ({
    content: {
      modulesContent: {
        $edgeAgent: {
          'properties.desired.modules.telemetry': {
            type: 'docker',
            status: 'running',
            restartPolicy: 'always',
            version: '1.0',
            env: { LEVEL: { value: 'info' } },
            settings: {
              image: 'fabrikam.azurecr.io/telemetry:3',
              createOptions: '{"HostConfig":{"Privileged":false}}',
            },
          },
          'properties.desired.runtime.settings.registryCredentials.fabrikam': {
            username: 'u',
            password: 'p',
            address: 'fabrikam.azurecr.io',
          },
        },
        $edgeHub: {
          'properties.desired.routes.telemetryUp': 'FROM /messages/modules/telemetry/* INTO $upstream',
          'properties.desired.routes.toBase': {
            route: 'FROM /messages/modules/telemetry/* INTO BrokeredEndpoint("/modules/base/inputs/in")',
            priority: 2,
          },
        },
        telemetry: { 'properties.desired.settings': { rate: 5 }, 'properties.desired.limits.max': 9 },
        base: { 'properties.desired.mode': 'eco' },
      },
    },
    priority: 20,
  });

  it('converts layered keys into a layer', () => {
    const { manifest, warnings } = importLayer(layered());
    expect(manifest).toEqual({
      schemaVersion: '1.0',
      modules: {
        telemetry: {
          type: 'container',
          version: '1.0',
          status: 'running',
          restartPolicy: 'always',
          env: { LEVEL: { value: 'info' } },
          container: {
            image: 'fabrikam.azurecr.io/telemetry:3',
            createOptions: { HostConfig: { Privileged: false } },
            pullPolicy: 'on-create',
            registryCredentialsRef: 'fabrikam',
          },
        },
      },
      routes: {
        telemetryUp: 'FROM /messages/modules/telemetry/* INTO $upstream',
        toBase: {
          route: 'FROM /messages/modules/telemetry/* INTO BrokeredEndpoint("/modules/base/inputs/in")',
          priority: 2,
        },
      },
      moduleDesiredProperties: { telemetry: { settings: { rate: 5 }, limits: { max: 9 } }, base: { mode: 'eco' } },
    });
    expect(warningAt(warnings, 'content.modulesContent.$edgeHub["properties.desired.routes.toBase"].route')).toBe(
      'sends to module "base", which this layer does not define; it must come from another layer, or the effective ' +
        'deployment is rejected',
    );
    expect(fromAzureManifest(layered()).deployment).toEqual({ priority: 20 });
  });

  it('treats a deployment of module twins alone as a layer', () => {
    const { manifest } = importLayer({ modulesContent: { sensor: { 'properties.desired.threshold': 30 } } });
    expect(manifest).toEqual({ schemaVersion: '1.0', moduleDesiredProperties: { sensor: { threshold: 30 } } });
  });

  it('warns about layered settings a layer cannot carry', () => {
    const { warnings } = importLayer({
      modulesContent: {
        $edgeHub: { 'properties.desired.storeAndForwardConfiguration.timeToLiveSecs': 10 },
        $edgeAgent: { 'properties.desired.systemModules.edgeHub.env.X': { value: '1' } },
      },
    });
    expect(warnings).toEqual([
      {
        path: 'modulesContent.$edgeAgent["properties.desired.systemModules.edgeHub.env.X"]',
        message: "Azure's system modules are replaced by outpost-agent; not carried over",
      },
      {
        path: 'modulesContent.$edgeHub["properties.desired.storeAndForwardConfiguration.timeToLiveSecs"]',
        message: "layers do not carry store-and-forward settings; the base deployment's apply",
      },
    ]);
  });

  it('rejects a layer that sets part of a module', () => {
    expect(
      importErrors({ modulesContent: { $edgeAgent: { 'properties.desired.modules.sensor.env.X': { value: '1' } } } }),
    ).toEqual([
      {
        path: 'modulesContent.$edgeAgent["properties.desired.modules.sensor.env.X"]',
        message:
          "sets part of a module; Outpost layers replace whole modules (and module names cannot contain '.'), so " +
          "write the whole module as 'properties.desired.modules.<name>'",
      },
    ]);
  });
});
