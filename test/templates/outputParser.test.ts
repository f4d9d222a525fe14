// Output parsing: reasoning, answer text and Qwen3.5 XML tool calls, whole and streamed in
// arbitrary chunks (tags split across chunks), with the template's whitespace around tags removed.
import { describe, expect, it } from 'vitest';
import { ChatOutputParser, parseChatOutput, type OutputEvent } from '../../src/templates/outputParser.js';
import { parseToolCallXml } from '../../src/templates/toolCallXml.js';
import type { ToolDefinition } from '../../src/templates/types.js';

const TOOLS: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, days: { type: 'integer' }, zip: { type: 'string' }, metric: { type: 'boolean' } },
      },
    },
  },
];

const THINKING_OUTPUT =
  'The user wants the weather.\nI will call the tool.\n</think>\n\nLet me check.\n\n' +
  '<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n<parameter=days>\n2\n</parameter>\n' +
  '<parameter=zip>\n0150\n</parameter>\n<parameter=metric>\nTrue\n</parameter>\n</function>\n</tool_call>\n' +
  '<tool_call>\n<function=get_weather>\n<parameter=city>\nNew\nYork\n</parameter>\n<parameter=extra>\n{"a": [1, 2]}\n</parameter>\n</function>\n</tool_call>';

const EXPECTED = {
  reasoning: 'The user wants the weather.\nI will call the tool.',
  content: 'Let me check.',
  toolCalls: [
    { name: 'get_weather', arguments: { city: 'Oslo', days: 2, zip: '0150', metric: true } },
    { name: 'get_weather', arguments: { city: 'New\nYork', extra: { a: [1, 2] } } },
  ],
};

/** Feeds `text` in pieces of `size` characters and collects every event. */
function streamed(text: string, size: number, startInReasoning: boolean): { events: OutputEvent[]; parser: ChatOutputParser } {
  const parser = new ChatOutputParser({ startInReasoning, tools: TOOLS });
  const events: OutputEvent[] = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
  events.push(...parser.finish());
  return { events, parser };
}

describe('ChatOutputParser', () => {
  it('splits reasoning, text and typed tool calls', () => {
    expect(parseChatOutput(THINKING_OUTPUT, { startInReasoning: true, tools: TOOLS })).toEqual(EXPECTED);
  });

  it('gives the same result for every chunking, tags split across chunks', () => {
    for (const size of [1, 2, 3, 5, 7, 11, 64]) {
      const { events, parser } = streamed(THINKING_OUTPUT, size, true);
      expect(parser.result, `chunk ${size}`).toEqual(EXPECTED);
      const text = (type: string) => events.flatMap((e) => (e.type === type && 'text' in e ? [e.text] : [])).join('');
      expect(text('reasoning')).toBe(EXPECTED.reasoning);
      expect(text('content')).toBe(EXPECTED.content);
      expect(events.filter((e) => e.type === 'toolCall')).toHaveLength(2);
      // No event carries part of a tag.
      for (const e of events) if ('text' in e) expect(e.text).not.toMatch(/<\/?(think|tool_call)/);
    }
  });

  it('thinking off: plain answer; a leading <think> block is still recognised', () => {
    expect(parseChatOutput('Hello there.\n')).toEqual({ content: 'Hello there.', reasoning: '', toolCalls: [] });
    expect(parseChatOutput('<think>\nhmm\n</think>\n\nHi')).toEqual({ content: 'Hi', reasoning: 'hmm', toolCalls: [] });
    // After the answer has started, tags other than tool calls are just text.
    expect(parseChatOutput('Use <think> tags.').content).toBe('Use <think> tags.');
  });

  it('keeps whitespace inside text, and text that only looks like a tag', () => {
    const out = parseChatOutput('a  b\n\nc <tool_ x </think', { startInReasoning: false });
    expect(out.content).toBe('a  b\n\nc <tool_ x </think');
  });

  it('reasoning cut off by the token limit stays reasoning; an unfinished call stays text', () => {
    expect(parseChatOutput('still thinking', { startInReasoning: true })).toEqual({ content: '', reasoning: 'still thinking', toolCalls: [] });
    const cut = parseChatOutput('ok <tool_call>\n<function=f>\n<parameter=x>\n1');
    expect(cut.toolCalls).toEqual([]);
    expect(cut.content).toBe('ok <tool_call>\n<function=f>\n<parameter=x>\n1');
    // Complete up to </function>: the call counts.
    expect(parseChatOutput('<tool_call>\n<function=f>\n</function>\n').toolCalls).toEqual([{ name: 'f', arguments: {} }]);
  });
});

describe('parseToolCallXml', () => {
  it('types values by schema, else by JSON', () => {
    expect(parseToolCallXml('\n<function=f>\n<parameter=n>\n42\n</parameter>\n<parameter=s>\nhello\n</parameter>\n</function>\n')).toEqual({
      name: 'f',
      arguments: { n: 42, s: 'hello' },
    });
    expect(parseToolCallXml('<function=get_weather>\n<parameter=zip>\n007\n</parameter>\n</function>', TOOLS)).toEqual({
      name: 'get_weather',
      arguments: { zip: '007' },
    });
    expect(parseToolCallXml('no function here')).toBeUndefined();
  });
});
