import { z } from 'zod';
import type { MessageDef } from './catalog.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { messageCatalog } from './message-catalog.js';
import { type SubjectDef, type SubjectRole, subjectMap } from './subjects.js';

/*
 * The README's tables, rendered from the code so they cannot drift: `pnpm --filter @outpost/protocol readme` writes
 * them between the README's markers (and lets biome align them), and a test fails when the README's tables differ from
 * what this renders, cell padding aside. Not exported from the package index: documentation, not API.
 */

const SIDE: Record<SubjectRole, string> = {
  agent: 'device',
  'enrolling-agent': 'device',
  'cloud-api': 'cloud',
  portal: 'portal',
  module: 'module',
  'child-device': 'child device',
};

function displayPattern(row: SubjectDef): string {
  const pattern = row.pattern.replace(/\{([A-Za-z]+)\}/g, '<$1>');
  return row.propertyTokens ? `${pattern}[.<key>=<value>…]` : pattern;
}

function messageName(def: MessageDef): string {
  return `\`${def.type}\` ${def.version}`;
}

function payloadOf(row: SubjectDef): string {
  if (row.message === null) return row.payload ?? '';
  if (row.replies) return `reply: ${messageName(row.message)} or \`error\``;
  if (row.reply) {
    const to = (row.replyTo ?? '').replace(/\{([A-Za-z]+)\}/g, '<$1>');
    const where = /\s/.test(to) ? to : `\`${to}\``;
    return `${messageName(row.message)} → reply ${messageName(row.reply)} to ${where}`;
  }
  return messageName(row.message);
}

function directionOf(row: SubjectDef): string {
  // On the device hub every party is on the device, so the roles themselves say more than "device".
  const side = (role: SubjectRole) => (row.server === 'device-hub' ? role : SIDE[role]);
  const from = [...new Set(row.publish.map(side))].join(', ');
  const to = [...new Set(row.subscribe.map(side))].join(', ');
  return `${from} → ${to}`;
}

function roles(list: readonly SubjectRole[], row: SubjectDef): string {
  return list.map((role) => (role === 'cloud-api' && row.queueGroup ? 'cloud-api (queue group)' : role)).join(', ');
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function subjectTableMarkdown(): string {
  const rows = (Object.values(subjectMap) as SubjectDef[]).map((row) => [
    `\`${displayPattern(row)}\``,
    row.server,
    directionOf(row),
    payloadOf(row),
    roles(row.publish, row),
    roles(row.subscribe, row),
    row.about,
  ]);
  return table(['subject', 'server', 'direction', 'payload', 'may publish', 'may subscribe', 'when / why'], rows);
}

function fieldsOf(schema: z.ZodType): string {
  if (schema instanceof z.ZodObject) {
    return Object.entries(schema.shape as Record<string, z.ZodType>)
      .map(([key, field]) => (field.isOptional() ? `${key}?` : key))
      .join(', ');
  }
  if (schema instanceof z.ZodDiscriminatedUnion || schema instanceof z.ZodUnion) {
    return (schema.options as z.ZodType[]).map((option) => `{ ${fieldsOf(option)} }`).join(' or ');
  }
  if (schema instanceof z.ZodPipe) return fieldsOf(schema.in as z.ZodType);
  return '';
}

export function messageTableMarkdown(): string {
  const subjectsCarrying = (def: MessageDef) =>
    (Object.values(subjectMap) as SubjectDef[])
      .filter((row) => row.message === def || row.reply === def)
      .map((row) => `\`${displayPattern(row)}\``)
      .join(', ');
  const rows = messageCatalog.map((def) => [
    `\`${def.type}\``,
    def.version,
    fieldsOf(def.schema),
    subjectsCarrying(def) || 'every request/reply subject',
  ]);
  return table(['type', 'v', 'data fields (? = optional)', 'subjects'], rows);
}

export function errorCodeTableMarkdown(): string {
  const rows = (Object.entries(ERROR_CODES) as [ErrorCode, (typeof ERROR_CODES)[ErrorCode]][]).map(([code, info]) => [
    `\`${code}\``,
    String(info.httpStatus),
    info.description,
  ]);
  return table(['code', 'HTTP', 'meaning'], rows);
}

/** The README's generated sections, by marker name. */
export const README_SECTIONS: Readonly<Record<string, () => string>> = {
  subjects: subjectTableMarkdown,
  messages: messageTableMarkdown,
  'error-codes': errorCodeTableMarkdown,
};

/** Replaces the text between `<!-- <name>:start -->` and `<!-- <name>:end -->` with each section's table. */
export function renderReadme(readme: string): string {
  let text = readme;
  for (const [name, render] of Object.entries(README_SECTIONS)) {
    const start = `<!-- ${name}:start -->`;
    const end = `<!-- ${name}:end -->`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README has no ${start} … ${end} section`);
    text = `${text.slice(0, from + start.length)}\n${render()}\n${text.slice(to)}`;
  }
  return text;
}

/** A markdown table row without its alignment padding, so a formatter's column alignment does not count as a change. */
function normalizeRow(line: string): string {
  const cells = line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
  const isDelimiter = cells.every((cell) => /^:?-+:?$/.test(cell));
  return `| ${cells.map((cell) => (isDelimiter ? '---' : cell)).join(' | ')} |`;
}

/** The text with every table row's padding removed. */
export function normalizeTables(markdown: string): string {
  return markdown
    .split('\n')
    .map((line) => (line.startsWith('|') && line.endsWith('|') ? normalizeRow(line) : line))
    .join('\n');
}
