import { createHash, sign as cryptoSign, verify as cryptoVerify, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  canonicalJsonBytes,
  DEPLOYMENT_TYPE,
  DeploymentSigningError,
  type DeviceDeploymentInput,
  deploymentSigningBytes,
  generateSigningKey,
  type SignedDeployment,
  type SigningKeyPair,
  signDeployment,
  signingKeyId,
  signingPublicKey,
  TrustedKey,
  type VerifyDeploymentResult,
  type VerifyFailureCode,
  verifyDeployment,
} from '../src/index.js';
import { copy, put, sampleInput, validSample } from './helpers.js';

const FUZZ_TIMEOUT_MS = 60_000;

const current = generateSigningKey();
const previous = generateSigningKey();
const stranger = generateSigningKey();

const trust = (...keys: SigningKeyPair[]) => keys.map(({ keyId, publicKey }) => ({ keyId, publicKey }));

function deploymentFor(overrides: Partial<DeviceDeploymentInput> = {}): DeviceDeploymentInput {
  return {
    id: 'dep-2026-01',
    deviceId: 'press-01',
    version: 7,
    createdAt: '2026-01-31T12:00:00.000Z',
    manifest: sampleInput(),
    ...overrides,
  };
}

function signed(overrides: Partial<DeviceDeploymentInput> = {}, key: SigningKeyPair = current): SignedDeployment {
  return signDeployment(deploymentFor(overrides), key);
}

