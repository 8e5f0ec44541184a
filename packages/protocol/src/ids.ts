import { z } from 'zod';

/**
 * A device id is one NATS subject token (it is embedded in subjects and permissions), so it may not contain
 * `.`, `*`, `>` or whitespace. Letters, digits, `-` and `_`, starting with a letter or digit, at most 128.
 */
export const DeviceId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/,
    'must be 1-128 letters, digits, "-" or "_", starting with a letter or digit',
  )
  .meta({ id: 'DeviceId', example: 'dev-device-01' });
export type DeviceId = z.infer<typeof DeviceId>;
