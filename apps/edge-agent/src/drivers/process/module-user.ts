import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { DriverError } from '../../runtime/contracts.js';

/** Who a module runs as. uid/gid are null when the agent is not root: the module then runs as the agent's user. */
export interface ModuleUser {
  readonly name: string;
  readonly uid: number | null;
  readonly gid: number | null;
  readonly home: string;
}

export const PASSWD_FILE = '/etc/passwd';

/**
 * As root, modules run as `requested` (the manifest's process.user) or the configured module user, looked up in
 * /etc/passwd; root itself is always refused, since a module could then read the agent's credentials. As any other
 * user the agent cannot switch users, so modules run as the agent's user.
 */
export async function resolveModuleUser(
  requested: string | undefined,
  configured: string,
  passwdFile = PASSWD_FILE,
): Promise<ModuleUser> {
  if (process.getuid?.() !== 0) {
    const me = userInfo();
    return { name: me.username, uid: null, gid: null, home: me.homedir };
  }
  const name = requested ?? configured;
  if (name === 'root' || name === '0') {
    throw new DriverError('MODULE_USER_ROOT', `module user "${name}": modules never run as root`);
  }
  const text = await readFile(passwdFile, 'utf8');
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] !== name || fields.length < 7) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (uid === 0)
      throw new DriverError('MODULE_USER_ROOT', `module user "${name}" has uid 0: modules never run as root`);
    return { name, uid, gid, home: fields[5] || '/' };
  }
  throw new DriverError(
    'MODULE_USER_MISSING',
    requested !== undefined
      ? `module user "${name}" (process.user) does not exist on this device: create it or remove process.user`
      : `module user "${name}" does not exist: create it with \`useradd --system --no-create-home ${name}\` or set moduleUser in the agent config`,
  );
}
