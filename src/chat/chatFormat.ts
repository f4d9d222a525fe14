// How a conversation becomes tokens: the model's chat template (renderChat) plus the tokenizer.
// Multi-turn reuse needs the text of one new turn on its own, so it is derived from the template
// rather than hand-written: the assistant turn's closing ("<|im_end|>\n" in ChatML) is what the
// template puts after an assistant message, and a user turn with its generation prompt is the
// template's rendering of that user message alone (true of ChatML templates, Qwen3 and Qwen3.5,
// where a turn renders the same wherever it stands).
import { eosTokenText, promptEndsInReasoning } from '../generate/chatPrompt.js';
import { chatTemplateOrDefault, renderChat, type ChatMessage } from '../templates/index.js';
import type { Tokenizer } from '../tokenizer/index.js';

export interface RenderedTurn {
  text: string;
  tokens: number[];
  /** The text ends inside an open <think> (the answer starts as reasoning). */
  startsInReasoning: boolean;
}

export class ChatFormat {
  readonly tokenizer: Tokenizer;
  readonly template: string;
  readonly #eos: string;
  /** What the template writes after an assistant message's content (ChatML: "<|im_end|>\n"). */
  readonly assistantClose: string;

  constructor(tokenizer: Tokenizer) {
    this.tokenizer = tokenizer;
    this.template = chatTemplateOrDefault(tokenizer.vocabulary.chatTemplate);
    this.#eos = eosTokenText(tokenizer);
    this.assistantClose = this.#deriveAssistantClose();
  }

  /** The whole conversation from the start (first turn, or a rebuild after dropping turns). */
  conversation(system: string | undefined, messages: ChatMessage[], thinking: boolean): RenderedTurn {
    const all = [...(system ? [{ role: 'system' as const, content: system }] : []), ...messages];
    return this.#turn(this.#render(all, true, thinking), true);
  }

  /**
   * The tokens every rendering from the start begins with when it has this system prompt: the
   * system message as the template writes it (found as what the system prompt adds in front of a
   * conversation), or [] when the template does not write it as a separate prefix. Callers still
   * check that a rendering starts with these tokens before they rely on it.
   */
  systemPrefix(system: string): number[] {
    const cached = this.#systemPrefix;
    if (cached?.system === system) return cached.tokens;
    const probe: ChatMessage = { role: 'user', content: 'PETREL_PROBE' };
    const withSystem = this.#render([{ role: 'system', content: system }, probe], false, false);
    const without = this.#render([probe], false, false);
    const tokens =
      withSystem.length > without.length && withSystem.endsWith(without)
        ? this.tokenizer.encode(withSystem.slice(0, withSystem.length - without.length), { parseSpecial: true, addBos: true })
        : [];
    this.#systemPrefix = { system, tokens };
    return tokens;
  }

  #systemPrefix: { system: string; tokens: number[] } | undefined;

  /** A user turn appended after an assistant answer the session holds (not yet closed). */
  nextTurn(user: string, thinking: boolean): RenderedTurn {
    return this.#turn(this.assistantClose + this.#render([{ role: 'user', content: user }], true, thinking), false);
  }

  #turn(text: string, first: boolean): RenderedTurn {
    return { text, tokens: this.tokenizer.encode(text, { parseSpecial: true, addBos: first }), startsInReasoning: promptEndsInReasoning(text) };
  }

  #render(messages: ChatMessage[], addGenerationPrompt: boolean, thinking: boolean): string {
    return renderChat(this.template, { messages, addGenerationPrompt, enableThinking: thinking, eosToken: this.#eos });
  }

  #deriveAssistantClose(): string {
    const marker = 'PETREL_ANSWER_MARKER';
    const text = this.#render(
      [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: marker },
      ],
      false,
      false,
    );
    const at = text.lastIndexOf(marker);
    const close = at >= 0 ? text.slice(at + marker.length) : '';
    // A template that writes nothing after an answer would fuse turns; ChatML's closing is the safe guess.
    return close !== '' ? close : '<|im_end|>\n';
  }
}
