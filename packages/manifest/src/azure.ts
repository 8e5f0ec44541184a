/**
 * Import of Azure IoT Edge deployments (`modulesContent` with `$edgeAgent` and `$edgeHub`) as Outpost manifests or
 * layers. The acceptance rules are Azure's own (agent-semantics.md C4, routing-semantics.md B10 in the shared
 * conformance corpus); what Outpost has no equivalent for is listed in `warnings`, never silently dropped.
 *
 * Every path in warnings and errors points into the Azure document that was imported.
 */
import { formatJsonPath, type JsonPathSegment, parseJsonPath } from './json-path.js';
import { mergePatch } from './layers.js';
import { type JsonObject, type JsonValue, type Layer, MANIFEST_SCHEMA_VERSION, type Manifest } from './schema.js';
import { isPlainObject, type ManifestIssue, validateManifest } from './validate.js';

/** What the az CLI and the portal show about a deployment besides its content; the cloud API keeps it, not the manifest. */
export interface AzureDeploymentInfo {
  readonly id?: string;
  readonly priority?: number;
  readonly targetCondition?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly createdTimeUtc?: string;
}

export type AzureImportResult =
  | {
      readonly kind: 'manifest';
      readonly manifest: Manifest;
      readonly warnings: ManifestIssue[];
      readonly deployment?: AzureDeploymentInfo;
    }
  | {
      readonly kind: 'layer';
      readonly manifest: Layer;
      readonly warnings: ManifestIssue[];
      readonly deployment?: AzureDeploymentInfo;
    };

/** The Azure document cannot be imported; `errors` lists every reason with its path in that document. */
export class AzureImportError extends Error {
  override readonly name = 'AzureImportError';
  readonly errors: readonly ManifestIssue[];

  constructor(errors: readonly ManifestIssue[]) {
    const first = errors[0];
    const summary = first === undefined ? 'invalid' : `${first.path === '' ? '' : `${first.path}: `}${first.message}`;
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super(`cannot import the Azure IoT Edge deployment: ${summary}${more}`);
    this.errors = errors;
  }
}

/** Images of Azure's own runtime modules, which Outpost replaces (agent, hub) or has no use for (nested-edge proxy). */
const AZURE_RUNTIME_IMAGE = /(?:^|\/)azureiotedge-(agent|hub|api-proxy)(?=[:@]|$)/i;

/** `$upstream` (the parent device's registry or hub) and parent hostnames only mean something in nested edge. */
const NESTED_EDGE_REFERENCE = /\$upstream\b|\$parent|parent.?hostname/i;
const NESTED_EDGE_NOTE = 'nested edge, which Outpost does not support yet';

/** Azure agent environment variables that configure restart behaviour, and the Outpost setting each becomes. */
const AGENT_ENV_SETTINGS: Readonly<Record<string, { setting: string; factor: number }>> = {
  MaxRestartCount: { setting: 'maxRestarts', factor: 1 },
  CoolOffTimeUnitInSeconds: { setting: 'restartBackoffUnitSecs', factor: 1 },
  IntensiveCareTimeInMinutes: { setting: 'healthyResetSecs', factor: 60 },
};

/** Words in an environment variable name that suggest its value is a secret. */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'pwd',
  'secret',
  'token',
  'key',
  'apikey',
  'credential',
  'credentials',
  'sas',
]);

const MODULE_KEYS = new Set([
  'version',
  'type',
  'status',
  'restartPolicy',
  'imagePullPolicy',
  'startupOrder',
  'env',
  'settings',
]);

type Path = readonly JsonPathSegment[];

interface Credential {
  readonly name: string;
  readonly path: Path;
  /** Modules whose image is pulled from this registry. */
  readonly users: string[];
}

/**
 * Converts an Azure IoT Edge deployment into an Outpost manifest (a full deployment) or layer (a layered
 * deployment, whose `$edgeAgent` keys look like `properties.desired.modules.<name>`). Accepts the parsed JSON or its
 * text, bare (`{ modulesContent }`) or as the az CLI writes it (`{ content: { modulesContent }, priority, … }`).
 * The result is validated; throws AzureImportError listing every problem otherwise.
 */
export function fromAzureManifest(json: unknown): AzureImportResult {
  let document = json;
  if (typeof json === 'string') {
    try {
      document = JSON.parse(json);
    } catch (error) {
      throw new AzureImportError([{ path: '', message: `not JSON: ${(error as Error).message}` }]);
    }
  }
  try {
    return new AzureImport().run(document);
  } catch (error) {
    if (error instanceof AzureImportError) throw error;
    // Only exotic inputs get here (a getter or Proxy that throws): still report it as an import error.
    throw new AzureImportError([{ path: '', message: `the document could not be read: ${(error as Error).message}` }]);
  }
}

