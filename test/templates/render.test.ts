// The rendered Qwen3.5 prompt equals the reference rendering (Python jinja2 with transformers'
// apply_chat_template settings, fixtures/qwen35-reference.json from fixtures/render_reference.py)
// for conversations with system, user, assistant (with reasoning), tool call and tool result
// messages, with thinking on and off.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chatTemplateOrDefault, renderChat, toTemplateMessages } from '../../src/templates/render.js';
import { QWEN35_CHAT_TEMPLATE } from '../../src/templates/qwen35Template.js';
import type { ChatMessage, ToolDefinition } from '../../src/templates/types.js';

interface Case {
  name: string;
  messages: Array<Record<string, unknown>>;
  tools?: ToolDefinition[];
  add_generation_prompt: boolean;
}

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const CASES = JSON.parse(readFileSync(fixture('conversations.json'), 'utf8')) as Case[];
const REFERENCE = JSON.parse(readFileSync(fixture('qwen35-reference.json'), 'utf8')) as Record<string, string>;

/** The fixture's HF-shaped messages as petrel ChatMessages (the inverse of toTemplateMessages). */
function fromFixture(m: Record<string, unknown>): ChatMessage {
  const calls = m.tool_calls as Array<{ function: { name: string; arguments: Record<string, unknown> } }> | undefined;
  return {
    role: m.role as ChatMessage['role'],
    content: m.content as string,
    ...(typeof m.reasoning_content === 'string' ? { reasoning: m.reasoning_content } : {}),
    ...(calls ? { toolCalls: calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })) } : {}),
  };
}

describe('Qwen3.5 template rendering equals the jinja2 reference', () => {
  it('fixtures cover both thinking modes of every conversation', () => {
    expect(Object.keys(REFERENCE)).toHaveLength(CASES.length * 2);
  });

  for (const c of CASES) {
    for (const thinking of [true, false]) {
      const key = `${c.name} / thinking ${thinking ? 'on' : 'off'}`;
      it(key, () => {
        const messages = c.messages.map(fromFixture);
        expect(toTemplateMessages(messages)).toEqual(c.messages);
        const text = renderChat(QWEN35_CHAT_TEMPLATE, {
          messages,
          ...(c.tools ? { tools: c.tools } : {}),
          addGenerationPrompt: c.add_generation_prompt,
          enableThinking: thinking,
          eosToken: '<|im_end|>',
        });
        expect(text).toBe(REFERENCE[key]);
      });
    }
  }

  it('renders the documented pieces (special tokens visible)', () => {
    const agentic = REFERENCE['agentic turn with reasoning, tool calls and results / thinking off']!;
    expect(agentic).toContain(
      '<|im_start|>assistant\n<think>\nI should call the weather tool twice.\n</think>\n\nLet me check both cities.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n',
    );
    expect(agentic).toContain('<parameter=options>\n{"hourly": [6, 12, 18]}\n</parameter>');
    expect(agentic).toContain('<|im_start|>user\n<tool_response>\n{"temp": 4, "sky": "rain"}\n</tool_response>\n<tool_response>\n');
    expect(agentic.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    // Reasoning before the last user query is dropped.
    expect(agentic).toContain('<|im_start|>assistant\nHello! How can I help?<|im_end|>');
  });

  it('template errors are one-line user errors; a file without a template gets Qwen3.5\'s', () => {
    expect(() => renderChat(QWEN35_CHAT_TEMPLATE, { messages: [] })).toThrow(/chat template: No messages provided/);
    expect(() => renderChat('{% if %}', { messages: [{ role: 'user', content: 'x' }] })).toThrow(/does not parse/);
    expect(chatTemplateOrDefault(undefined)).toBe(QWEN35_CHAT_TEMPLATE);
    expect(chatTemplateOrDefault('{{ 1 }}')).toBe('{{ 1 }}');
  });
});