/** What a device sees: the envelope after JSON went over the wire. */
function wire(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

function expectRefused(result: VerifyDeploymentResult, code: VerifyFailureCode): string {
  if (result.ok) expect.fail(`expected ${code}, but the deployment verified`);
  expect(result.code).toBe(code);
  expect(result.reason.length).toBeGreaterThan(10);
  return result.reason;
}

describe('signing keys', () => {
  it('generates ed25519 keys: raw base64url public key, PKCS #8 PEM private key, id from the public key', () => {
    expect(current.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(current.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    const expectedId = createHash('sha256')
      .update(Buffer.from(current.publicKey, 'base64url'))
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    expect(current.keyId).toBe(expectedId);
    expect(signingKeyId(current.publicKey)).toBe(current.keyId);
    expect(signingPublicKey(current.privateKey)).toBe(current.publicKey);
    expect(current.keyId).not.toBe(previous.keyId);
  });

  it('refuses a public key that is not 32 bytes of canonical base64url', () => {
    expect(() => signingKeyId('abc')).toThrow(/raw 32-byte ed25519 key/);
    expect(() => signingKeyId(`${current.publicKey}=`)).toThrow(TypeError);
  });

  it('describes the trusted keys a device stores, checking each id against its key', () => {
    expect(TrustedKey.parse({ keyId: current.keyId, publicKey: current.publicKey })).toEqual(trust(current)[0]);
    const swapped = TrustedKey.safeParse({ keyId: previous.keyId, publicKey: current.publicKey });
    expect(swapped.success).toBe(false);
    expect(swapped.error?.issues[0]?.message).toBe('keyId is not the id of this public key');
    expect(TrustedKey.safeParse({ keyId: current.keyId, publicKey: 'not-a-key' }).success).toBe(false);
    expect(TrustedKey.safeParse({ ...trust(current)[0], privateKey: current.privateKey }).success).toBe(false);
  });
});

describe('signDeployment', () => {
  it('signs the canonical JSON of the whole deployment, with the manifest defaults filled in', () => {
    const envelope = signed();
    expect(envelope.deployment).toEqual({
      type: DEPLOYMENT_TYPE,
      id: 'dep-2026-01',
      deviceId: 'press-01',
      version: 7,
      createdAt: '2026-01-31T12:00:00.000Z',
      manifest: validSample(),
    });
    expect(envelope.signature).toEqual({ alg: 'ed25519', keyId: current.keyId, value: expect.any(String) });
    // Anyone with an RFC 8785 implementation and ed25519 can check it: nothing else goes into the signed bytes.
    const bytes = canonicalJsonBytes(envelope.deployment);
    expect(deploymentSigningBytes(envelope.deployment)).toEqual(bytes);
    const spki = Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(current.publicKey, 'base64url'),
    ]);
    expect(
      cryptoVerify(
        null,
        bytes,
        { key: spki, format: 'der', type: 'spki' },
        Buffer.from(envelope.signature.value, 'base64url'),
      ),
    ).toBe(true);
  });

  it('stamps createdAt with the signing time when it is not given', () => {
    const before = Date.now();
    const { deployment } = signDeployment({ ...deploymentFor(), createdAt: undefined }, current);
    const stamped = Date.parse(deployment.createdAt);
    expect(stamped).toBeGreaterThanOrEqual(before);
    expect(stamped).toBeLessThanOrEqual(Date.now());
  });

  it('refuses an invalid deployment, naming every problem', () => {
    const manifest = copy(sampleInput()) as unknown as Record<string, unknown>;
    put(manifest, 'modules.filter.restartPolicy', 'sometimes');
    let error: unknown;
    try {
      signDeployment(deploymentFor({ deviceId: 'a.b', version: 0, manifest: manifest as never }), current);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DeploymentSigningError);
    const issues = (error as DeploymentSigningError).issues.map((issue) => issue.path);
    expect(issues).toEqual(expect.arrayContaining(['deviceId', 'version', 'manifest.modules.filter.restartPolicy']));
    // An effective deployment: a route to a module the manifest lacks is an error, not a warning.
    const routeToNowhere = copy(sampleInput());
    routeToNowhere.routes = { lost: 'FROM /messages/modules/ghost/outputs/* INTO $upstream' };
    expect(() => signDeployment(deploymentFor({ manifest: routeToNowhere }), current)).toThrow(/manifest\.routes/);
  });

  it('refuses a key id that is not the key’s, and keys that are not ed25519 private keys, without quoting them', () => {
    expect(() => signDeployment(deploymentFor(), { keyId: previous.keyId, privateKey: current.privateKey })).toThrow(
      /keyId: is not the id of this private key/,
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    expect(() => signDeployment(deploymentFor(), { keyId: current.keyId, privateKey: rsa })).toThrow(
      /must be an ed25519 key, not rsa/,
    );
    const garbage = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PRIVATE KEY-----\n';
    let message = '';
    try {
      signDeployment(deploymentFor(), { keyId: current.keyId, privateKey: garbage });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('cannot sign deployment: privateKey: is not a PKCS #8 PEM private key');
    const publicOnly = generateKeyPairSync('ed25519').publicKey;
    expect(() => signDeployment(deploymentFor(), { keyId: current.keyId, privateKey: publicOnly })).toThrow(
      /is not a private key/,
    );
  });
});

describe('verifyDeployment', () => {
  it('accepts a deployment signed by a trusted key, after any JSON round trip and in any key order', () => {
    const envelope = signed();
    const result = verifyDeployment(wire(envelope), trust(current), { expectedDeviceId: 'press-01', minVersion: 7 });
    expect(result).toEqual({ ok: true, deployment: envelope.deployment, keyId: current.keyId });
    const reordered = JSON.parse(
      JSON.stringify(envelope, (_key, value: unknown) =>
        value && typeof value === 'object' && !Array.isArray(value)
          ? Object.fromEntries(Object.entries(value).reverse())
          : value,
      ),
    );
    expect(Object.keys(reordered.deployment)[0]).toBe('manifest');
    expect(verifyDeployment(reordered, trust(current)).ok).toBe(true);
  });

  it('refuses a deployment whose manifest was changed after signing', () => {
    const envelope = wire(signed());
    put(envelope, 'deployment.manifest.modules.sensor.container.image', 'evil.example.com/sensor:1.0');
    const reason = expectRefused(verifyDeployment(envelope, trust(current)), 'BAD_SIGNATURE');
    expect(reason).toContain(current.keyId);
    const secret = wire(signed());
    put(secret, 'deployment.manifest.modules.sensor.env.API_TOKEN.value', 'stolen');
    expect(expectRefused(verifyDeployment(secret, trust(current)), 'BAD_SIGNATURE')).not.toContain('stolen');
    const added = wire(signed());
    put(added, 'deployment.manifest.modules.miner', { type: 'container', container: { image: 'x' } });
    expectRefused(verifyDeployment(added, trust(current)), 'BAD_SIGNATURE');
  });

  it('refuses a deployment whose version, target, id or time was changed after signing', () => {
    for (const [path, value] of [
      ['deployment.version', 8],
      ['deployment.deviceId', 'press-02'],
      ['deployment.id', 'dep-other'],
      ['deployment.createdAt', '2027-01-31T12:00:00.000Z'],
    ] as const) {
      const envelope = wire(signed());
      put(envelope, path, value);
      expectRefused(verifyDeployment(envelope, trust(current), { expectedDeviceId: 'press-02' }), 'BAD_SIGNATURE');
    }
  });

  it('refuses a validly signed deployment replayed onto another device', () => {
    const reason = expectRefused(
      verifyDeployment(wire(signed({ deviceId: 'press-01' })), trust(current), { expectedDeviceId: 'press-02' }),
      'WRONG_TARGET',
    );
    expect(reason).toBe('the deployment is signed for device press-01, not press-02');
  });

  it('refuses a validly signed older version, and accepts the same or a newer one', () => {
    const old = wire(signed({ version: 6 }));
    const reason = expectRefused(verifyDeployment(old, trust(current), { minVersion: 7 }), 'STALE');
    expect(reason).toMatch(/version 6, older than version 7/);
    expect(verifyDeployment(old, trust(current), { minVersion: 6 }).ok).toBe(true);
    expect(verifyDeployment(wire(signed({ version: 8 })), trust(current), { minVersion: 7 }).ok).toBe(true);
    expectRefused(verifyDeployment(old, trust(current), { minVersion: Number.NaN }), 'STALE');
  });

  it('refuses unsigned deployments', () => {
    const envelope = wire(signed());
    const cases: unknown[] = [
      sampleInput(), // a bare manifest
      { deployment: envelope.deployment },
      { deployment: envelope.deployment, signature: null },
      { deployment: envelope.deployment, signature: { alg: 'none', keyId: current.keyId, value: '' } },
      { deployment: envelope.deployment, signature: { alg: 'ed25519', keyId: current.keyId, value: '' } },
    ];
    for (const input of cases) {
      expect(expectRefused(verifyDeployment(input, trust(current)), 'UNSIGNED')).toMatch(/not signed/);
    }
  });

  it('refuses a deployment signed by a key the device does not trust', () => {
    const reason = expectRefused(verifyDeployment(wire(signed({}, stranger)), trust(current, previous)), 'UNKNOWN_KEY');
    expect(reason).toBe(`key ${stranger.keyId} is not trusted by this device (it trusts 2 keys)`);
    expectRefused(verifyDeployment(wire(signed()), []), 'UNKNOWN_KEY');
  });

  it('refuses a signature by another key that claims a trusted key id', () => {
    const envelope = signed({}, stranger);
    const forged = wire({ ...envelope, signature: { ...envelope.signature, keyId: current.keyId } });
    expectRefused(verifyDeployment(forged, trust(current)), 'BAD_SIGNATURE');
  });

  it('does not trust a trusted-key entry whose public key is not the key its id names', () => {
    const mislabelled = [{ keyId: current.keyId, publicKey: stranger.publicKey }];
    const reason = expectRefused(verifyDeployment(wire(signed({}, stranger)), mislabelled), 'UNKNOWN_KEY');
    expect(reason).toMatch(/not trusted/);
    const envelope = wire(signed({}, stranger));
    put(envelope, 'signature.keyId', current.keyId);
    expect(expectRefused(verifyDeployment(envelope, mislabelled), 'UNKNOWN_KEY')).toMatch(
      /not a valid ed25519 public key with that id/,
    );
  });

  it('verifies across a key rotation while both keys are trusted, and refuses the old key once it is removed', () => {
    const before = wire(signed({ version: 1 }, previous));
    const after = wire(signed({ version: 2 }, current));
    const both = trust(previous, current);
    expect(verifyDeployment(before, both)).toMatchObject({ ok: true, keyId: previous.keyId });
    expect(verifyDeployment(after, both)).toMatchObject({ ok: true, keyId: current.keyId });
    expectRefused(verifyDeployment(before, trust(current)), 'UNKNOWN_KEY');
    expect(verifyDeployment(after, trust(current)).ok).toBe(true);
  });

  it('refuses malformed envelopes and signatures, saying what is wrong', () => {
    const envelope = wire(signed());
    const signature = envelope.signature as Record<string, unknown>;
    const value = String(signature.value);
    // The last character of 64 bytes in base64url carries 4 spare bits: a different spelling of the same bytes.
    const lastIndex = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(value.at(-1) ?? '');
    const respelled = `${value.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastIndex ^ 1]}`;
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(value, 'base64url'));
    const cases: [unknown, RegExp][] = [
      [null, /got null/],
      ['{"deployment":{}}', /got a string/],
      [[envelope], /got an array/],
      [{ signature }, /no deployment/],
      [{ ...envelope, note: 'hi' }, /unexpected "note"/],
      [{ ...envelope, signature: 'abc' }, /signature/],
      [{ ...envelope, signature: { ...signature, alg: 'rsa' } }, /signature\.alg: must be "ed25519"/],
      [{ ...envelope, signature: { ...signature, value: `${value}==` } }, /signature\.value: must be a 64-byte/],
      [{ ...envelope, signature: { ...signature, value: respelled } }, /signature\.value/],
      [{ ...envelope, signature: { ...signature, extra: 1 } }, /signature/],
    ];
    for (const [input, reason] of cases) {
      expect(expectRefused(verifyDeployment(input, trust(current)), 'MALFORMED')).toMatch(reason);
    }
  });

  it('refuses validly signed content that is not a valid deployment, naming the path', () => {
    const signRaw = (deployment: unknown): unknown => ({
      deployment,
      signature: {
        alg: 'ed25519',
        keyId: current.keyId,
        value: cryptoSign(null, canonicalJsonBytes(deployment), current.privateKey).toString('base64url'),
      },
    });
    const good = signed().deployment;
    const badManifest = copy(good) as unknown as Record<string, unknown>;
    put(badManifest, 'manifest.modules.filter.restartPolicy', 'sometimes');
    expect(expectRefused(verifyDeployment(signRaw(badManifest), trust(current)), 'MALFORMED')).toMatch(
      /deployment\.manifest\.modules\.filter\.restartPolicy/,
    );
    expect(
      expectRefused(verifyDeployment(signRaw({ ...good, type: 'outpost.deployment.v2' }), trust(current)), 'MALFORMED'),
    ).toMatch(/deployment\.type: must be "outpost\.deployment\.v1"/);
    expect(
      expectRefused(verifyDeployment(signRaw({ ...good, expiresAt: 'never' }), trust(current)), 'MALFORMED'),
    ).toMatch(/expiresAt/);
    const { deviceId: _dropped, ...untargeted } = good;
    expect(expectRefused(verifyDeployment(signRaw(untargeted), trust(current)), 'MALFORMED')).toMatch(
      /deployment\.deviceId/,
    );
    expect(verifyDeployment(signRaw(good), trust(current)).ok).toBe(true);
  });

  it('never throws, whatever it is given', () => {
    const envelope = wire(signed());
    const cyclic: Record<string, unknown> = { ...envelope, deployment: { ...(envelope.deployment as object) } };
    (cyclic.deployment as Record<string, unknown>).self = cyclic.deployment;
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('boom');
        },
        ownKeys() {
          throw new Error('boom');
        },
        getPrototypeOf() {
          throw new Error('boom');
        },
      },
    );
    const inputs: unknown[] = [
      undefined,
      42,
      Symbol('x'),
      () => 1,
      new Date(),
      cyclic,
      { ...envelope, deployment: deep },
      { ...envelope, deployment: { ...(envelope.deployment as object), version: 10n } },
      { ...envelope, deployment: { ...(envelope.deployment as object), version: Number.NaN } },
      { ...envelope, deployment: hostile },
      { ...envelope, signature: hostile },
      hostile,
    ];
    for (const input of inputs) {
      const result = verifyDeployment(input, trust(current), { expectedDeviceId: 'press-01' });
      expect(result.ok).toBe(false);
    }
    const garbageKeys = [null, 1, { keyId: current.keyId, publicKey: 5 }, { keyId: current.keyId }] as never;
    expectRefused(verifyDeployment(envelope, garbageKeys), 'UNKNOWN_KEY');
    expectRefused(verifyDeployment(envelope, null as never), 'UNKNOWN_KEY');
    expect(verifyDeployment(envelope, trust(current), null as never).ok).toBe(true);
  });
});

