// The chat screen: finished turns printed once (Ink's <Static>; again, on a cleared screen, when
// Ctrl-T changes how reasoning shows), the answer streaming in place below them, then the prompt
// and the status line. Keys are mapped to actions of two pure reducers (appState, inputReducer);
// the chat itself is any ChatBackend (the model, or a fake).
import { Box, Static, useApp, useInput, useStdout, type Key } from 'ink';
import { useEffect, useReducer, useRef, useState } from 'react';
import { isUserFacing } from '../../errors.js';
import { appReducer, initialApp } from '../appState.js';
import { runSlashCommand } from '../chatCommands.js';
import { initialInput, inputReducer } from '../inputReducer.js';
import { completeSlash, isSlashCommand, messageText, parseSlashCommand } from '../slashCommands.js';
import type { OutputEvent } from '../../templates/index.js';
import type { Theme } from '../theme.js';
import type { AskResult, ChatBackend } from '../types.js';
import { AnswerView } from './AnswerView.js';
import { HistoryItemView } from './HistoryItemView.js';
import { PromptInput } from './PromptInput.js';
import { StatusLine } from './StatusLine.js';

/** Where submitted lines are remembered (InputHistory, or a list in tests). */
export interface HistoryStore {
  readonly entries: readonly string[];
  add(entry: string): void;
}

export interface ChatAppProps {
  chat: ChatBackend;
  theme: Theme;
  history: HistoryStore;
  /** First line printed (model, how to get help). */
  banner?: string;
  /** Called once with the exit code (0: /exit or Ctrl-D, also during an answer; 130: Ctrl-C). */
  onExit: (code: number) => void;
}

// Bracketed paste (ESC[200~ … ESC[201~) arrives as its own key events, the ESC already stripped.
const PASTE_START = '[200~';
const PASTE_END = '[201~';

// Erases the screen and the scrollback, then homes the cursor (what ansi-escapes' clearTerminal writes).
const CLEAR_TERMINAL = '\x1b[2J\x1b[3J\x1b[H';

/** How often streamed output is drawn (Ink itself draws at most 30 frames a second). */
const OUTPUT_FRAME_MS = 33;