class AzureImport {
  private readonly errors: ManifestIssue[] = [];
  private readonly warnings: ManifestIssue[] = [];
  /** Outpost path → Azure path, so problems found by validation point into the Azure document. */
  private readonly origins = new Map<string, Path>();
  /** Registry address (lower case) → credential name. */
  private readonly credentials = new Map<string, Credential>();

  run(document: unknown): AzureImportResult {
    if (!isPlainObject(document))
      this.stop([], `expected an Azure IoT Edge deployment object, got ${kindOf(document)}`);
    const { content, contentPath, deployment } = this.unwrap(document);
    const modulesKey =
      'modulesContent' in content ? 'modulesContent' : 'moduleContent' in content ? 'moduleContent' : undefined;
    if (modulesKey === undefined) {
      this.stop(contentPath, 'no modulesContent: expected { modulesContent: { $edgeAgent, $edgeHub, … } }');
    }
    const base = [...contentPath, modulesKey];
    const modulesContent = content[modulesKey];
    if (!isPlainObject(modulesContent)) this.stop(base, 'modulesContent must be an object');

    const agent = this.systemTwin(modulesContent, '$edgeAgent', base);
    const hub = this.systemTwin(modulesContent, '$edgeHub', base);
    const full = agent?.full === true || hub?.full === true;
    const layered = agent?.layered === true || hub?.layered === true;
    if (full && layered) {
      this.stop(base, "mixes a full deployment ('properties.desired') with layered keys ('properties.desired.…')");
    }
    if (full && (agent?.full !== true || hub?.full !== true)) {
      const missing = agent?.full === true ? '$edgeHub' : '$edgeAgent';
      this.stop(
        [...base, missing],
        `a deployment needs both $edgeAgent and $edgeHub 'properties.desired'; ${missing} has none`,
      );
    }

    const converted = full ? this.convertDeployment(modulesContent, base) : this.convertLayer(modulesContent, base);
    for (const credential of this.credentials.values()) {
      if (credential.users.length === 0) {
        this.warn(credential.path, 'no module pulls from this registry; the credentials are not carried over');
      } else {
        this.warn(
          credential.path,
          'the username and password are not carried over into the manifest; store them in Outpost as registry ' +
            `credentials named ${JSON.stringify(credential.name)}, which ${usersOf(credential)}`,
        );
      }
    }
    return this.finish(full ? 'manifest' : 'layer', converted, deployment);
  }

  // --- document shape ----------------------------------------------------------------------------------------------

  private unwrap(document: Record<string, unknown>): {
    content: Record<string, unknown>;
    contentPath: Path;
    deployment: AzureDeploymentInfo | undefined;
  } {
    if ('modulesContent' in document || 'moduleContent' in document || !isPlainObject(document.content)) {
      if (isPlainObject(document.properties) && !('modulesContent' in document)) {
        this.stop(
          ['properties'],
          'this is a module twin (properties.desired / reported), not a deployment; import the deployment content',
        );
      }
      for (const key of Object.keys(document)) {
        if (key !== 'modulesContent' && key !== 'moduleContent')
          this.warn([key], 'not part of a deployment; not carried over');
      }
      return { content: document, contentPath: [], deployment: undefined };
    }
    const deployment: {
      id?: string;
      priority?: number;
      targetCondition?: string;
      labels?: Record<string, string>;
      createdTimeUtc?: string;
    } = {};
    for (const [key, value] of Object.entries(document)) {
      if (key === 'content') continue;
      if (key === 'id' && typeof value === 'string') deployment.id = value;
      else if (key === 'priority' && typeof value === 'number') deployment.priority = value;
      else if (key === 'targetCondition' && typeof value === 'string') deployment.targetCondition = value;
      else if (key === 'createdTimeUtc' && typeof value === 'string') deployment.createdTimeUtc = value;
      else if (key === 'labels' && isPlainObject(value)) {
        deployment.labels = Object.fromEntries(Object.entries(value).map(([name, label]) => [name, String(label)]));
      } else if (key === 'metrics') {
        this.warn([key], 'deployment metrics queries are not carried over (Outpost reports deployment status itself)');
      } else if (!['etag', 'systemMetrics', 'lastUpdatedTimeUtc', 'contentType', 'schemaVersion'].includes(key)) {
        this.warn([key], 'not carried over');
      }
    }
    for (const key of Object.keys(document.content as Record<string, unknown>)) {
      if (key === 'modulesContent' || key === 'moduleContent') continue;
      this.warn(
        ['content', key],
        key === 'deviceContent'
          ? 'device twin content is not part of an edge deployment; not carried over'
          : 'not carried over',
      );
    }
    return {
      content: document.content as Record<string, unknown>,
      contentPath: ['content'],
      deployment: Object.keys(deployment).length > 0 ? deployment : undefined,
    };
  }

