import { parseDeviceQuery } from '@/lib/device-query';
import { apiClient } from '@/server/api-client';
import { createDeviceStream } from '@/server/device-stream';
import { sessionToken } from '@/server/session';

// Holds a NATS subscription for as long as the browser listens: needs Node, and must never be cached or prerendered.
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** `GET /api/devices/stream?status&idPrefix&cursor&limit`: the Devices page's live updates as Server-Sent Events. */
export async function GET(request: Request): Promise<Response> {
  const parsed = parseDeviceQuery(new URL(request.url).searchParams);
  if (!parsed.ok) return Response.json(parsed.error, { status: 400 });
  const token = await sessionToken();
  if (!token) {
    return Response.json(
      { code: 'UNAUTHORIZED', message: 'Sign in first', details: [{ path: 'cookie', message: 'no session' }] },
      { status: 401 },
    );
  }

  // Every query the stream makes carries the person's session token: once it ends, the stream says UNAUTHORIZED.
  const stream = createDeviceStream({ query: parsed.query, api: apiClient.forPerson(token), signal: request.signal });
  return new Response(stream, {
    headers: {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // Stops nginx-style proxies from buffering the stream into silence.
      'X-Accel-Buffering': 'no',
    },
  });
}