export function ChatApp({ chat, theme, history, banner, onExit }: ChatAppProps) {
  const app = useApp();
  const { stdout } = useStdout();
  const columns = useColumns(stdout);
  const [state, dispatch] = useReducer(appReducer, undefined, () => {
    const s = initialApp(true);
    return banner ? appReducer(s, { type: 'notice', level: 'info', text: banner }) : s;
  });
  const [input, edit] = useReducer(inputReducer, history.entries, initialInput);
  const [busy, setBusy] = useState(false);
  const [candidates, setCandidates] = useState<readonly string[]>([]);
  // A new key makes <Static> print every finished item again.
  const [staticKey, setStaticKey] = useState(0);
  // Refs: key events can arrive faster than React re-renders the handler.
  const busyRef = useRef(false);
  const stoppingRef = useRef(false);
  const exitedRef = useRef(false);
  // Ctrl-D came while an answer or a command was running: leave once it has finished.
  const quitRef = useRef(false);
  const abortRef = useRef<AbortController | undefined>(undefined);
  const pasteRef = useRef(false);
  const textRef = useRef('');
  textRef.current = input.text;
  const itemsRef = useRef(state.items);
  itemsRef.current = state.items;
  // Output is applied in batches (one render per frame, not per token).
  const pendingRef = useRef<OutputEvent[]>([]);
  const flushTimerRef = useRef<NodeJS.Timeout | undefined>(undefined);
  const flushOutput = () => {
    clearTimeout(flushTimerRef.current);
    flushTimerRef.current = undefined;
    if (pendingRef.current.length === 0) return;
    const events = pendingRef.current;
    pendingRef.current = [];
    dispatch({ type: 'output', events });
  };
  const queueOutput = (event: OutputEvent) => {
    pendingRef.current.push(event);
    flushTimerRef.current ??= setTimeout(flushOutput, OUTPUT_FRAME_MS);
  };

  const exit = (code: number) => {
    if (exitedRef.current) return;
    exitedRef.current = true;
    onExit(code);
    app.exit();
  };

  const setBusyBoth = (b: boolean) => {
    busyRef.current = b;
    setBusy(b);
  };

  const submit = async (line: string) => {
    if (line.trim() === '' || busyRef.current) return;
    history.add(line);
    edit({ type: 'submitted', entry: line });
    setCandidates([]);
    const trimmed = line.trim();
    if (isSlashCommand(trimmed)) {
      const parsed = parseSlashCommand(trimmed);
      if (parsed.ok && parsed.command.name === 'exit') return exit(0);
      dispatch({ type: 'command', text: trimmed });
      setBusyBoth(true);
      try {
        const outcome = await runSlashCommand(chat, parsed);
        if (outcome.text) dispatch({ type: 'notice', level: outcome.level, text: outcome.text });
      } catch (err) {
        dispatch({ type: 'notice', level: 'error', text: `internal error: ${(err as Error).stack ?? String(err)}` });
      } finally {
        setBusyBoth(false);
      }
      return;
    }
    const message = messageText(trimmed);
    const abort = new AbortController();
    abortRef.current = abort;
    stoppingRef.current = false;
    setBusyBoth(true);
    dispatch({ type: 'asked', text: message });
    try {
      const result = await chat.ask(message, {
        signal: abort.signal,
        onEvent: queueOutput,
        onNotice: (n) => dispatch({ type: 'notice', level: n.level, text: n.text }),
      });
      flushOutput();
      dispatch({ type: 'answered', footer: footerFor(result) });
    } catch (err) {
      flushOutput();
      dispatch({ type: 'answered', footer: '' });
      const text = isUserFacing(err) ? err.message : `internal error: ${(err as Error).stack ?? String(err)}`;
      dispatch({ type: 'notice', level: 'error', text });
    } finally {
      abortRef.current = undefined;
      stoppingRef.current = false;
      setBusyBoth(false);
    }
  };

  const onCtrlC = () => {
    if (busyRef.current && abortRef.current) {
      // First Ctrl-C stops the answer; a second one, before it has stopped, quits.
      if (stoppingRef.current) return exit(130);
      stoppingRef.current = true;
      dispatch({ type: 'stopping' });
      abortRef.current.abort();
      return;
    }
    if (textRef.current !== '') return edit({ type: 'clear' });
    exit(130);
  };

  // After the render that printed the stopped answer (or the command's output), not before it.
  useEffect(() => {
    if (!busy && quitRef.current) exit(0);
  }, [busy]);

  const onCtrlD = () => {
    if (!busyRef.current) return textRef.current === '' ? exit(0) : edit({ type: 'deleteForward' });
    // Ctrl-D means "I am done": the answer is stopped as Ctrl-C stops it, then the chat quits with 0
    // (a command still running is let finish). A second Ctrl-D does not wait.
    if (quitRef.current) return exit(0);
    quitRef.current = true;
    if (abortRef.current && !stoppingRef.current) {
      stoppingRef.current = true;
      dispatch({ type: 'stopping' });
      abortRef.current.abort();
    }
  };

  const toggleReasoning = () => {
    // Finished turns were printed once, above the part Ink redraws: to show or hide their reasoning
    // they are printed again, on a cleared screen so that they do not appear twice.
    if (itemsRef.current.some((i) => i.kind === 'answer' && i.reasoning.trim() !== '')) {
      stdout.write(CLEAR_TERMINAL);
      setStaticKey((k) => k + 1);
    }
    dispatch({ type: 'toggleReasoning' });
  };

  const onTab = () => {
    const done = completeSlash(textRef.current);
    if (!done) return;
    edit({ type: 'set', text: done.text });
    setCandidates(done.candidates);
  };

  useInput((text: string, key: Key) => {
    if (text === PASTE_START) return void (pasteRef.current = true);
    if (text === PASTE_END) return void (pasteRef.current = false);
    if (pasteRef.current) return edit({ type: 'insert', text });
    if (key.ctrl) {
      switch (text) {
        case 'c':
          return onCtrlC();
        case 'd':
          return onCtrlD();
        case 't':
          return toggleReasoning();
        case 'a':
          return edit({ type: 'lineStart' });
        case 'e':
          return edit({ type: 'lineEnd' });
        case 'u':
          return edit({ type: 'killBefore' });
        case 'k':
          return edit({ type: 'killAfter' });
        case 'w':
          return edit({ type: 'killWord' });
      }
      return;
    }
    if (key.return) {
      const current = textRef.current;
      // A line ending in a backslash continues on the next line (as in a shell).
      if (current.endsWith('\\')) return edit({ type: 'set', text: current.slice(0, -1) + '\n' });
      return void submit(current);
    }
    if (text === '\n') return edit({ type: 'insert', text: '\n' }); // Ctrl-J
    if (key.tab) return onTab();
    if (key.upArrow) return edit({ type: 'up' });
    if (key.downArrow) return edit({ type: 'down' });
    if (key.leftArrow) return edit({ type: 'left' });
    if (key.rightArrow) return edit({ type: 'right' });
    if (key.home) return edit({ type: 'lineStart' });
    if (key.end) return edit({ type: 'lineEnd' });
    // Ink reports the Backspace key (DEL) as `delete`.
    if (key.backspace || key.delete) return edit({ type: 'backspace' });
    if (key.escape || text === '') return;
    // Without bracketed paste, a paste is one chunk with its line breaks as \r; a chunk that only
    // ends in \r is text typed (or sent) faster than it was read, then Enter.
    const single = /^[^\r\n]*\r$/.test(text);
    if (single) {
      const line = textRef.current + text.slice(0, -1);
      edit({ type: 'insert', text: text.slice(0, -1) });
      return void submit(line);
    }
    edit({ type: 'insert', text });
    setCandidates([]);
  });

  return (
    <Box flexDirection="column">
      <Static key={staticKey} items={state.items}>
        {(item) => <HistoryItemView key={item.id} item={item} theme={theme} showReasoning={state.showReasoning} />}
      </Static>
      {state.live && <AnswerView reasoning={state.live.reasoning} content={state.live.content} showReasoning={state.showReasoning} theme={theme} streaming />}
      <PromptInput input={input} theme={theme} busy={busy} candidates={candidates} />
      <StatusLine status={chat.status()} theme={theme} busy={busy} stopping={state.stopping} columns={columns} />
    </Box>
  );
}

/** The terminal's width, kept current as the window is resized. */
function useColumns(stdout: NodeJS.WriteStream): number {
  const [columns, setColumns] = useState(stdout.columns || 80);
  useEffect(() => {
    const resized = () => setColumns(stdout.columns || 80);
    stdout.on('resize', resized);
    return () => void stdout.off('resize', resized);
  }, [stdout]);
  return columns;
}

function footerFor(r: AskResult): string {
  // Kept short: one row under the answer at 80 columns (the chat's noAnswer line is for stderr).
  const noAnswer = r.noAnswer ? ' while still reasoning: no answer' : '';
  switch (r.finishReason) {
    case 'aborted':
      return `⏹ stopped (${r.stats.generatedTokens} tokens)`;
    case 'length':
      return `… cut at the answer limit (${r.stats.generatedTokens} tokens, -n)${noAnswer}`;
    case 'context':
      return '… cut: the context is full';
    default:
      return r.noAnswer ? '… no answer: the model stopped inside its reasoning' : '';
  }
}