  /** Reads `$edgeAgent` / `$edgeHub` and tells whether it is written whole or as layered keys. */
  private systemTwin(
    modulesContent: Record<string, unknown>,
    name: '$edgeAgent' | '$edgeHub',
    base: Path,
  ): { twin: Record<string, unknown>; full: boolean; layered: boolean } | undefined {
    const twin = modulesContent[name];
    if (twin === undefined) return undefined;
    if (!isPlainObject(twin)) this.stop([...base, name], 'must be an object');
    const keys = Object.keys(twin);
    const full = keys.includes('properties.desired');
    const layered = keys.some((key) => key.startsWith('properties.desired.'));
    if (full && layered) {
      this.stop([...base, name], "mixes 'properties.desired' with layered 'properties.desired.…' keys");
    }
    for (const key of keys) {
      if (key !== 'properties.desired' && !key.startsWith('properties.desired.')) {
        this.warn([...base, name, key], 'not carried over');
      }
    }
    return { twin, full, layered };
  }

  // --- full deployments --------------------------------------------------------------------------------------------

  private convertDeployment(modulesContent: Record<string, unknown>, base: Path): Record<string, unknown> {
    const agentPath = [...base, '$edgeAgent', 'properties.desired'];
    const hubPath = [...base, '$edgeHub', 'properties.desired'];
    const agent = (modulesContent.$edgeAgent as Record<string, unknown>)['properties.desired'];
    const hub = (modulesContent.$edgeHub as Record<string, unknown>)['properties.desired'];
    if (!isPlainObject(agent)) this.stop(agentPath, 'must be an object');
    if (!isPlainObject(hub)) this.stop(hubPath, 'must be an object');

    checkAgentSchemaVersion(agent.schemaVersion, [...agentPath, 'schemaVersion'], this.errors);
    const hubVersion = checkHubSchemaVersion(hub.schemaVersion, [...hubPath, 'schemaVersion'], this.errors);

    const manifest: Record<string, unknown> = { schemaVersion: MANIFEST_SCHEMA_VERSION };
    this.readRuntime(agent.runtime, [...agentPath, 'runtime']);
    const agentSettings = this.readSystemModules(agent.systemModules, [...agentPath, 'systemModules']);
    if (Object.keys(agentSettings).length > 0) manifest.agent = agentSettings;

    const modules: Record<string, unknown> = {};
    if (agent.modules !== undefined) {
      if (!isPlainObject(agent.modules)) {
        this.fail([...agentPath, 'modules'], 'must be an object');
      } else {
        for (const [name, spec] of Object.entries(agent.modules)) {
          const module = this.convertModule(name, spec, [...agentPath, 'modules', name]);
          if (module !== undefined) modules[name] = module;
        }
      }
    }
    for (const key of Object.keys(agent)) {
      if (!['schemaVersion', 'runtime', 'systemModules', 'modules'].includes(key) && !key.startsWith('$')) {
        this.warn([...agentPath, key], 'not carried over');
      }
    }

    if (hub.routes === undefined) {
      this.fail([...hubPath, 'routes'], 'required: the route table ({} for none)');
    } else if (!isPlainObject(hub.routes)) {
      this.fail([...hubPath, 'routes'], 'must be an object');
    } else {
      manifest.routes = this.convertRoutes(
        Object.entries(hub.routes),
        (name) => [...hubPath, 'routes', name],
        hubVersion,
      );
    }
    if (hub.storeAndForwardConfiguration !== undefined) {
      manifest.storeAndForward = this.convertStoreAndForward(hub.storeAndForwardConfiguration, [
        ...hubPath,
        'storeAndForwardConfiguration',
      ]);
    }
    if (hub.mqttBroker !== undefined) {
      this.warn(
        [...hubPath, 'mqttBroker'],
        "the edge hub's MQTT broker authorizations and bridges are not carried over; the device's nats-server MQTT " +
          'listener uses per-device credentials instead',
      );
    }
    for (const key of Object.keys(hub)) {
      if (
        !['schemaVersion', 'routes', 'storeAndForwardConfiguration', 'mqttBroker'].includes(key) &&
        !key.startsWith('$')
      ) {
        this.warn([...hubPath, key], 'not carried over');
      }
    }

    for (const [name, twin] of this.moduleTwins(modulesContent, base)) {
      const module = modules[name];
      if (!isPlainObject(module)) {
        this.warn(
          [...base, name],
          `desired properties for module ${JSON.stringify(name)}, which the deployment does not run; not carried over`,
        );
        continue;
      }
      module.desiredProperties = twin.properties;
      this.origin(['modules', name, 'desiredProperties'], twin.path);
    }
    manifest.modules = modules;
    return manifest;
  }

