import { waitFor } from '@outpost/testing';

export interface ReceivedSseEvent {
  event: string;
  data: string;
}

/** Reads a Server-Sent Events body in the background and keeps every event and comment it has seen. */
export class SseReader {
  readonly events: ReceivedSseEvent[] = [];
  readonly comments: string[] = [];
  private buffer = '';
  private readonly done: Promise<void>;

  constructor(body: ReadableStream<Uint8Array>) {
    this.done = this.pump(body.getReader());
  }

  /** The JSON payloads of every event with this name, in order. */
  payloads<T = unknown>(event: string): T[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.data) as T);
  }

  /** Waits until an event with this name satisfies the predicate, and returns its payload. */
  async waitForPayload<T>(event: string, predicate: (payload: T) => boolean, what: string, timeoutMs = 60_000) {
    return waitFor(() => this.payloads<T>(event).find(predicate), { timeoutMs, intervalMs: 50, what });
  }

  /** Resolves when the stream ends (closed by the server or cancelled). */
  finished(): Promise<void> {
    return this.done;
  }

  private async pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.buffer += decoder.decode(value, { stream: true });
        this.drain();
      }
    } catch {
      // Aborting the request rejects the pending read: that is how a test hangs up.
    }
  }

  private drain(): void {
    for (let end = this.buffer.indexOf('\n\n'); end !== -1; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('event: ')) event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
      }
      if (data.length > 0) this.events.push({ event, data: data.join('\n') });
    }
  }
}
