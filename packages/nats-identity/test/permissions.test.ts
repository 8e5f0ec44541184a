import { subjects } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import {
  checkPermissions,
  cloudApiUserPermissions,
  deviceUserPermissions,
  enrollingUserPermissions,
  patternCoversInbox,
  portalUserPermissions,
  systemUserPermissions,
  toJwtPermissions,
} from '../src/index.js';

describe('per-role permissions', () => {
  it('give a device its own subjects and inbox, nothing of other devices, never _INBOX.>', () => {
    const p = deviceUserPermissions('press-01');
    expect(p.publish).toContain(subjects.device.hello('press-01'));
    expect(p.publish).toContain(subjects.device.telemetry('press-01'));
    expect(p.publish).toContain('outpost.dev.press-01.reply.*');
    expect(p.subscribe).toContain(subjects.device.desiredChanged('press-01'));
    expect(p.subscribe).toContain('_INBOX_press-01.>');
    // Besides its own space, a device may only read the artifacts bucket, by direct gets: no consumer (its deliver
    // subject is not checked by nats-server), no other JetStream call, never `$O.` writes.
    const artifactReads = p.publish.filter((pattern) => pattern.startsWith('$'));
    expect(artifactReads).toEqual(['$JS.API.DIRECT.GET.OBJ_outpost-artifacts']);
    expect(p.publish.some((pattern) => pattern.startsWith('$O.'))).toBe(false);
    for (const pattern of [...p.publish.filter((pattern) => !artifactReads.includes(pattern)), ...p.subscribe]) {
      expect(pattern.startsWith('outpost.dev.press-01.') || pattern.startsWith('_INBOX_press-01.')).toBe(true);
    }
    expect(p.subscribe).not.toContain('_INBOX.>');
    expect(p.publish.length).toBeGreaterThan(0);
    expect(p.subscribe.length).toBeGreaterThan(0);
  });

  it('refuse a device id that is not one subject token, and the reserved ones', () => {
    expect(() => deviceUserPermissions('a.b')).toThrow();
    expect(() => deviceUserPermissions('*')).toThrow();
    expect(() => deviceUserPermissions('portal')).toThrow(/portal/);
  });

  it('give the services their own inboxes and no _INBOX.>', () => {
    expect(portalUserPermissions()).toEqual({
      publish: expect.arrayContaining(['outpost.api.>']),
      subscribe: expect.arrayContaining(['outpost.events.>', '_INBOX_portal.>']),
    });
    const api = cloudApiUserPermissions();
    expect(api.subscribe).toEqual(['outpost.>', '_INBOX_cloud-api.>']);
    expect(api.publish).toEqual(expect.arrayContaining(['outpost.>', '$JS.API.>', '_INBOX_enroll.>']));
    expect(api.responses).toEqual({ max: 1, ttlSecs: 300 });
    expect(enrollingUserPermissions()).toEqual({ publish: ['outpost.enroll'], subscribe: ['_INBOX_enroll.>'] });
    expect(systemUserPermissions('AXXX')).toEqual({
      publish: ['$SYS.REQ.ACCOUNT.AXXX.CLAIMS.UPDATE', '$SYS.REQ.ACCOUNT.AXXX.INFO'],
      subscribe: ['_INBOX_system.>'],
    });
    for (const p of [portalUserPermissions(), cloudApiUserPermissions(), enrollingUserPermissions()]) {
      expect(p.subscribe.some(patternCoversInbox)).toBe(false);
    }
  });
});

describe('permission checks', () => {
  it('know which subscriptions could read _INBOX. replies', () => {
    for (const pattern of ['>', '_INBOX.>', '_INBOX.*', '*.>', '*.abc', '_INBOX', '_INBOX.abc.def']) {
      expect(patternCoversInbox(pattern), pattern).toBe(true);
    }
    for (const pattern of ['_INBOX_dev.>', 'outpost.>', 'abc.*', '_INBOXES.>', '$JS.API.>']) {
      expect(patternCoversInbox(pattern), pattern).toBe(false);
    }
  });

  it('refuse inbox-reading subscriptions and malformed patterns', () => {
    expect(() => checkPermissions({ publish: ['a'], subscribe: ['_INBOX.>'] })).toThrow(/_INBOX/);
    expect(() => checkPermissions({ publish: ['a'], subscribe: ['>'] })).toThrow(/_INBOX/);
    expect(() => checkPermissions({ publish: ['a..b'], subscribe: ['c'] })).toThrow(/not a valid subject/);
    expect(() => checkPermissions({ publish: ['a.>.b'], subscribe: ['c'] })).toThrow(/not a valid subject/);
    expect(() => checkPermissions({ publish: ['a b'], subscribe: ['c'] })).toThrow(/not a valid subject/);
    expect(() => checkPermissions({ publish: ['a'], subscribe: ['c'], responses: { max: 0, ttlSecs: 1 } })).toThrow(
      /responses/,
    );
  });

  it('write an empty list as a deny of everything, never as an empty allow-list', () => {
    expect(toJwtPermissions({ publish: ['devices.s1.messages.events'], subscribe: [] })).toEqual({
      pub: { allow: ['devices.s1.messages.events'] },
      sub: { deny: ['>'] },
    });
    expect(toJwtPermissions({ publish: ['a'], subscribe: ['b'], responses: { max: 1, ttlSecs: 2 } }).resp).toEqual({
      max: 1,
      ttl: 2_000_000_000,
    });
  });
});