describe('verifyDeployment (property-based)', () => {
  const original = wire(signed());
  const originalText = canonicalJson(original);

  /** Every path to a value in the envelope, objects and arrays included. */
  function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (typeof value !== 'object' || value === null) return [prefix];
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
    return [prefix, ...entries.flatMap(([key, child]) => paths(child, [...prefix, key]))];
  }
  const allPaths = paths(original).filter((path) => path.length > 0);

  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(undefined, '', 0, -1, 8, 1e21, true, null, [], {}, 'press-02', current.keyId, previous.keyId),
    fc.string({ maxLength: 90 }),
  );
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...allPaths), value: replacement }),
    fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...allPaths) }),
    fc.record({
      kind: fc.constant('add' as const),
      path: fc.constantFrom(...allPaths),
      key: fc.string({ maxLength: 8 }),
      value: replacement,
    }),
    fc.record({
      kind: fc.constant('flip' as const),
      path: fc.constantFrom(...allPaths.filter((path) => typeof valueAt(original, path) === 'string')),
      index: fc.nat(),
      char: fc.constantFrom(...'Aa0_-=. \u00e9\u{1f600}'),
    }),
  );

  function valueAt(document: unknown, path: readonly (string | number)[]): unknown {
    let value = document;
    for (const segment of path) {
      if (typeof value !== 'object' || value === null) return undefined;
      value = (value as Record<string | number, unknown>)[segment];
    }
    return value;
  }

  type Mutation =
    | { kind: 'set'; path: (string | number)[]; value: unknown }
    | { kind: 'delete'; path: (string | number)[] }
    | { kind: 'add'; path: (string | number)[]; key: string; value: unknown }
    | { kind: 'flip'; path: (string | number)[]; index: number; char: string };

  function apply(document: unknown, change: Mutation): void {
    const found = valueAt(document, change.path.slice(0, -1));
    // An earlier change may have removed or replaced the container: this change then has nothing to act on.
    if (typeof found !== 'object' || found === null) return;
    const parent = found as Record<string | number, unknown>;
    const last = change.path[change.path.length - 1] as string | number;
    switch (change.kind) {
      case 'set':
        parent[last] = change.value;
        return;
      case 'delete':
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else delete parent[last];
        return;
      case 'add': {
        const target = parent[last];
        if (target && typeof target === 'object' && !Array.isArray(target)) {
          (target as Record<string, unknown>)[change.key] = change.value;
        } else if (Array.isArray(target)) target.push(change.value);
        else parent[last] = { [change.key]: change.value };
        return;
      }
      case 'flip': {
        const text = String(parent[last]);
        const at = change.index % (text.length + 1);
        parent[last] = `${text.slice(0, at)}${change.char}${text.slice(at + 1)}`;
        return;
      }
    }
  }

  function changed(document: unknown): boolean {
    try {
      return canonicalJson(document) !== originalText;
    } catch {
      return true; // not JSON any more: certainly changed
    }
  }

  it(
    'never verifies a mutated envelope, and never throws',
    () => {
      const codes = new Set<VerifyFailureCode>();
      fc.assert(
        fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (changes) => {
          const document = wire(original);
          for (const change of changes) apply(document, change as Mutation);
          fc.pre(changed(document));
          const result = verifyDeployment(document, trust(previous, current), {
            expectedDeviceId: 'press-01',
            minVersion: 7,
          });
          expect(result.ok).toBe(false);
          if (!result.ok) codes.add(result.code);
        }),
        { numRuns: 2_000 },
      );
      // The mutations reach every stage of the check, not only the first.
      expect([...codes].sort()).toEqual(['BAD_SIGNATURE', 'MALFORMED', 'UNKNOWN_KEY', 'UNSIGNED']);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'verifies every signed deployment generated, in any key order',
    () => {
      fc.assert(
        fc.property(
          fc.record({
            id: fc.string({ minLength: 1, maxLength: 20 }),
            deviceId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/),
            version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
            secret: fc.string({ maxLength: 20 }),
            reverse: fc.boolean(),
          }),
          ({ id, deviceId, version, secret, reverse }) => {
            const manifest = sampleInput();
            put(manifest, 'modules.sensor.env.API_TOKEN.value', secret);
            const envelope = signDeployment(deploymentFor({ id, deviceId, version, manifest }), current);
            const shuffled = JSON.parse(
              JSON.stringify(envelope, (_key, value: unknown) =>
                value && typeof value === 'object' && !Array.isArray(value)
                  ? Object.fromEntries(reverse ? Object.entries(value).reverse() : Object.entries(value))
                  : value,
              ),
            );
            const result = verifyDeployment(shuffled, trust(current), {
              expectedDeviceId: deviceId,
              minVersion: version,
            });
            expect(result.ok && result.deployment).toEqual(envelope.deployment);
          },
        ),
        { numRuns: 300 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
