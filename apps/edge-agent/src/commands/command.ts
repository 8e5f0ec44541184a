/** A CLI subcommand. `run` returns the process exit code; StartupErrors it throws exit 2. */
export interface Command {
  readonly name: string;
  /** One line for the command list in the top-level usage. */
  readonly summary: string;
  /** Full usage text, shown by `outpost-agent <command> --help`. */
  readonly usage: string;
  run(args: readonly string[]): Promise<number>;
}

/** Exit codes callers (systemd units, the dev orchestrator, tests) rely on. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** Bad usage or configuration: retrying without a fix will fail the same way. */
export const EXIT_USAGE = 2;
