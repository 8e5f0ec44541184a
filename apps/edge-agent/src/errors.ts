/**
 * Why the agent refused to start. Each code names a class of operator mistake, so scripts and the orchestrator can
 * tell a bad config file from an unusable state dir without parsing the message.
 */
export type StartupErrorCode =
  | 'USAGE'
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_UNREADABLE'
  | 'CONFIG_INVALID_JSON'
  | 'CONFIG_INVALID'
  | 'STATE_DIR_UNUSABLE'
  | 'ENROLL_TOKEN_INVALID'
  | 'ALREADY_ENROLLED'
  | 'ENROLL_CONNECT_FAILED'
  | 'ENROLL_REFUSED'
  | 'ENROLL_FAILED';

/**
 * A problem the operator has to fix before the agent can run. The CLI prints each line of `lines` and exits 2;
 * every line names what is wrong (the file, the field, the directory).
 */
export class StartupError extends Error {
  readonly code: StartupErrorCode;
  readonly lines: readonly string[];

  constructor(code: StartupErrorCode, lines: readonly string[], options?: { cause?: unknown }) {
    super(lines.join('\n'), options);
    this.name = 'StartupError';
    this.code = code;
    this.lines = lines;
  }
}

/** The message of any thrown value, for logs and startup errors. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