  private readRuntime(runtime: unknown, path: Path): void {
    if (runtime === undefined) return;
    if (!isPlainObject(runtime)) {
      this.warn(path, 'not an object; ignored');
      return;
    }
    if (runtime.type !== undefined && runtime.type !== 'docker') {
      this.warn([...path, 'type'], 'only the docker runtime exists in Azure IoT Edge; ignored');
    }
    const settings = runtime.settings;
    if (settings === undefined) return;
    if (!isPlainObject(settings)) {
      this.warn([...path, 'settings'], 'not an object; ignored');
      return;
    }
    for (const [key, value] of Object.entries(settings)) {
      if (key === 'registryCredentials') this.readCredentials(value, [...path, 'settings', key]);
      else if (key === 'loggingOptions' && (value === '' || value === undefined)) continue;
      // Outpost checks its container engine itself; a minimum Docker version has no meaning here.
      else if (key === 'minDockerVersion') continue;
      else this.warn([...path, 'settings', key], 'container runtime settings are not carried over');
    }
  }

  private readCredentials(value: unknown, path: Path): void {
    if (!isPlainObject(value)) {
      this.warn(path, 'not an object; ignored');
      return;
    }
    for (const [name, credential] of Object.entries(value)) {
      this.readCredential(name, credential, [...path, name]);
    }
  }

  private readCredential(name: string, credential: unknown, path: Path): void {
    if (!isPlainObject(credential) || typeof credential.address !== 'string' || credential.address === '') {
      this.warn(path, 'registry credentials without an address; ignored');
      return;
    }
    this.credentials.set(credential.address.toLowerCase(), { name, path, users: [] });
  }

  /** Azure's edgeAgent and edgeHub: replaced by Outpost's own agent, except the restart settings in the agent's env. */
  private readSystemModules(systemModules: unknown, path: Path): Record<string, number> {
    const settings: Record<string, number> = {};
    if (systemModules === undefined) return settings;
    if (!isPlainObject(systemModules)) {
      this.warn(path, 'not an object; ignored');
      return settings;
    }
    for (const [name, module] of Object.entries(systemModules)) {
      const modulePath = [...path, name];
      const env = isPlainObject(module) && isPlainObject(module.env) ? module.env : {};
      const unmapped: string[] = [];
      for (const [variable, entry] of Object.entries(env)) {
        const mapping = name === 'edgeAgent' ? AGENT_ENV_SETTINGS[variable] : undefined;
        const value = Number(isPlainObject(entry) ? entry.value : Number.NaN);
        if (mapping === undefined) {
          unmapped.push(variable);
        } else if (Number.isInteger(value) && value >= 0) {
          settings[mapping.setting] = value * mapping.factor;
          this.origin(['agent', mapping.setting], [...modulePath, 'env', variable, 'value']);
        } else {
          this.warn([...modulePath, 'env', variable], 'not a non-negative integer; the Outpost default applies');
        }
      }
      const environment =
        unmapped.length > 0 ? `; its environment (${unmapped.join(', ')}) has no Outpost equivalent` : '';
      const what =
        name === 'edgeAgent'
          ? "Azure's edge agent is replaced by outpost-agent"
          : name === 'edgeHub'
            ? "Azure's edge hub is replaced by the Outpost agent's router and the device's nats-server"
            : 'Azure system modules are not carried over';
      this.warn(modulePath, `${what}; its image and createOptions are not carried over${environment}`);
    }
    return settings;
  }

  // --- modules -----------------------------------------------------------------------------------------------------

