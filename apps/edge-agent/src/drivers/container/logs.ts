import type { LogLine } from '@outpost/protocol';
import type { LogQuery } from '../../runtime/contracts.js';

/** The protocol's limit for one line's text. */
const MAX_LINE_CHARS = 16_384;
const HEADER_BYTES = 8;

type Stream = LogLine['stream'];

/**
 * Turns the Docker logs/attach stream into lines. Without a TTY the engine multiplexes stdout and stderr in frames
 * (1 byte stream, 3 zero bytes, 4 bytes big-endian length, payload); a frame may hold several lines or part of one,
 * so partial lines are kept per stream until their newline arrives. With a TTY everything is stdout, unframed.
 * With `timestamps`, every line starts with an RFC 3339 time and a space.
 */
export class LogDemuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly partial: Record<Stream, string> = { stdout: '', stderr: '' };

  constructor(
    private readonly options: { readonly tty: boolean; readonly timestamps: boolean },
    private readonly emit: (line: LogLine) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.options.tty) {
      this.text('stdout', chunk.toString('utf8'));
      return;
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER_BYTES) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER_BYTES + size) break;
      const stream: Stream = this.pending[0] === 2 ? 'stderr' : 'stdout';
      this.text(stream, this.pending.subarray(HEADER_BYTES, HEADER_BYTES + size).toString('utf8'));
      this.pending = this.pending.subarray(HEADER_BYTES + size);
    }
  }

  /** Emits what is left of unterminated lines (the stream ended). */
  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.line(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  private text(stream: Stream, text: string): void {
    const parts = (this.partial[stream] + text).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const part of parts) this.line(stream, part);
  }

  private line(stream: Stream, raw: string): void {
    let at: string | null = null;
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.options.timestamps) {
      const space = text.indexOf(' ');
      const stamp = space > 0 ? text.slice(0, space) : text;
      const ms = Date.parse(stamp);
      if (!Number.isNaN(ms)) {
        at = new Date(ms).toISOString();
        text = space > 0 ? text.slice(space + 1) : '';
      }
    }
    this.emit({ at, stream, text: text.length > MAX_LINE_CHARS ? text.slice(0, MAX_LINE_CHARS) : text });
  }
}

/** Splits a whole (non-follow) logs answer into lines. */
export function demuxLogs(body: Buffer, options: { tty: boolean; timestamps: boolean }): LogLine[] {
  const lines: LogLine[] = [];
  const demuxer = new LogDemuxer(options, (line) => lines.push(line));
  demuxer.push(body);
  demuxer.end();
  return lines;
}

/** A time filter for the engine: whole unix seconds (what every Docker API implementation accepts). */
export function engineTime(iso: string | undefined, round: 'floor' | 'ceil'): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  return round === 'floor' ? Math.floor(ms / 1000) : Math.ceil(ms / 1000);
}

/** `contains` is applied here (the engine has no text filter), then `tail` to what matched. */
export function filterLines(lines: LogLine[], query: LogQuery): LogLine[] {
  const matching =
    query.contains === undefined ? lines : lines.filter((line) => line.text.includes(query.contains ?? ''));
  return query.tail === undefined ? matching : matching.slice(Math.max(0, matching.length - query.tail));
}
