// Renders a chat prompt with the model's Jinja chat template (tokenizer.chat_template), through
// @huggingface/jinja, falling back to the built-in Qwen3.5 template when the file has none.
// Variables follow transformers' apply_chat_template: messages, tools, add_generation_prompt,
// enable_thinking, bos_token/eos_token.
import { Template } from '@huggingface/jinja';
import { UserError } from '../errors.js';
import { QWEN35_CHAT_TEMPLATE } from './qwen35Template.js';
import type { ChatMessage, ToolDefinition } from './types.js';

export interface RenderOptions {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  /** End with the assistant turn's opening so the model answers next (default true). */
  addGenerationPrompt?: boolean;
  /** Qwen3.5: false renders an empty <think></think>; undefined leaves the template's default (on). */
  enableThinking?: boolean;
  bosToken?: string;
  eosToken?: string;
}

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (err) {
      throw new UserError(`the model's chat template does not parse: ${(err as Error).message}`, 'ERR_USER_TEMPLATE', { cause: err });
    }
    compiled.set(source, t);
  }
  return t;
}

/** The template to use: the file's own, else Qwen3.5's. */
export function chatTemplateOrDefault(fileTemplate: string | undefined): string {
  return fileTemplate && fileTemplate.trim() !== '' ? fileTemplate : QWEN35_CHAT_TEMPLATE;
}

/** Messages in the shape HF templates read (reasoning_content, tool_calls[].function). */
export function toTemplateMessages(messages: ChatMessage[]): Array<Record<string, unknown>> {
  return messages.map((m) => {
    const out: Record<string, unknown> = { role: m.role, content: m.content };
    if (m.reasoning !== undefined) out.reasoning_content = m.reasoning;
    if (m.toolCalls && m.toolCalls.length > 0) {
      out.tool_calls = m.toolCalls.map((c) => ({ type: 'function', function: { name: c.name, arguments: c.arguments } }));
    }
    return out;
  });
}

export function renderChat(template: string, options: RenderOptions): string {
  const vars: Record<string, unknown> = {
    messages: toTemplateMessages(options.messages),
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  if (options.tools && options.tools.length > 0) vars.tools = options.tools;
  if (options.enableThinking !== undefined) vars.enable_thinking = options.enableThinking;
  try {
    return compile(template).render(vars);
  } catch (err) {
    // raise_exception() in a template is the template telling the user what is wrong.
    throw new UserError(`chat template: ${(err as Error).message}`, 'ERR_USER_TEMPLATE', { cause: err });
  }
}
