/** The message shape routes are evaluated against, and the safe accessors the compiled conditions use. */

export type PropertyBag = Readonly<Record<string, string | null>>;

export interface RoutingMessage {
  /** Where the message came from, e.g. `/messages/modules/sensor/outputs/out1` or `/twinChangeNotifications`. */
  readonly source: string;
  /** Raw payload; `$body` queries read it as JSON when `contentType` is `application/json`. */
  readonly body: Uint8Array | null;
  /** Application (user) properties; names are matched case-insensitively. */
  readonly appProperties: PropertyBag;
  /** System properties such as `contentType`, `contentEncoding`, `connectionDeviceId`; case-insensitive names. */
  readonly systemProperties: PropertyBag;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Property values are strings or null; anything else a caller slipped in is read defensively, never thrown on. */
function asPropertyValue(value: unknown): string | null | undefined {
  if (typeof value === 'string' || value === null) return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

/**
 * Looks `name` up case-insensitively: the value, `null` for a property set to null, `undefined` when absent.
 * The exact spelling is tried first because that is what almost every route uses.
 */
export function readProperty(bag: unknown, name: string, lowerName: string): string | null | undefined {
  if (typeof bag !== 'object' || bag === null) return undefined;
  const record = bag as Record<string, unknown>;
  if (hasOwn.call(record, name)) {
    const value = asPropertyValue(record[name]);
    if (value !== undefined) return value;
  }
  for (const key in record) {
    if (key.length === name.length && key !== name && hasOwn.call(record, key) && key.toLowerCase() === lowerName) {
      const value = asPropertyValue(record[key]);
      if (value !== undefined) return value;
    }
  }
  return undefined;
}

/** Returned when a message body cannot be read as JSON: every `$body` query on it is undefined. */
export const UNREADABLE_BODY: unique symbol = Symbol('unreadable body');

const parsedBodies = new WeakMap<object, unknown>();

/**
 * The message body as a parsed JSON object, parsed once per message object and cached.
 * Like Azure, it requires `contentType` application/json and `contentEncoding` utf-8, utf-16 or utf-32
 * (little-endian for the last two), and a JSON object at the top.
 */
export function readJsonBody(message: RoutingMessage): unknown {
  if (typeof message !== 'object' || message === null) return UNREADABLE_BODY;
  const cached = parsedBodies.get(message);
  if (cached !== undefined) return cached;
  const parsed = parseJsonBody(message);
  parsedBodies.set(message, parsed);
  return parsed;
}

const utf8Decoder = new TextDecoder('utf-8');
const utf16Decoder = new TextDecoder('utf-16le');

function parseJsonBody(message: RoutingMessage): unknown {
  const encoding = readProperty(message.systemProperties, 'contentEncoding', 'contentencoding');
  const contentType = readProperty(message.systemProperties, 'contentType', 'contenttype');
  if (typeof encoding !== 'string' || typeof contentType !== 'string') return UNREADABLE_BODY;
  if (contentType.toLowerCase() !== 'application/json') return UNREADABLE_BODY;
  const body = message.body;
  if (!(body instanceof Uint8Array)) return UNREADABLE_BODY;
  let text: string;
  switch (encoding.toLowerCase()) {
    case 'utf-8':
      text = utf8Decoder.decode(body);
      break;
    case 'utf-16':
      text = utf16Decoder.decode(body);
      break;
    case 'utf-32':
      text = decodeUtf32LittleEndian(body);
      break;
    default:
      return UNREADABLE_BODY;
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : UNREADABLE_BODY;
  } catch {
    return UNREADABLE_BODY;
  }
}

/** TextDecoder has no UTF-32; invalid code points become U+FFFD, a leading BOM is dropped. */
function decodeUtf32LittleEndian(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text = '';
  for (let at = 0; at + 4 <= bytes.byteLength; at += 4) {
    const codePoint = view.getUint32(at, true);
    if (at === 0 && codePoint === 0xfeff) continue;
    const valid = codePoint <= 0x10ffff && (codePoint < 0xd800 || codePoint > 0xdfff);
    text += String.fromCodePoint(valid ? codePoint : 0xfffd);
  }
  if (bytes.byteLength % 4 !== 0) text += '\ufffd';
  return text;
}

/**
 * Newtonsoft (which Azure parses bodies with) turns ISO-8601 date-time strings into dates, and Azure's `$body`
 * queries treat dates as objects, i.e. undefined. Recognises exactly the strings Newtonsoft would convert.
 */
export function isDateLikeString(value: string): boolean {
  if (value.startsWith('/Date(')) return /^\/Date\(-?\d+([+-]\d{4})?\)\/$/.test(value);
  if (value.length < 19 || value.length > 40 || value.charAt(10) !== 'T') return false;
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(.*)$/.exec(value);
  if (match === null) return false;
  const [, year, month, day, hour, minute, second, fraction = '', zone = ''] = match;
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return false;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return false;
  // Newtonsoft reads at most 7 fraction digits.
  if (fraction.length > 8) return false;
  return zone === '' || /^([Zz]|[+-]\d{2}(:?\d{2})?)$/.test(zone);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
