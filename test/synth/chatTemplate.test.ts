// The embedded Qwen3.5 chat template is intact: it renders the documented turn format.
import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { QWEN35_CHAT_TEMPLATE } from '../../src/templates/qwen35Template.js';

describe('Qwen3.5 chat template', () => {
  const render = (vars: Record<string, unknown>) => new Template(QWEN35_CHAT_TEMPLATE).render(vars);

  it('renders turns and the thinking generation prompt', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is a petrel?' },
    ];
    expect(render({ messages, add_generation_prompt: true })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is a petrel?<|im_end|>\n<|im_start|>assistant\n<think>\n',
    );
    expect(render({ messages, add_generation_prompt: true, enable_thinking: false })).toMatch(
      /<\|im_start\|>assistant\n<think>\n\n<\/think>\n\n$/,
    );
  });

  it('renders tool calls in the XML format', () => {
    const text = render({
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Oslo' } } }] },
        { role: 'tool', content: 'rain' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }],
    });
    expect(text).toContain('# Tools\n\nYou have access to the following functions:\n\n<tools>');
    expect(text).toContain('<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>');
    expect(text).toContain('<|im_start|>user\n<tool_response>\nrain\n</tool_response><|im_end|>\n');
  });
});
