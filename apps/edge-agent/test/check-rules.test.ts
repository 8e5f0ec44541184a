import { describe, expect, it } from 'vitest';
import { checkClock, checkCredentialExpiry } from '../src/commands/check.js';
import type { DeviceCredential } from '../src/credentials/creds-file.js';

/** The rules behind `check`'s clock and credential lines (the real servers are in check.test.ts). */
const NOW = Date.parse('2026-06-15T12:00:00Z');
const DAY = 86_400_000;

function credential(issuedAt: number | null, expiresAt: number | null): DeviceCredential {
  return {
    jwt: 'header.claims.signature',
    seed: 'SUA-not-used',
    publicKey: 'UABCDEFGH',
    issuedAt: issuedAt === null ? null : new Date(issuedAt),
    expiresAt: expiresAt === null ? null : new Date(expiresAt),
  };
}

const certificate = (from: number, to: number) => ({
  server: 'tls://cloud:4222',
  validFrom: new Date(from),
  validTo: new Date(to),
});

describe('clock check', () => {
  it('is ok inside every bound, and names the sources it used', () => {
    const result = checkClock(
      credential(NOW - DAY, NOW + 29 * DAY),
      [certificate(NOW - 90 * DAY, NOW + 90 * DAY)],
      NOW,
    );
    expect(result.level).toBe('ok');
    expect(result.detail).toMatch(/credential's issue time 2026-06-14T12:00:00\.000Z/);
    expect(result.detail).toMatch(/tls:\/\/cloud:4222's certificate validity/);
    expect(result.detail).toMatch(/bounds only/);
  });

  it('fails when the credential was issued after this clock: the clock is behind, by at least that much', () => {
    const result = checkClock(credential(NOW + 3 * 3_600_000, NOW + 30 * DAY), [], NOW);
    expect(result.level).toBe('fail');
    expect(result.detail).toMatch(/at least 3h behind/);
    expect(result.hint).toMatch(/timedatectl|chrony/);
  });

  it('tolerates a credential issued seconds "in the future" (whole-second claims, small drift)', () => {
    expect(checkClock(credential(NOW + 20_000, NOW + DAY), [], NOW).level).toBe('ok');
  });

  it("fails before the server certificate's validity (a device booted in 1970) and after it", () => {
    const booted1970 = checkClock(null, [certificate(NOW - DAY, NOW + DAY)], 0);
    expect(booted1970.level).toBe('fail');
    expect(booted1970.detail).toMatch(/behind: .*valid only from/);
    const ahead = checkClock(null, [certificate(NOW - 2 * DAY, NOW - DAY)], NOW);
    expect(ahead.level).toBe('fail');
    expect(ahead.detail).toMatch(/ahead or the certificate expired/);
  });

  it('warns when there is nothing to compare with', () => {
    const result = checkClock(null, [], NOW);
    expect(result.level).toBe('warn');
    expect(result.detail).toMatch(/no time source/);
  });
});

describe('credential expiry check', () => {
  it('is ok with more than 7 days left, warns under 7 days, fails once expired', () => {
    expect(checkCredentialExpiry(credential(NOW, NOW + 8 * DAY), NOW).level).toBe('ok');
    const soon = checkCredentialExpiry(credential(NOW, NOW + 6 * DAY + 3_600_000), NOW);
    expect(soon).toMatchObject({ level: 'warn', detail: expect.stringMatching(/expires in 6d1h/) });
    const expired = checkCredentialExpiry(credential(NOW - DAY, NOW - 90_000), NOW);
    expect(expired).toMatchObject({ level: 'fail', detail: expect.stringMatching(/expired 1m30s ago/) });
    expect(checkCredentialExpiry(credential(NOW, null), NOW)).toMatchObject({ level: 'ok', detail: /does not expire/ });
  });
});
