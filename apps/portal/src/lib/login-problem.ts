import type { ErrorCode } from '@outpost/protocol';

/** Why the login page is shown again: fixed messages, so nothing a link carries is shown as text. */
export const LOGIN_PROBLEMS = {
  invalid: 'Invalid username or password.',
  'rate-limited': 'Too many attempts.',
  unavailable: 'The cloud API is not answering. Try again in a moment.',
  refused: 'Sign-in was refused.',
  failed: 'Sign-in failed. Try again.',
} as const;

export type LoginProblem = keyof typeof LOGIN_PROBLEMS;

export function loginProblemOf(code: ErrorCode): LoginProblem {
  switch (code) {
    case 'UNAUTHORIZED':
    case 'VALIDATION_FAILED':
    case 'BAD_REQUEST':
      return 'invalid';
    case 'RATE_LIMITED':
      return 'rate-limited';
    case 'UNAVAILABLE':
    case 'TIMEOUT':
      return 'unavailable';
    case 'FORBIDDEN':
      return 'refused';
    default:
      return 'failed';
  }
}

export function isLoginProblem(value: unknown): value is LoginProblem {
  return typeof value === 'string' && Object.hasOwn(LOGIN_PROBLEMS, value);
}

/** The sentence the login page shows for a problem (and how long to wait, when the API said). */
export function loginProblemText(problem: LoginProblem, retryAfter: unknown): string {
  const seconds = typeof retryAfter === 'string' && /^\d{1,6}$/.test(retryAfter) ? Number(retryAfter) : undefined;
  if (problem === 'rate-limited' && seconds !== undefined) return `Too many attempts. Try again in ${seconds} s.`;
  return LOGIN_PROBLEMS[problem];
}