  /** One Azure module → an Outpost container module (unvalidated), or undefined when it cannot be carried over. */
  private convertModule(name: string, spec: unknown, path: Path): Record<string, unknown> | undefined {
    const out = ['modules', name];
    if (!isPlainObject(spec)) {
      this.fail(path, `expected a module object, got ${kindOf(spec)}`);
      return undefined;
    }
    if (typeof spec.type !== 'string' || spec.type.toLowerCase() !== 'docker') {
      this.fail(
        [...path, 'type'],
        spec.type === undefined
          ? 'required: "docker"'
          : `expected "docker" (the only Azure module type), got ${describe(spec.type)}`,
      );
      return undefined;
    }
    const settings = spec.settings;
    if (!isPlainObject(settings)) {
      this.fail(
        [...path, 'settings'],
        settings === undefined ? 'required: { image, createOptions }' : 'must be an object',
      );
      return undefined;
    }
    const image = settings.image;
    if (typeof image === 'string' && AZURE_RUNTIME_IMAGE.test(image)) {
      const which = AZURE_RUNTIME_IMAGE.exec(image)?.[1] ?? '';
      const why =
        which === 'api-proxy'
          ? 'the Azure IoT Edge API proxy serves nested edge, which Outpost does not support yet'
          : `Azure's edge ${which} is replaced by Outpost's own agent`;
      this.warn(path, `module not carried over: ${why}`);
      return undefined;
    }
    this.origin(out, path);

    const container: Record<string, unknown> = { image };
    this.origin([...out, 'container'], [...path, 'settings']);
    this.origin([...out, 'container', 'image'], [...path, 'settings', 'image']);
    if (typeof image === 'string' && /^\$upstream(?=[:/])/i.test(image)) {
      this.warn(
        [...path, 'settings', 'image'],
        `pulls through the parent device ($upstream: ${NESTED_EDGE_NOTE}), so this image reference will not ` +
          'resolve; point it at a registry the device can reach',
      );
    }
    const createOptions = this.joinCreateOptions(settings, [...path, 'settings']);
    if (createOptions !== undefined) container.createOptions = createOptions;
    if (createOptions !== undefined && NESTED_EDGE_REFERENCE.test(JSON.stringify(createOptions))) {
      this.warn([...path, 'settings', 'createOptions'], `refers to the parent device (${NESTED_EDGE_NOTE})`);
    }
    this.origin([...out, 'container', 'createOptions'], [...path, 'settings', 'createOptions']);
    for (const key of Object.keys(settings)) {
      if (key !== 'image' && !/^createOptions(\d\d)?$/.test(key))
        this.warn([...path, 'settings', key], 'not carried over');
    }
    if (spec.imagePullPolicy !== undefined) {
      container.pullPolicy = spec.imagePullPolicy;
      this.origin([...out, 'container', 'pullPolicy'], [...path, 'imagePullPolicy']);
    }
    const credential = typeof image === 'string' ? this.credentialFor(image) : undefined;
    if (credential !== undefined) {
      credential.users.push(name);
      container.registryCredentialsRef = credential.name;
      this.origin([...out, 'container', 'registryCredentialsRef'], credential.path);
    }

    const module: Record<string, unknown> = { type: 'container' };
    this.origin([...out, 'type'], [...path, 'type']);
    for (const key of ['version', 'status', 'restartPolicy', 'startupOrder'] as const) {
      if (spec[key] === undefined) continue;
      module[key] = spec[key];
      this.origin([...out, key], [...path, key]);
    }
    if (spec.env !== undefined) module.env = this.convertEnv(spec.env, [...out, 'env'], [...path, 'env']);
    module.container = container;
    for (const key of Object.keys(spec)) {
      if (!MODULE_KEYS.has(key)) this.warn([...path, key], 'not carried over');
    }
    return module;
  }

