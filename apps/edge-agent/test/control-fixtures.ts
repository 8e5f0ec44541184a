import type { LogLine } from '@outpost/protocol';
import { ControlError } from '../src/control/index.js';
import type { DeploymentView, LogQuery, ModuleView, RuntimeControl } from '../src/runtime/contracts.js';

/**
 * A small RuntimeControl for the transport: modules in memory, logs appended by the test, follow streams that end
 * when their signal aborts. The real Runtime is exercised through the agent binary in cli-agent.test.ts.
 */
export class InMemoryRuntime implements RuntimeControl {
  readonly views = new Map<string, ModuleView>();
  readonly logs = new Map<string, LogLine[]>();
  activeFollows = 0;
  private readonly waiters = new Set<() => void>();

  addModule(name: string, overrides: Partial<ModuleView> = {}): void {
    this.views.set(name, {
      name,
      type: 'process',
      status: 'running',
      version: '1.0.0',
      restartCount: 0,
      exitCode: null,
      lastStartedAt: new Date(Date.now() - 90_000).toISOString(),
      lastExitedAt: null,
      lastRestartedAt: null,
      ...overrides,
    });
    this.logs.set(name, []);
  }

  write(name: string, text: string, at = new Date().toISOString()): void {
    this.logs.get(name)?.push({ at, stream: 'stdout', text });
    for (const wake of this.waiters) wake();
  }

  modules(): readonly ModuleView[] {
    return [...this.views.values()];
  }

  deployment(): DeploymentView {
    return { source: 'local', id: 'dep-1', version: 3, code: 200, description: 'applied' };
  }

  async restartModule(name: string): Promise<void> {
    const view = this.views.get(name);
    if (!view) throw new ControlError('NOT_FOUND', `no module ${name}`);
    this.views.set(name, { ...view, restartCount: view.restartCount + 1, lastStartedAt: new Date().toISOString() });
  }

  async moduleLogs(name: string, query: LogQuery): Promise<LogLine[]> {
    let lines = this.logs.get(name) ?? [];
    const since = query.since;
    if (since) lines = lines.filter((line) => line.at !== null && line.at >= since);
    if (query.tail !== undefined) lines = lines.slice(-query.tail);
    return lines;
  }

  async *followModuleLogs(name: string, signal: AbortSignal): AsyncIterable<LogLine> {
    this.activeFollows++;
    let seen = this.logs.get(name)?.length ?? 0;
    try {
      while (!signal.aborted) {
        const lines = this.logs.get(name) ?? [];
        while (seen < lines.length) yield lines[seen++] as LogLine;
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.waiters.delete(wake);
            signal.removeEventListener('abort', wake);
            resolve();
          };
          this.waiters.add(wake);
          signal.addEventListener('abort', wake, { once: true });
        });
      }
    } finally {
      this.activeFollows--;
    }
  }
}
