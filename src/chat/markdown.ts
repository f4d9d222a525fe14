// A small Markdown renderer for answers on a terminal: headings, emphasis, inline code, fenced code
// blocks, lists, quotes, rules and links become styled text (through a Theme, so NO_COLOR gives
// plain text). It works line by line on whatever has streamed in so far: an unclosed code fence
// simply runs to the end, and emphasis still being typed stays as written until it closes.
// Not a CommonMark implementation; answers use a small, regular subset.
import type { Theme } from './theme.js';

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

export function renderMarkdown(source: string, theme: Theme): string {
  const out: string[] = [];
  let fence: { marker: string; indent: number } | undefined;
  for (const line of source.split('\n')) {
    if (fence) {
      const close = FENCE.exec(line);
      if (close && close[2]!.startsWith(fence.marker) && close[3] === '' && line.trim() === close[2]) {
        fence = undefined;
        continue;
      }
      out.push(theme.dim('  │ ') + theme.code(line.slice(Math.min(fence.indent, leadingSpaces(line)))));
      continue;
    }
    const open = FENCE.exec(line);
    if (open) {
      fence = { marker: open[2]!, indent: open[1]!.length };
      out.push(theme.dim(open[3] ? `  ┌ ${open[3]}` : '  ┌'));
      continue;
    }
    out.push(renderLine(line, theme));
  }
  return out.join('\n');
}

function renderLine(line: string, theme: Theme): string {
  const heading = HEADING.exec(line);
  if (heading) {
    const text = inline(heading[2]!, theme);
    if (!theme.color) return `${heading[1]} ${text}`;
    return heading[1]!.length <= 2 ? theme.underline(theme.heading(text)) : theme.heading(text);
  }
  if (RULE.test(line)) return theme.dim('─'.repeat(40));
  const quote = QUOTE.exec(line);
  if (quote) return theme.dim('│ ') + theme.italic(inline(quote[1]!, theme));
  const item = LIST.exec(line);
  if (item) {
    const [, indent, marker, rest] = item;
    const task = /^\[([ xX])\]\s+(.*)$/.exec(rest!);
    const bullet = /^\d/.test(marker!) ? marker! : '•';
    const body = task ? `${task[1] === ' ' ? '☐' : '☑'} ${inline(task[2]!, theme)}` : inline(rest!, theme);
    return `${indent}${theme.accent(bullet)} ${body}`;
  }
  if (line.includes('|') && TABLE_SEPARATOR.test(line)) return theme.dim(line);
  return inline(line, theme);
}

/** Inline spans: code first (its content is literal), then links, bold, italic, strikethrough. */
export function inline(text: string, theme: Theme): string {
  if (!theme.color) return text;
  return text
    .split(/(`+)([^`]|[^`].*?[^`])\1(?!`)/)
    .map((part, i) => {
      // split() with two groups yields [text, ticks, code, text, ticks, code, …].
      if (i % 3 === 1) return '';
      if (i % 3 === 2) return theme.code(part);
      return spans(part, theme);
    })
    .join('');
}

function spans(text: string, theme: Theme): string {
  return text
    .replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (_, label: string, url: string) => `${theme.underline(label)}${theme.dim(` (${url})`)}`)
    .replace(/\*\*(?=\S)(.+?)(?<=\S)\*\*/g, (_, t: string) => theme.bold(t))
    .replace(/(^|[^\w])__(?=\S)(.+?)(?<=\S)__(?!\w)/g, (_, pre: string, t: string) => pre + theme.bold(t))
    .replace(/(^|[^*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)/g, (_, pre: string, t: string) => pre + theme.italic(t))
    .replace(/(^|[^\w])_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)/g, (_, pre: string, t: string) => pre + theme.italic(t))
    .replace(/~~(?=\S)(.+?)(?<=\S)~~/g, (_, t: string) => theme.strike(t));
}

function leadingSpaces(line: string): number {
  return line.length - line.trimStart().length;
}