  /** Azure splits long createOptions into `createOptions`, `createOptions01`, `createOptions02`, … */
  private joinCreateOptions(settings: Record<string, unknown>, path: Path): JsonObject | undefined {
    const chunkKeys = Object.keys(settings)
      .filter((key) => /^createOptions\d\d$/.test(key))
      .sort();
    if (settings.createOptions === undefined && chunkKeys.length === 0) return undefined;
    if (isPlainObject(settings.createOptions) && chunkKeys.length === 0) return settings.createOptions as JsonObject;
    const parts: string[] = [];
    for (const [index, key] of ['createOptions', ...chunkKeys].entries()) {
      const expected = index === 0 ? 'createOptions' : `createOptions${String(index).padStart(2, '0')}`;
      if (key !== expected) {
        this.fail([...path, expected], `missing: createOptions chunks must be numbered 01, 02, … without gaps`);
        return undefined;
      }
      const chunk = settings[key];
      if (typeof chunk !== 'string') {
        this.fail([...path, key], `expected a string (a piece of the JSON create options), got ${kindOf(chunk)}`);
        return undefined;
      }
      parts.push(chunk);
    }
    const text = parts.join('');
    if (text.trim() === '') return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      const where = chunkKeys.length > 0 ? ` (joined from ${chunkKeys.length + 1} chunks)` : '';
      this.fail([...path, 'createOptions'], `not valid JSON${where}: ${(error as Error).message}`);
      return undefined;
    }
    if (!isPlainObject(parsed)) {
      this.fail([...path, 'createOptions'], `expected a JSON object, got ${kindOf(parsed)}`);
      return undefined;
    }
    return parsed as JsonObject;
  }

  private credentialFor(image: string): Credential | undefined {
    const slash = image.indexOf('/');
    if (slash < 0) return undefined;
    return this.credentials.get(image.slice(0, slash).toLowerCase());
  }

  private convertEnv(env: unknown, out: Path, path: Path): unknown {
    this.origin(out, path);
    if (!isPlainObject(env)) return env;
    const converted: Record<string, unknown> = {};
    for (const [name, entry] of Object.entries(env)) {
      this.origin([...out, name], [...path, name]);
      if (!isPlainObject(entry) || !('value' in entry)) {
        // Left as it is: validation reports it with this path.
        converted[name] = entry;
        continue;
      }
      for (const key of Object.keys(entry)) {
        if (key !== 'value') this.warn([...path, name, key], 'not carried over');
      }
      const raw = entry.value;
      if (/parent.?host/i.test(name) || (typeof raw === 'string' && NESTED_EDGE_REFERENCE.test(raw))) {
        this.warn([...path, name], `refers to the parent device (${NESTED_EDGE_NOTE}); carried over unchanged`);
      }
      // Azure accepts numbers and booleans and hands them to the container as text.
      const value = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw;
      if (typeof value === 'string' && looksSecret(name)) {
        converted[name] = { value, secret: true };
        this.warn(
          [...path, name],
          'looks like a secret, so it is imported with secret: true (kept out of logs and the portal); ' +
            'remove the flag if it is not',
        );
      } else {
        converted[name] = { value };
      }
    }
    return converted;
  }

  // --- routes and store-and-forward --------------------------------------------------------------------------------

  private convertRoutes(
    entries: [string, unknown][],
    pathOf: (name: string) => Path,
    hubVersion: { minor: number } | undefined,
  ): Record<string, unknown> {
    const routes: Record<string, unknown> = {};
    for (const [name, spec] of entries) {
      const path = pathOf(name);
      if (name === '') {
        this.fail(path, 'route name cannot be empty');
        continue;
      }
      this.origin(['routes', name], path);
      if (!isPlainObject(spec)) {
        routes[name] = spec;
        continue;
      }
      if (hubVersion !== undefined && hubVersion.minor === 0) {
        this.fail(
          path,
          '$edgeHub schema 1.0 allows only string routes; { route, priority, timeToLiveSecs } needs 1.1 or later',
        );
        continue;
      }
      const route: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(spec)) {
        if (key === 'route' || key === 'priority' || key === 'timeToLiveSecs') {
          route[key] = value;
          this.origin(['routes', name, key], [...path, key]);
        } else {
          this.warn([...path, key], 'not carried over');
        }
      }
      routes[name] = route;
    }
    return routes;
  }

  private convertStoreAndForward(value: unknown, path: Path): unknown {
    this.origin(['storeAndForward'], path);
    if (!isPlainObject(value)) return value;
    const converted: Record<string, unknown> = {};
    for (const [key, setting] of Object.entries(value)) {
      if (key === 'timeToLiveSecs') {
        converted.timeToLiveSecs = setting;
        this.origin(['storeAndForward', 'timeToLiveSecs'], [...path, key]);
      } else {
        this.warn([...path, key], 'not carried over');
      }
    }
    return converted;
  }

  // --- module twins ------------------------------------------------------------------------------------------------

  /** `modulesContent.<module>`: `properties.desired` whole, and/or layered `properties.desired.<path>` keys. */
  private moduleTwins(
    modulesContent: Record<string, unknown>,
    base: Path,
  ): Map<string, { properties: JsonObject; path: Path }> {
    const twins = new Map<string, { properties: JsonObject; path: Path }>();
    for (const [name, twin] of Object.entries(modulesContent)) {
      if (name === '$edgeAgent' || name === '$edgeHub') continue;
      const path = [...base, name];
      if (name.startsWith('$')) {
        this.warn(path, 'Azure system module twin; not carried over');
        continue;
      }
      if (!isPlainObject(twin)) {
        this.fail(path, `expected a module twin object, got ${kindOf(twin)}`);
        continue;
      }
      let properties: JsonValue = {};
      let propertiesPath: Path = path;
      for (const [key, value] of Object.entries(twin)) {
        if (key === 'properties.desired') {
          if (!isPlainObject(value)) {
            this.fail([...path, key], `expected an object, got ${kindOf(value)}`);
            continue;
          }
          properties = mergePatch(properties, value as JsonObject);
          propertiesPath = [...path, key];
        } else if (key.startsWith('properties.desired.')) {
          const keys = key.slice('properties.desired.'.length).split('.');
          if (keys.some((part) => part === '')) {
            this.fail([...path, key], 'empty property name in the path');
            continue;
          }
          properties = mergePatch(properties, nest(keys, value as JsonValue));
        } else {
          this.warn([...path, key], 'not carried over');
        }
      }
      twins.set(name, { properties: properties as JsonObject, path: propertiesPath });
    }
    return twins;
  }

  // --- layered deployments -----------------------------------------------------------------------------------------

  private convertLayer(modulesContent: Record<string, unknown>, base: Path): Record<string, unknown> {
    const layer: Record<string, unknown> = { schemaVersion: MANIFEST_SCHEMA_VERSION };
    const agent = modulesContent.$edgeAgent;
    const hub = modulesContent.$edgeHub;
    const modules: Record<string, unknown> = {};
    const routes: [string, unknown, Path][] = [];

    // Credentials first, so modules that pull from those registries can refer to them.
    if (isPlainObject(agent)) {
      for (const [key, value] of Object.entries(agent)) {
        const path = [...base, '$edgeAgent', key];
        const rest = layeredPath(key);
        if (rest === undefined) continue;
        if (rest === 'runtime.settings.registryCredentials') this.readCredentials(value, path);
        else if (rest.startsWith('runtime.settings.registryCredentials.')) {
          this.readCredential(rest.slice('runtime.settings.registryCredentials.'.length), value, path);
        }
      }
      for (const [key, value] of Object.entries(agent)) {
        const path = [...base, '$edgeAgent', key];
        const rest = layeredPath(key);
        if (rest === undefined || rest.startsWith('runtime.settings.registryCredentials')) continue;
        if (rest === 'modules') {
          if (!isPlainObject(value)) {
            this.fail(path, 'must be an object');
            continue;
          }
          for (const [name, spec] of Object.entries(value)) {
            const module = this.convertModule(name, spec, [...path, name]);
            if (module !== undefined) modules[name] = module;
          }
        } else if (rest.startsWith('modules.')) {
          const name = rest.slice('modules.'.length);
          if (name.includes('.')) {
            this.fail(
              path,
              'sets part of a module; Outpost layers replace whole modules (and module names cannot contain ' +
                "'.'), so write the whole module as 'properties.desired.modules.<name>'",
            );
            continue;
          }
          const module = this.convertModule(name, value, path);
          if (module !== undefined) modules[name] = module;
        } else if (rest === 'schemaVersion') {
          checkAgentSchemaVersion(value, path, this.errors);
        } else if (rest.startsWith('systemModules')) {
          this.warn(path, "Azure's system modules are replaced by outpost-agent; not carried over");
        } else {
          this.warn(path, 'layers carry modules, routes and module twins; not carried over');
        }
      }
    }

    let hubVersion: { minor: number } | undefined;
    if (isPlainObject(hub)) {
      for (const [key, value] of Object.entries(hub)) {
        const path = [...base, '$edgeHub', key];
        const rest = layeredPath(key);
        if (rest === undefined) continue;
        if (rest === 'routes') {
          if (!isPlainObject(value)) this.fail(path, 'must be an object');
          else for (const [name, spec] of Object.entries(value)) routes.push([name, spec, [...path, name]]);
        } else if (rest.startsWith('routes.')) {
          routes.push([rest.slice('routes.'.length), value, path]);
        } else if (rest === 'schemaVersion') {
          hubVersion = checkHubSchemaVersion(value, path, this.errors);
        } else if (rest.startsWith('storeAndForwardConfiguration')) {
          this.warn(path, "layers do not carry store-and-forward settings; the base deployment's apply");
        } else if (rest.startsWith('mqttBroker')) {
          this.warn(path, "the edge hub's MQTT broker settings are not carried over");
        } else {
          this.warn(path, 'layers carry modules, routes and module twins; not carried over');
        }
      }
    }

    if (Object.keys(modules).length > 0) layer.modules = modules;
    if (routes.length > 0) {
      const paths = new Map(routes.map(([name, , path]) => [name, path]));
      layer.routes = this.convertRoutes(
        routes.map(([name, spec]) => [name, spec]),
        (name) => paths.get(name) ?? [],
        hubVersion,
      );
    }
    const patches: Record<string, JsonObject> = {};
    for (const [name, twin] of this.moduleTwins(modulesContent, base)) {
      patches[name] = twin.properties;
      this.origin(['moduleDesiredProperties', name], twin.path);
    }
    if (Object.keys(patches).length > 0) layer.moduleDesiredProperties = patches;
    return layer;
  }

  // --- result ------------------------------------------------------------------------------------------------------

  private finish(
    kind: 'manifest' | 'layer',
    converted: Record<string, unknown>,
    deployment: AzureDeploymentInfo | undefined,
  ): AzureImportResult {
    const info = deployment === undefined ? {} : { deployment };
    if (kind === 'layer') {
      const validated = validateManifest(converted, { layer: true });
      if (!validated.ok || this.errors.length > 0) throw this.failure(validated.ok ? [] : validated.errors);
      return { kind, manifest: validated.manifest, warnings: this.allWarnings(validated.warnings), ...info };
    }
    const validated = validateManifest(converted);
    if (!validated.ok || this.errors.length > 0) throw this.failure(validated.ok ? [] : validated.errors);
    return { kind, manifest: validated.manifest, warnings: this.allWarnings(validated.warnings), ...info };
  }

  private failure(validationErrors: readonly ManifestIssue[]): AzureImportError {
    return new AzureImportError(
      uniqueIssues([...this.errors, ...validationErrors.map((issue) => this.translate(issue))]),
    );
  }

  private allWarnings(validationWarnings: readonly ManifestIssue[]): ManifestIssue[] {
    return uniqueIssues([...this.warnings, ...validationWarnings.map((issue) => this.translate(issue))]);
  }

  // --- bookkeeping -------------------------------------------------------------------------------------------------

  private origin(out: Path, azure: Path): void {
    this.origins.set(formatJsonPath(out), azure);
  }

  private warn(path: Path, message: string): void {
    this.warnings.push({ path: formatJsonPath(path), message });
  }

  private fail(path: Path, message: string): void {
    this.errors.push({ path: formatJsonPath(path), message });
  }

  /** A problem that leaves nothing else worth checking. */
  private stop(path: Path, message: string): never {
    throw new AzureImportError([...this.errors, { path: formatJsonPath(path), message }]);
  }

  /** Maps an issue on the converted manifest back to the Azure value it came from. */
  private translate(issue: ManifestIssue): ManifestIssue {
    const segments = issue.path === '' ? [] : parseJsonPath(issue.path);
    for (let length = segments.length; length >= 0; length--) {
      const azure = this.origins.get(formatJsonPath(segments.slice(0, length)));
      if (azure !== undefined)
        return { path: formatJsonPath([...azure, ...segments.slice(length)]), message: issue.message };
    }
    return { path: issue.path, message: `${issue.message} (in the converted manifest)` };
  }
}

