// Where `petrel run`'s output goes: the answer streamed to stdout, reasoning (when asked for) to
// stderr, or one JSON object at the end. On a terminal, while the reasoning is hidden, a spinner
// on stderr counts the tokens the model is thinking through, so a long think is not a blank
// screen; when the run ends without answer text, one line on stderr says why.
import type { OutputEvent } from '../templates/index.js';
import type { GenerateOnceResult } from '../generate/generateOnce.js';

export interface OutputStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** stderr is a terminal: draw the spinner and dim the reasoning. */
  stderrIsTTY: boolean;
  /** NO_COLOR: no dimming (the spinner stays, it is not color). */
  color: boolean;
}

export interface OutputSinkOptions {
  json: boolean;
  showThinking: boolean;
  /** -n as given (for the explanation when it ran out). */
  maxTokens?: number;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const DIM = '\x1b[2m';
const UNDIM = '\x1b[22m';

export class OutputSink {
  #wroteAnswer = false;
  #lastAnswerChar = '';
  #reasoningOpen = false;
  #tokens = 0;
  #answering = false;
  #spinner: ReturnType<typeof setInterval> | undefined;
  #frame = 0;
  #drawn = false;

  constructor(
    private readonly options: OutputSinkOptions,
    private readonly io: OutputStreams,
  ) {}

  /** Starts the spinner (a terminal only, reasoning hidden); it shows until the answer starts. */
  start(): void {
    if (!this.io.stderrIsTTY || this.options.showThinking || this.#answering) return;
    this.#draw();
    if (this.#spinner) return;
    this.#spinner = setInterval(() => this.#draw(), 100);
    this.#spinner.unref?.();
  }

  token(): void {
    this.#tokens++;
  }

  event(e: OutputEvent): void {
    if (e.type === 'reasoning') {
      if (this.options.json || !this.options.showThinking) return;
      const dim = this.io.stderrIsTTY && this.io.color;
      this.io.stderr.write(dim ? DIM + e.text + UNDIM : e.text);
      this.#reasoningOpen = true;
      return;
    }
    this.#answering = true;
    this.#stopSpinner();
    if (this.options.json) return;
    if (this.#reasoningOpen) {
      // Separate the reasoning from the answer when both go to the same terminal.
      this.io.stderr.write('\n\n');
      this.#reasoningOpen = false;
    }
    // A tool call is part of what the model answered; scripts wanting structure use --json.
    this.#answer(e.type === 'content' ? e.text : e.raw + '\n');
  }

  /** Ends the output; `report` is the JSON object --json prints. */
  finish(result: GenerateOnceResult, report: () => unknown): void {
    this.#stopSpinner();
    if (this.options.json) {
      this.io.stdout.write(JSON.stringify(report()) + '\n');
      return;
    }
    if (this.#reasoningOpen) this.io.stderr.write('\n');
    if (this.#wroteAnswer && this.#lastAnswerChar !== '\n') this.io.stdout.write('\n');
    const note = finishNote(result, this.options.maxTokens);
    if (note) this.io.stderr.write(`petrel: ${note}\n`);
  }

  /** Stops the spinner without a result (an error ends the run). */
  abandon(): void {
    this.#stopSpinner();
  }

  #draw(): void {
    if (this.#answering) return;
    const what = this.#tokens === 0 ? 'reading the prompt' : `thinking… ${this.#tokens} token${this.#tokens === 1 ? '' : 's'}`;
    this.io.stderr.write(`\r\x1b[K${FRAMES[this.#frame++ % FRAMES.length]} ${what}`);
    this.#drawn = true;
  }

  #stopSpinner(): void {
    if (this.#spinner) clearInterval(this.#spinner);
    this.#spinner = undefined;
    if (this.#drawn) this.io.stderr.write('\r\x1b[K');
    this.#drawn = false;
  }

  #answer(text: string): void {
    if (!text) return;
    this.io.stdout.write(text);
    this.#wroteAnswer = true;
    this.#lastAnswerChar = text[text.length - 1]!;
  }
}

/**
 * Why the output is incomplete or empty, in one line (without the "petrel: " prefix), or
 * undefined when the answer simply ended. A full context is always said (the answer was cut);
 * -n running out is said only when it left no answer at all (the user asked for the limit).
 */
export function finishNote(r: Pick<GenerateOnceResult, 'finishReason' | 'text' | 'toolCalls' | 'endedInReasoning' | 'contextLength' | 'generatedTokens'>, maxTokens?: number): string | undefined {
  const answered = r.text.trim() !== '' || r.toolCalls.length > 0;
  const ctx = `${r.contextLength.toLocaleString('en-US')} tokens`;
  switch (r.finishReason) {
    case 'aborted':
      return undefined;
    case 'context':
      return answered
        ? `the context (${ctx}) is full: the answer was cut off; raise --ctx`
        : r.endedInReasoning
          ? `the context (${ctx}) filled up while the model was still reasoning: no answer; raise --ctx or use --no-think`
          : `the context (${ctx}) filled up before any answer; raise --ctx`;
    case 'length':
      if (answered) return undefined;
      return r.endedInReasoning
        ? `-n ${maxTokens ?? r.generatedTokens.length} ran out while the model was still reasoning: no answer; raise -n or use --no-think`
        : `-n ${maxTokens ?? r.generatedTokens.length} ran out before any answer text; raise -n`;
    case 'stop':
      if (answered) return undefined;
      return r.endedInReasoning
        ? 'the model stopped inside its reasoning without answering (--show-thinking shows the reasoning)'
        : 'the model gave an empty answer';
  }
}
