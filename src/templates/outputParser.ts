// Splits a model's streamed output into reasoning (<think>…</think>), answer text and tool calls,
// as text arrives (token by token). Tags are matched in the text, so the parser works whether the
// tags came as added tokens or were spelled out; a tail that could still become a tag is held back
// until the next chunk decides it. Whitespace the template puts around tags (the newline before
// </think>, the blank line after it, the blank line before <tool_call>) is not part of the text.
import { parseToolCallXml } from './toolCallXml.js';
import type { ToolCall, ToolDefinition } from './types.js';

export type OutputEvent =
  | { type: 'reasoning'; text: string }
  | { type: 'content'; text: string }
  | { type: 'toolCall'; call: ToolCall; raw: string };

export interface ParsedOutput {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
}

export interface OutputParserOptions {
  /** The prompt ended inside <think> (Qwen3.5's generation prompt with thinking on). */
  startInReasoning?: boolean;
  /** Tool definitions, used to type parameter values. */
  tools?: readonly ToolDefinition[];
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';
const CALL_OPEN = '<tool_call>';
const CALL_CLOSE = '</tool_call>';

type Mode = 'reasoning' | 'content' | 'toolCall';

export class ChatOutputParser {
  readonly #tools: readonly ToolDefinition[];
  #mode: Mode;
  #buffer = '';
  /** Trailing whitespace held back: dropped if a tag follows, emitted if text does. */
  #pendingSpace = '';
  /** Nothing emitted in this mode yet: leading whitespace is dropped. */
  #atStart = true;
  /** Whether any content has been produced (a <think> is only honoured before that). */
  #sawContent = false;
  /** Whitespace dropped before the current <tool_call>, restored if the call never completes. */
  #callSpace = '';
  readonly result: ParsedOutput = { content: '', reasoning: '', toolCalls: [] };

  constructor(options: OutputParserOptions = {}) {
    this.#tools = options.tools ?? [];
    this.#mode = options.startInReasoning ? 'reasoning' : 'content';
  }

  push(text: string): OutputEvent[] {
    this.#buffer += text;
    const events: OutputEvent[] = [];
    this.#drain(events, false);
    return events;
  }

  /** Ends the stream: held-back text is released, an unfinished tool call stays text. */
  finish(): OutputEvent[] {
    const events: OutputEvent[] = [];
    this.#drain(events, true);
    if (this.#mode === 'toolCall') {
      // Cut off before </tool_call>: still a call if the function block is complete.
      const raw = CALL_OPEN + this.#buffer;
      const call = /<\/function>/.test(this.#buffer) ? parseToolCallXml(this.#buffer, this.#tools) : undefined;
      if (call) {
        this.#emitCall(events, call, raw);
      } else {
        this.#atStart = !this.#sawContent;
        this.#pendingSpace = this.#sawContent ? this.#callSpace : '';
        this.#emitText(events, 'content', raw, true);
      }
    } else if (this.#buffer) {
      this.#emitText(events, this.#mode, this.#buffer, true);
    }
    this.#buffer = '';
    return events;
  }

  #drain(events: OutputEvent[], final: boolean): void {
    for (;;) {
      if (this.#mode === 'toolCall') {
        const end = this.#buffer.indexOf(CALL_CLOSE);
        if (end < 0) return;
        const body = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + CALL_CLOSE.length);
        const call = parseToolCallXml(body, this.#tools);
        if (call) this.#emitCall(events, call, CALL_OPEN + body + CALL_CLOSE);
        else this.#emitText(events, 'content', CALL_OPEN + body + CALL_CLOSE, false);
        this.#switch('content');
        continue;
      }
      const tags = this.#mode === 'reasoning' ? [THINK_CLOSE] : this.#thinkAllowed() ? [CALL_OPEN, THINK_OPEN] : [CALL_OPEN];
      const hit = firstTag(this.#buffer, tags);
      if (!hit) {
        // Keep a tail that may be the start of a tag; emit the rest.
        const keep = final ? 0 : partialTagLength(this.#buffer, tags);
        const text = this.#buffer.slice(0, this.#buffer.length - keep);
        this.#buffer = this.#buffer.slice(this.#buffer.length - keep);
        if (text) this.#emitText(events, this.#mode, text, false);
        return;
      }
      const before = this.#buffer.slice(0, hit.at);
      this.#buffer = this.#buffer.slice(hit.at + hit.tag.length);
      if (before) this.#emitText(events, this.#mode, before, false);
      this.#callSpace = this.#pendingSpace;
      this.#pendingSpace = '';
      if (hit.tag === THINK_CLOSE) this.#switch('content');
      else if (hit.tag === THINK_OPEN) this.#switch('reasoning');
      else this.#switch('toolCall');
    }
  }

  /** A <think> opens reasoning only as the very first thing of the answer. */
  #thinkAllowed(): boolean {
    if (this.#sawContent) return false;
    const head = this.#buffer.trimStart();
    return head.startsWith(THINK_OPEN) || THINK_OPEN.startsWith(head);
  }

  #switch(mode: Mode): void {
    this.#mode = mode;
    this.#atStart = true;
    this.#pendingSpace = '';
  }

  #emitText(events: OutputEvent[], mode: Mode, text: string, final: boolean): void {
    let t = text;
    if (this.#atStart) t = t.replace(/^\s+/, '');
    // At the end of the stream trailing whitespace is not part of the answer (the template trims it too).
    if (final) t = t.replace(/\s+$/, '');
    // Otherwise hold it back until we know whether a tag (drop it) or more text (emit it) follows.
    const trail = final ? '' : (/\s+$/.exec(t)?.[0] ?? '');
    t = t.slice(0, t.length - trail.length);
    if (!t) {
      this.#pendingSpace += trail;
      return;
    }
    t = this.#pendingSpace + t;
    this.#pendingSpace = trail;
    this.#atStart = false;
    if (mode === 'reasoning') {
      this.result.reasoning += t;
      events.push({ type: 'reasoning', text: t });
    } else {
      this.#sawContent = true;
      this.result.content += t;
      events.push({ type: 'content', text: t });
    }
  }

  #emitCall(events: OutputEvent[], call: ToolCall, raw: string): void {
    this.#sawContent = true;
    this.result.toolCalls.push(call);
    events.push({ type: 'toolCall', call, raw });
  }
}

function firstTag(text: string, tags: readonly string[]): { at: number; tag: string } | undefined {
  let best: { at: number; tag: string } | undefined;
  for (const tag of tags) {
    const at = text.indexOf(tag);
    if (at >= 0 && (!best || at < best.at)) best = { at, tag };
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of one of `tags`. */
function partialTagLength(text: string, tags: readonly string[]): number {
  let keep = 0;
  for (const tag of tags) {
    for (let n = Math.min(tag.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(tag.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

/** Parses a whole output at once. */
export function parseChatOutput(text: string, options: OutputParserOptions = {}): ParsedOutput {
  const parser = new ChatOutputParser(options);
  parser.push(text);
  parser.finish();
  return parser.result;
}
