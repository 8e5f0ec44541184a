import { describe, expect, it } from 'vitest';
import {
  CreateEnrollmentGroupRequest,
  CredentialRenewRequestV1,
  decodeEnrollmentToken,
  decodeMessage,
  decodeReply,
  ENROLLMENT_TOKEN_PREFIX,
  EnrollReplyV1,
  encodeEnrollmentToken,
  encodeMessage,
  encodeReply,
  permissionsFor,
  subjectMap,
  subjects,
} from '../src/index.js';

const KEY = 'UBPUXLVB4YDPBZFODSWLTP3KY3LMZN4FPZQNT2HNYFBLBCM7JUB6UKKM';

describe('enrolment messages', () => {
  it('carry the JWT, CA, trusted keys and NATS URLs in the enrolment reply', () => {
    const reply = {
      deviceId: 'press-01',
      jwt: 'a.b.c',
      expiresAt: '2026-12-30T08:00:00.000Z',
      caPem: '-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n',
      trustedKeys: [{ keyId: 'k1', publicKey: 'pk' }],
      natsUrls: ['tls://nats.example:4222'],
    };
    expect(decodeReply(EnrollReplyV1, encodeReply(EnrollReplyV1, reply))).toEqual(reply);
  });

  it('allow a reply without credential for plain NATS', () => {
    const reply = { deviceId: 'press-01', trustedKeys: [], natsUrls: [] };
    expect(decodeReply(EnrollReplyV1, encodeReply(EnrollReplyV1, reply))).toEqual(reply);
  });

  it('refuse a renewal for anything but an NKey user public key, naming the field', () => {
    expect(
      decodeMessage(CredentialRenewRequestV1, encodeMessage(CredentialRenewRequestV1, { publicKey: KEY })),
    ).toEqual({ publicKey: KEY });
    expect(() => encodeMessage(CredentialRenewRequestV1, { publicKey: `S${KEY.slice(1)}` })).toThrow(
      /credential.renew/,
    );
  });

  it('bound a group token’s lifetime to 90 days and its id prefix to id characters', () => {
    expect(CreateEnrollmentGroupRequest.safeParse({ name: 'line 3', expiresInSeconds: 3600 }).success).toBe(true);
    expect(CreateEnrollmentGroupRequest.safeParse({ name: 'x', expiresInSeconds: 91 * 24 * 3600 }).success).toBe(false);
    expect(CreateEnrollmentGroupRequest.safeParse({ name: 'x', expiresInSeconds: 60, idPrefix: 'a.b' }).success).toBe(
      false,
    );
  });
});

describe('credential renewal subject', () => {
  it('lies in the device space, so only the device’s own credential can ask', () => {
    expect(subjects.device.credentialRenew('press-01')).toBe('outpost.dev.press-01.credential.renew');
    expect(permissionsFor({ role: 'agent', deviceId: 'press-01' }).publish).toContain(
      'outpost.dev.press-01.credential.renew',
    );
    expect(permissionsFor({ role: 'agent', deviceId: 'press-02' }).publish).not.toContain(
      'outpost.dev.press-01.credential.renew',
    );
    expect(subjectMap.credentialRenew.subscribe).toEqual(['cloud-api']);
  });

  it('is not open to the enrolment credential', () => {
    const { publish, subscribe } = permissionsFor({ role: 'enrolling-agent' });
    expect(publish).toEqual(['outpost.enroll']);
    expect(subscribe).toEqual(['_INBOX_enroll.>']);
  });
});

describe('enrolment token strings', () => {
  const bundle = {
    v: 1 as const,
    secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0',
    deviceId: 'press-01',
    caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    creds: { jwt: 'a.b.c', seed: `SU${'A'.repeat(56)}` },
  };

  it('round-trip the bundle', () => {
    const token = encodeEnrollmentToken(bundle);
    expect(token.startsWith(ENROLLMENT_TOKEN_PREFIX)).toBe(true);
    expect(decodeEnrollmentToken(` ${token}\n`)).toEqual(bundle);
  });

  it('refuse a truncated or foreign token with a message that does not quote it', () => {
    const token = encodeEnrollmentToken(bundle);
    expect(() => decodeEnrollmentToken(token.slice(0, 40))).toThrow(/damaged/);
    expect(() => decodeEnrollmentToken('hello')).toThrow(/not an Outpost enrolment token/);
    try {
      decodeEnrollmentToken(token.slice(0, 40));
    } catch (err) {
      expect((err as Error).message).not.toContain(token.slice(15, 40));
    }
  });

  it('need a device id unless it is a group token', () => {
    const { deviceId: _omitted, ...rest } = bundle;
    expect(() => decodeEnrollmentToken(encodeEnrollmentToken(rest))).toThrow(/names no device/);
    expect(decodeEnrollmentToken(encodeEnrollmentToken({ ...rest, group: true })).group).toBe(true);
  });
});