/** `properties.desired.<rest>` → `<rest>`; undefined for any other key. */
function layeredPath(key: string): string | undefined {
  return key.startsWith('properties.desired.') ? key.slice('properties.desired.'.length) : undefined;
}

function nest(keys: readonly string[], value: JsonValue): JsonObject {
  let nested: JsonValue = value;
  for (let index = keys.length - 1; index >= 0; index--) nested = { [keys[index] ?? '']: nested };
  return nested as JsonObject;
}

function looksSecret(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  if (words.some((word) => SECRET_WORDS.has(word))) return true;
  return words.join(' ').includes('connection string');
}

// --- schema versions (System.Version semantics) --------------------------------------------------------------------

/** .NET System.Version: 2 to 4 non-negative integer components; a missing component compares lower than 0. */
function parseDotNetVersion(text: string): number[] | undefined {
  const parts = text.trim().split('.');
  if (parts.length < 2 || parts.length > 4) return undefined;
  const numbers = parts.map((part) => (/^\s*\+?\d+\s*$/.test(part) ? Number(part) : Number.NaN));
  if (numbers.some((value) => !Number.isSafeInteger(value) || value > 2_147_483_647)) return undefined;
  while (numbers.length < 4) numbers.push(-1);
  return numbers;
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let index = 0; index < 4; index++) {
    const difference = (a[index] ?? -1) - (b[index] ?? -1);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** C4: `$edgeAgent` accepts 1.0 up to 1.1.0, compared as System.Version (so 1.1.0.0 and 1.2 are rejected). */
function checkAgentSchemaVersion(version: unknown, path: Path, errors: ManifestIssue[]): void {
  const at = formatJsonPath(path);
  if (typeof version !== 'string') {
    errors.push({
      path: at,
      message: versionMessage('the $edgeAgent schema version ("1.0" or "1.1")', version),
    });
    return;
  }
  const parsed = parseDotNetVersion(version);
  if (parsed === undefined || parsed[0] !== 1 || compareVersions(parsed, [1, 1, 0, -1]) > 0) {
    errors.push({
      path: at,
      message: `$edgeAgent schema version ${JSON.stringify(version)} is not accepted: Azure IoT Edge reads 1.0 to 1.1.0`,
    });
  }
}

/** B10: `$edgeHub` accepts 1.0 to 1.3; returns the minor version, which decides whether object routes are allowed. */
function checkHubSchemaVersion(version: unknown, path: Path, errors: ManifestIssue[]): { minor: number } | undefined {
  const at = formatJsonPath(path);
  if (typeof version !== 'string') {
    errors.push({
      path: at,
      message: versionMessage('the $edgeHub schema version ("1.0" to "1.3")', version),
    });
    return undefined;
  }
  const parsed = parseDotNetVersion(version);
  const minor = parsed?.[1] ?? -1;
  if (parsed === undefined || parsed[0] !== 1 || minor > 3) {
    errors.push({
      path: at,
      message: `$edgeHub schema version ${JSON.stringify(version)} is not accepted: Azure IoT Edge reads 1.0 to 1.3`,
    });
    return undefined;
  }
  return { minor };
}

function versionMessage(what: string, version: unknown): string {
  return version === undefined ? `required: ${what}` : `expected ${what}, got ${kindOf(version)}`;
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function usersOf(credential: Credential): string {
  const names = credential.users.map((user) => JSON.stringify(user)).join(', ');
  return credential.users.length === 1 ? `module ${names} now refers to` : `modules ${names} now refer to`;
}

function uniqueIssues(issues: readonly ManifestIssue[]): ManifestIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : kindOf(value);
}
