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
    if (keep < 1) {
      await truncate(live, 0);
      rotated = true;
      continue;
    }
    // The new `.1` appears only once the live file is truncated: a follower that sees it may read the live file
    // from the start without reading the copied lines twice.
    const copy = `${live}.rotating`;
    await copyFile(live, copy);
    await truncate(live, 0);
    await rm(logFile(moduleDir, stream, keep), { force: true });
    for (let generation = keep - 1; generation >= 1; generation--) {
      await rename(logFile(moduleDir, stream, generation), logFile(moduleDir, stream, generation + 1)).catch(
        ignoreMissing,
      );
    }
    await rename(copy, logFile(moduleDir, stream, 1));
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
 * Follows the live files from their current end: polls them, reads what was appended, and after a rotation (a new
 * `.1`, told by its inode) first reads the rest of what was copied to `.1`. Lines of a
 * rotation that happens twice between two polls may be missed. Ends when the signal aborts.
 */
export async function* followLogFiles(
  moduleDir: string,
  keep: number,
  signal: AbortSignal,
  pollMs: number,
): AsyncGenerator<LogLine, void, undefined> {
  const state = new Map<LogStream, { offset: number; partial: Buffer; rotatedIno: number | null }>();
  for (const stream of LOG_STREAMS) {
    state.set(stream, {
      offset: (await sizeOf(logFile(moduleDir, stream))) ?? 0,
      partial: Buffer.alloc(0),
      rotatedIno: await inodeOf(logFile(moduleDir, stream, 1)),
    });
  }
  while (!signal.aborted) {
    const lines: LogLine[] = [];
    for (const stream of LOG_STREAMS) {
      const s = state.get(stream);
      if (!s) continue;
      const live = logFile(moduleDir, stream);
      const rotatedIno = await inodeOf(logFile(moduleDir, stream, 1));
      if (rotatedIno !== null && rotatedIno !== s.rotatedIno) {
        s.partial = Buffer.concat([s.partial, await readFrom(logFile(moduleDir, stream, 1), s.offset)]);
        s.offset = 0;
        s.rotatedIno = rotatedIno;
      }
      const size = (await sizeOf(live)) ?? 0;
      if (size < s.offset) {
        // Truncated: with rotated files kept, the new `.1` is about to appear (read it next time); without, start over.
        if (keep > 0) continue;
        s.offset = 0;
      }
      // Advance by what was read, not by the size seen: the file may be truncated in between.
      const appended = await readFrom(live, s.offset);
      s.offset += appended.length;
      let data = Buffer.concat([s.partial, appended]);
      for (let newline = data.indexOf(0x0a); newline !== -1; newline = data.indexOf(0x0a)) {
        lines.push(toLogLine(stream, data.subarray(0, newline).toString('utf8')));
        data = data.subarray(newline + 1);
      }
      s.partial = Buffer.from(data);
    }
    for (const line of lines) {
      if (signal.aborted) return;
      yield line;
    }
    if (lines.length === 0) await delay(pollMs, signal);
  }
}

async function inodeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino;
  } catch (err) {
    ignoreMissing(err);
    return null;
  }
}

/** What the file holds from `from` to its end now (at most 1 MiB at a time). */
async function readFrom(path: string, from: number): Promise<Buffer> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (err) {
    ignoreMissing(err);
    return Buffer.alloc(0);
  }
  try {
    const size = (await file.stat()).size;
    if (size <= from) return Buffer.alloc(0);
    const buffer = Buffer.alloc(Math.min(size - from, 1024 * 1024));
    const { bytesRead } = await file.read(buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead);
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
