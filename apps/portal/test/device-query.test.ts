import { PAGE_LIMIT_DEFAULT } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { deviceQueryString, devicesHref, parseDeviceQuery } from '@/lib/device-query';

describe('devices filter in URLs', () => {
  it('reads the page search params into an API query with the default page size', () => {
    expect(parseDeviceQuery({ status: 'online', idPrefix: 'line-', cursor: 'abc' })).toEqual({
      ok: true,
      query: { status: 'online', idPrefix: 'line-', cursor: 'abc', limit: PAGE_LIMIT_DEFAULT },
    });
  });

  it('treats empty form fields as no filter and takes the first of repeated params', () => {
    expect(parseDeviceQuery(new URLSearchParams('idPrefix=&status=offline&status=online'))).toEqual({
      ok: true,
      query: { status: 'offline', limit: PAGE_LIMIT_DEFAULT },
    });
  });

  it('names each bad field of an invalid filter', () => {
    const result = parseDeviceQuery({ status: 'sleeping', limit: '0' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('VALIDATION_FAILED');
    expect(result.error.details.map((d) => d.path).sort()).toEqual(['limit', 'status']);
  });

  it('builds links that parse back to the same query', () => {
    const query = { status: 'offline' as const, idPrefix: 'plant 7', cursor: 'c/1+2', limit: 20 };
    const href = devicesHref(query);
    expect(href.startsWith('/devices?')).toBe(true);
    expect(parseDeviceQuery(new URLSearchParams(href.split('?')[1]))).toEqual({ ok: true, query });
  });

  it('keeps the default page size and empty filters out of URLs', () => {
    expect(deviceQueryString({ limit: PAGE_LIMIT_DEFAULT })).toBe('');
    expect(devicesHref({})).toBe('/devices');
  });
});
