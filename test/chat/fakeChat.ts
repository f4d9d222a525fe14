// A scripted ChatBackend for the UI tests: answers stream as given, with a pause between events,
// and an answer can be made to run until it is aborted (to test Ctrl-C).
import type { OutputEvent } from '../../src/templates/index.js';
import type { AskHandlers, AskResult, ChatBackend, ChatNotice, ChatStatus } from '../../src/chat/types.js';

export interface ScriptedAnswer {
  events: OutputEvent[];
  notices?: ChatNotice[];
  /** Keep streaming filler until aborted. */
  untilAborted?: boolean;
}

export class FakeChat implements ChatBackend {
  readonly asked: string[] = [];
  readonly answers: ScriptedAnswer[] = [];
  system: string | undefined;
  thinking = true;
  used = 0;
  lastTurn: ChatStatus['lastTurn'];
  stepMs = 5;

  async ask(text: string, h: AskHandlers): Promise<AskResult> {
    this.asked.push(text);
    const script = this.answers.shift() ?? { events: [{ type: 'content', text: 'ok' }] };
    for (const n of script.notices ?? []) h.onNotice?.(n);
    let generated = 0;
    const sleep = () => new Promise((r) => setTimeout(r, this.stepMs));
    for (const e of script.events) {
      if (h.signal?.aborted) break;
      await sleep();
      h.onEvent?.(e);
      generated++;
    }
    while (script.untilAborted && !h.signal?.aborted) {
      await sleep();
      h.onEvent?.({ type: 'content', text: '.' });
      generated++;
    }
    this.used += 10 + generated;
    const finishReason = h.signal?.aborted ? 'aborted' : 'stop';
    this.lastTurn = { promptTokens: 10, prefillMs: 10, generatedTokens: generated, generateMs: 100, finishReason };
    const text_ = script.events.flatMap((e) => (e.type === 'content' ? [e.text] : [])).join('');
    const reasoning = script.events.flatMap((e) => (e.type === 'reasoning' ? [e.text] : [])).join('');
    return { text: text_, reasoning, finishReason, stats: this.lastTurn };
  }

  status(): ChatStatus {
    return {
      modelName: 'fake-model',
      contextUsed: this.used,
      contextLength: 1000,
      contextRoom: 750,
      thinking: this.thinking,
      turns: this.asked.length,
      rssBytes: 100 * 1024 * 1024,
      ...(this.lastTurn ? { lastTurn: this.lastTurn } : {}),
      totals: { tokensPrefilled: 0, tokensDecoded: 0 },
    };
  }

  setSystem(text: string | undefined): void {
    this.system = text;
  }
  setThinking(on: boolean): void {
    this.thinking = on;
  }
  clear(): void {
    this.used = 0;
  }
  async save(file: string): Promise<string> {
    return `saved to ${file}`;
  }
  async load(file: string): Promise<string> {
    return `loaded ${file}`;
  }
}
