// Unit tests for startup-order grouping, from agent-semantics C5 (doc/ModuleStartupOrder.md + HealthRestartPlanner).
import { describe, expect, it } from 'vitest';
import {
  groupByStartupOrder,
  LAST_STARTUP_ORDER,
  type OrderedModule,
  StartupOrderError,
  UNKNOWN_MODULE_STARTUP_ORDER,
} from '../src/runtime/startup-order.js';

const names = (groups: OrderedModule[][]) => groups.map((group) => group.map((module) => module.name));

describe('groupByStartupOrder (C5)', () => {
  it('ModuleStartupOrder.md manifest: edgeHub (0), then SimulatedTemperatureSensor (1), then filtermodule (unspecified)', () => {
    // edgeAgent is the agent itself and never planned, so the caller leaves it out.
    const modules = [
      { name: 'filtermodule' },
      { name: 'SimulatedTemperatureSensor', startupOrder: 1 },
      { name: 'edgeHub', startupOrder: 0 },
    ];
    expect(names(groupByStartupOrder(modules))).toEqual([
      ['edgeHub'],
      ['SimulatedTemperatureSensor'],
      ['filtermodule'],
    ]);
  });

  it('a missing startupOrder is 4294967295: last, in one group with modules that give that value', () => {
    const modules = [
      { name: 'implicit' },
      { name: 'explicit', startupOrder: LAST_STARTUP_ORDER },
      { name: 'early', startupOrder: 7 },
    ];
    expect(names(groupByStartupOrder(modules))).toEqual([['early'], ['implicit', 'explicit']]);
  });

  it('equal startupOrder: one group (no defined order in Azure; input order kept here)', () => {
    const modules = [
      { name: 'b', startupOrder: 2 },
      { name: 'a', startupOrder: 1 },
      { name: 'c', startupOrder: 2 },
      { name: 'd', startupOrder: 1 },
    ];
    expect(names(groupByStartupOrder(modules))).toEqual([
      ['a', 'd'],
      ['b', 'c'],
    ]);
  });

  it('groups are in ascending numeric order, not string order', () => {
    const modules = [
      { name: 'ten', startupOrder: 10 },
      { name: 'nine', startupOrder: 9 },
      { name: 'hundred', startupOrder: 100 },
    ];
    expect(names(groupByStartupOrder(modules))).toEqual([['nine'], ['ten'], ['hundred']]);
  });

  it('unknown running modules get priority 0, so they are handled (removed) in the first group', () => {
    const modules = [
      { name: 'new-module', startupOrder: 1 },
      { name: 'leftover', startupOrder: UNKNOWN_MODULE_STARTUP_ORDER },
      { name: 'hub', startupOrder: 0 },
    ];
    expect(names(groupByStartupOrder(modules))).toEqual([['leftover', 'hub'], ['new-module']]);
  });

  it('returns the callers’ own objects, and no groups for no modules', () => {
    const module = { name: 'm', startupOrder: 3, extra: true };
    expect(groupByStartupOrder([module])[0]?.[0]).toBe(module);
    expect(groupByStartupOrder([])).toEqual([]);
  });

  it.each([-1, 1.5, LAST_STARTUP_ORDER + 1, Number.NaN])(
    'refuses startupOrder %s, naming the module',
    (startupOrder) => {
      const call = () => groupByStartupOrder([{ name: 'sensor', startupOrder }]);
      expect(call).toThrow(StartupOrderError);
      expect(call).toThrow(/module sensor: startupOrder must be an integer from 0 to 4294967295/);
    },
  );
});
