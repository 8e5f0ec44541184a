import { describe, expect, it } from 'vitest';
import { CreateDeviceRequest, Device, DeviceTags } from '../src/index.js';

describe('device API schemas', () => {
  it('accepts a device registration with or without tags', () => {
    expect(CreateDeviceRequest.parse({ id: 'press-01' })).toEqual({ id: 'press-01' });
    expect(CreateDeviceRequest.parse({ id: 'press-01', tags: { site: 'plant-7' } })).toEqual({
      id: 'press-01',
      tags: { site: 'plant-7' },
    });
  });

  it('names the bad field of a registration, including unknown ones', () => {
    const bad = CreateDeviceRequest.safeParse({ id: 'a.b', tag: {} });
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((issue) => issue.path.join('.') || issue.message);
    expect(paths).toEqual(expect.arrayContaining(['id']));
    expect(JSON.stringify(bad.error?.issues)).toMatch(/tag/);
  });

  it('limits tag keys and values', () => {
    expect(DeviceTags.safeParse({ '': 'x' }).success).toBe(false);
    expect(DeviceTags.safeParse({ k: 'v'.repeat(257) }).success).toBe(false);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect(DeviceTags.safeParse(many).success).toBe(false);
  });

  it('carries tags on every device', () => {
    const device = {
      id: 'press-01',
      status: 'offline',
      lastSeen: null,
      agentVersion: null,
      tags: {},
      createdAt: '2026-11-30T00:00:00.000Z',
    };
    expect(Device.parse(device)).toEqual(device);
    const { tags: _omitted, ...withoutTags } = device;
    expect(Device.safeParse(withoutTags).success).toBe(false);
  });
});
