import { describe, expect, it } from 'vitest';
import { isLoginProblem, loginProblemOf, loginProblemText } from '@/lib/login-problem';
import { isLoopbackHost, loginHref, safeNextPath, secureCookie, validSessionToken } from '@/lib/session-cookie';

describe('the session cookie', () => {
  it('is Secure in production except on a loopback host, and never in development', () => {
    const production = { NODE_ENV: 'production' };
    expect(secureCookie('portal.example.com', production)).toBe(true);
    expect(secureCookie('10.0.0.5:3000', production)).toBe(true);
    for (const host of ['localhost', 'localhost:3000', '127.0.0.1:3000', '127.3.2.1', '[::1]:3000', 'app.localhost']) {
      expect(secureCookie(host, production), host).toBe(false);
    }
    expect(secureCookie('portal.example.com', { NODE_ENV: 'development' })).toBe(false);
    expect(secureCookie(null, production)).toBe(true);
  });

  it('tells loopback hosts from look-alikes', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
    expect(isLoopbackHost('127.0.0.1.example.com')).toBe(false);
    expect(isLoopbackHost('')).toBe(false);
  });

  it('holds only values that can be a token', () => {
    expect(validSessionToken('ops_abc-DEF_123')).toBe('ops_abc-DEF_123');
    for (const bad of [undefined, '', 'a b', 'x;y', 'é']) expect(validSessionToken(bad)).toBeNull();
  });
});

describe('where to go after signing in', () => {
  it('stays on this site', () => {
    expect(safeNextPath('/devices?status=online')).toBe('/devices?status=online');
    for (const bad of ['//evil.example/', 'https://evil.example/', '/\\evil.example', 'devices', undefined, 42]) {
      expect(safeNextPath(bad)).toBe('/devices');
    }
    expect(loginHref('/devices?status=online', 'expired')).toBe(
      '/login?next=%2Fdevices%3Fstatus%3Donline&reason=expired',
    );
    expect(loginHref('//evil.example/')).toBe('/login?next=%2Fdevices');
  });
});

describe('login problems', () => {
  it('map API codes to fixed sentences, with the wait when rate limited', () => {
    expect(loginProblemOf('UNAUTHORIZED')).toBe('invalid');
    expect(loginProblemOf('RATE_LIMITED')).toBe('rate-limited');
    expect(loginProblemOf('UNAVAILABLE')).toBe('unavailable');
    expect(loginProblemOf('INTERNAL')).toBe('failed');
    expect(loginProblemText('rate-limited', '42')).toBe('Too many attempts. Try again in 42 s.');
    expect(loginProblemText('rate-limited', '<script>')).toBe('Too many attempts.');
    expect(isLoginProblem('invalid')).toBe(true);
    expect(isLoginProblem('toString')).toBe(false);
  });
});
