import {
  type DeviceStatus,
  detailsFromZod,
  type ErrorBody,
  ListDevicesQuery,
  PAGE_LIMIT_DEFAULT,
} from '@outpost/protocol';

/**
 * The devices filter as it travels in URLs: the page's search params and the live stream's query string use the same
 * names as the API's `ListDevicesQuery` (`status`, `idPrefix`, `cursor`, `limit`), so a link, a reload and the stream
 * always show the same page.
 */

type SearchParamsRecord = Record<string, string | string[] | undefined>;

export type DeviceQueryResult = { ok: true; query: ListDevicesQuery } | { ok: false; error: ErrorBody };

function firstValue(params: URLSearchParams | SearchParamsRecord, name: string): string | undefined {
  const value = params instanceof URLSearchParams ? (params.get(name) ?? undefined) : params[name];
  const first = Array.isArray(value) ? value[0] : value;
  // An empty form field (`?idPrefix=`) means "no filter", not "match the empty prefix".
  return first === undefined || first.trim() === '' ? undefined : first.trim();
}

export function parseDeviceQuery(params: URLSearchParams | SearchParamsRecord): DeviceQueryResult {
  const result = ListDevicesQuery.safeParse({
    limit: firstValue(params, 'limit'),
    cursor: firstValue(params, 'cursor'),
    status: firstValue(params, 'status'),
    idPrefix: firstValue(params, 'idPrefix'),
  });
  if (result.success) return { ok: true, query: result.data };
  return {
    ok: false,
    error: {
      code: 'VALIDATION_FAILED',
      message: 'Invalid devices filter',
      details: detailsFromZod(result.error),
    },
  };
}

/** The query string for a filter (without `?`); the default limit is left out to keep URLs short. */
export function deviceQueryString(query: Partial<ListDevicesQuery>): string {
  const params = new URLSearchParams();
  if (query.status) params.set('status', query.status);
  if (query.idPrefix) params.set('idPrefix', query.idPrefix);
  if (query.limit !== undefined && query.limit !== PAGE_LIMIT_DEFAULT) params.set('limit', String(query.limit));
  if (query.cursor) params.set('cursor', query.cursor);
  return params.toString();
}

/** The Devices page URL for a filter. */
export function devicesHref(query: Partial<ListDevicesQuery>): string {
  const search = deviceQueryString(query);
  return search ? `/devices?${search}` : '/devices';
}

export const STATUS_FILTERS: ReadonlyArray<{ label: string; status: DeviceStatus | undefined }> = [
  { label: 'All', status: undefined },
  { label: 'Online', status: 'online' },
  { label: 'Offline', status: 'offline' },
];
