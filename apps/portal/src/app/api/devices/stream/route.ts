import { parseDeviceQuery } from '@/lib/device-query';
import { apiClient } from '@/server/api-client';
import { createDeviceStream } from '@/server/device-stream';

// Holds a NATS subscription for as long as the browser listens: needs Node, and must never be cached or prerendered.
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** `GET /api/devices/stream?status&idPrefix&cursor&limit`: the Devices page's live updates as Server-Sent Events. */
export function GET(request: Request): Response {
  const parsed = parseDeviceQuery(new URL(request.url).searchParams);
  if (!parsed.ok) return Response.json(parsed.error, { status: 400 });

  const stream = createDeviceStream({ query: parsed.query, api: apiClient, signal: request.signal });
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
