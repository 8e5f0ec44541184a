import { copyFile, open, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogLine } from '@outpost/protocol';
import type { LogQuery } from '../../runtime/contracts.js';

export type LogStream = 'stdout' | 'stderr';
export const LOG_STREAMS: readonly LogStream[] = ['stdout', 'stderr'];

/** The protocol's limit on one line's text; longer lines are cut. */
export const MAX_LINE_CHARS = 16_384;
/** At most this many lines per query (the getModuleLogs reply's limit). */
export const MAX_QUERY_LINES = 10_000;

export function logsDir(moduleDir: string): string {
  return join(moduleDir, 'logs');
}

export function logFile(moduleDir: string, stream: LogStream, generation = 0): string {
  const base = join(logsDir(moduleDir), `${stream}.log`);
  return generation === 0 ? base : `${base}.${generation}`;
}

/**
 * Copy-truncate rotation: the module holds its log files open (O_APPEND, inherited fds), so they cannot be renamed
 * under it. When the live file is over `maxBytes`, `.1` … `.keep` shift up, the live file is copied to `.1` and
 * truncated; the module's next append lands at offset 0. Lines written between the copy and the truncate are lost
 * (the classic copytruncate window, a few microseconds).
 */
export async function rotateIfNeeded(moduleDir: string, maxBytes: number, keep: number): Promise<boolean> {
  let rotated = false;
  for (const stream of LOG_STREAMS) {
    const live = logFile(moduleDir, stream);
    const size = await sizeOf(live);
    if (size === null || size <= maxBytes) continue;
    await rm(logFile(moduleDir, stream, keep), { force: true });
    for (let generation = keep - 1; generation >= 1; generation--) {
      await rename(logFile(moduleDir, stream, generation), logFile(moduleDir, stream, generation + 1)).catch(
        ignoreMissing,
      );
    }
    if (keep >= 1) await copyFile(live, logFile(moduleDir, stream, 1));
    await truncate(live, 0);
    rotated = true;
  }
  return rotated;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    ignoreMissing(err);
    return null;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

/** One log file and the span of time its lines were written in (from the file times; lines carry none). */
interface LogChunk {
  readonly path: string;
  readonly stream: LogStream;
  /** Lines were written after this (the rotation before it), or -Infinity. */
  readonly notBeforeMs: number;
  /** Its last write: every line is at most this old. */
  readonly mtimeMs: number;
}

async function chunksOf(moduleDir: string, keep: number): Promise<LogChunk[]> {
  const chunks: LogChunk[] = [];
  for (const stream of LOG_STREAMS) {
    let notBeforeMs = Number.NEGATIVE_INFINITY;
    for (let generation = keep; generation >= 0; generation--) {
      const path = logFile(moduleDir, stream, generation);
      let mtimeMs: number;
      try {
        mtimeMs = (await stat(path)).mtimeMs;
      } catch (err) {
        ignoreMissing(err);
        continue;
      }
      chunks.push({ path, stream, notBeforeMs, mtimeMs });
      notBeforeMs = mtimeMs;
    }
  }
  // Without per-line times, stdout and stderr can only be interleaved file by file: by last write, oldest first.
  return chunks.sort((a, b) => a.mtimeMs - b.mtimeMs);
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function toLogLine(stream: LogStream, text: string): LogLine {
  return { at: null, stream, text: text.length > MAX_LINE_CHARS ? text.slice(0, MAX_LINE_CHARS) : text };
}

/**
 * Reads a module's logs across rotated files, oldest first. Lines carry no time (`at` null: the module writes its
 * files directly), so `since`/`until` drop whole files whose time span (the rotation before them, their last write)
 * lies outside the window, and keep every line of a file that overlaps it. `tail` counts after the other filters.
 */
export async function readLogs(moduleDir: string, keep: number, query: LogQuery): Promise<LogLine[]> {
  const sinceMs = query.since === undefined ? null : Date.parse(query.since);
  const untilMs = query.until === undefined ? null : Date.parse(query.until);
  const limit = Math.min(query.tail ?? MAX_QUERY_LINES, MAX_QUERY_LINES);
  if (limit <= 0) return [];
  const chunks = (await chunksOf(moduleDir, keep)).filter(
    (chunk) =>
      (sinceMs === null || Number.isNaN(sinceMs) || chunk.mtimeMs >= sinceMs) &&
      (untilMs === null || Number.isNaN(untilMs) || chunk.notBeforeMs <= untilMs),
  );
  // Newest file first, so a tail reads only the files it needs.
  const picked: LogLine[][] = [];
  let count = 0;
  for (const chunk of chunks.reverse()) {
    let text: string;
    try {
      text = await readFile(chunk.path, 'utf8');
    } catch (err) {
      ignoreMissing(err);
      continue;
    }
    let lines = splitLines(text).map((line) => toLogLine(chunk.stream, line));
    if (query.contains !== undefined) {
      const needle = query.contains;
      lines = lines.filter((line) => line.text.includes(needle));
    }
    if (count + lines.length > limit) lines = lines.slice(lines.length - (limit - count));
    picked.unshift(lines);
    count += lines.length;
    if (count >= limit) break;
  }
  return picked.flat();
}

/**
 * Follows the live files from their current end: polls their size, reads what was appended, and after a rotation
 * (the file shrank) first reads the rest of what was copied to `.1`. Ends when the signal aborts.
 */
export async function* followLogFiles(
  moduleDir: string,
  signal: AbortSignal,
  pollMs: number,
): AsyncGenerator<LogLine, void, undefined> {
  const state = new Map<LogStream, { offset: number; partial: string }>();
  for (const stream of LOG_STREAMS) {
    state.set(stream, { offset: (await sizeOf(logFile(moduleDir, stream))) ?? 0, partial: '' });
  }
  while (!signal.aborted) {
    const lines: LogLine[] = [];
    for (const stream of LOG_STREAMS) {
      const s = state.get(stream);
      if (!s) continue;
      const live = logFile(moduleDir, stream);
      const size = (await sizeOf(live)) ?? 0;
      if (size < s.offset) {
        const rotated = logFile(moduleDir, stream, 1);
        s.partial += await readRange(rotated, s.offset, null);
        s.offset = 0;
      }
      if (size > s.offset) {
        s.partial += await readRange(live, s.offset, size);
        s.offset = size;
      }
      const parts = s.partial.split('\n');
      s.partial = parts.pop() ?? '';
      for (const part of parts) lines.push(toLogLine(stream, part));
    }
    for (const line of lines) yield line;
    if (lines.length === 0) await delay(pollMs, signal);
  }
}

async function readRange(path: string, from: number, to: number | null): Promise<string> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (err) {
    ignoreMissing(err);
    return '';
  }
  try {
    const end = to ?? (await file.stat()).size;
    if (end <= from) return '';
    const buffer = Buffer.alloc(end - from);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await file.close();
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
