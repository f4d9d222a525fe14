// The chat engine on a tiny synthetic model: each turn prefills only its new tokens (counted by
// session.stats), the session then holds exactly the conversation's tokens, /save → /load resumes
// without any prefill and refuses another model's file, and a full context drops the oldest turns
// (keeping the system prompt, whose state is restored from a snapshot rather than prefilled again)
// with a notice instead of failing or truncating silently; Ctrl-C during a prefill stops the turn.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chat, type ChatOptions } from '../../src/chat/Chat.js';
import type { ChatNotice } from '../../src/chat/types.js';
import { UserError } from '../../src/errors.js';
import { synthesize } from '../../src/synth/index.js';
import { maxAbsDiff, presetModel, tempDir } from '../engine/helpers/models.js';

const tmp = tempDir('petrel-chat-');
let tiny: string;
const open: Chat[] = [];

beforeAll(async () => {
  tiny = await presetModel('tiny');
});
afterAll(() => {
  for (const c of open) c.dispose();
  tmp.cleanup();
});

async function openChat(options: Partial<ChatOptions> = {}): Promise<Chat> {
  const chat = await Chat.open({ modelPath: tiny, thinking: true, maxTokens: 24, threads: 1, sampling: { temp: 0 }, ...options });
  open.push(chat);
  return chat;
}

describe('multi-turn reuse', () => {
  it('prefills only the new turn, and the session holds exactly the conversation tokens', async () => {
    const chat = await openChat({ system: 'Be brief.' });
    const first = chat.format.conversation('Be brief.', [{ role: 'user', content: 'hello' }], true);
    const r1 = await chat.ask('hello');
    expect(r1.stats.promptTokens).toBe(first.tokens.length);
    expect(chat.session.stats.tokensPrefilled).toBe(first.tokens.length);
    expect(chat.session.position).toBe(first.tokens.length + r1.stats.generatedTokens);

    const next = chat.format.nextTurn('and then?', true);
    const before = chat.session.stats.tokensPrefilled;
    const atTurn2 = chat.session.position;
    const r2 = await chat.ask('and then?');
    expect(chat.session.stats.tokensPrefilled - before).toBe(next.tokens.length);
    expect(r2.stats.promptTokens).toBe(next.tokens.length);
    // The appended text closes the first answer and opens the second, as the template does.
    expect(chat.format.tokenizer.decode(chat.conversation.tokens.slice(atTurn2, atTurn2 + next.tokens.length), { special: true })).toBe(
      '<|im_end|>\n<|im_start|>user\nand then?<|im_end|>\n<|im_start|>assistant\n<think>\n',
    );
    expect(chat.session.position).toBe(chat.conversation.tokens.length);
    expect(chat.conversation.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);

    // A fresh session prefilled with the recorded tokens is in the same state as the reused one.
    const fresh = chat.model.createSession();
    await fresh.prefill(chat.conversation.tokens);
    const probe = [chat.format.tokenizer.encode('x')[0]!];
    const reused = chat.session.clone();
    const a = (await reused.evaluate(probe))!;
    const b = (await fresh.evaluate(probe))!;
    let scale = 0;
    for (const v of b) scale = Math.max(scale, Math.abs(v));
    expect(maxAbsDiff(a, b) / scale).toBeLessThan(1e-4);
    reused.dispose();
    fresh.dispose();
  });

  it('/think off changes only the next generation prompt', async () => {
    const chat = await openChat();
    await chat.ask('hi');
    chat.setThinking(false);
    const at = chat.session.position;
    await chat.ask('again');
    const appended = chat.format.tokenizer.decode(chat.conversation.tokens.slice(at), { special: true });
    expect(appended.startsWith('<|im_end|>\n<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
  });
});

describe('/save and /load', () => {
  it('round trip: resumes without prefill and continues exactly like the original', async () => {
    const file = path.join(tmp.dir, 'talk.json');
    const a = await openChat({ system: 'sys' });
    await a.ask('one');
    await a.ask('two');
    const saved = await a.save(file);
    expect(saved).toMatch(/saved 2 turns/);

    const b = await openChat();
    const summary = await b.load(file);
    expect(summary).toMatch(/loaded 2 turns/);
    expect(b.session.stats.tokensPrefilled).toBe(0);
    expect(b.session.position).toBe(a.session.position);
    expect(b.system).toBe('sys');
    expect(b.conversation.messages).toEqual(a.conversation.messages);

    const next = b.format.nextTurn('three', true).tokens.length;
    const rb = await b.ask('three');
    expect(b.session.stats.tokensPrefilled).toBe(next);
    const ra = await a.ask('three');
    expect(rb.text).toBe(ra.text);
    expect(rb.reasoning).toBe(ra.reasoning);
    expect(b.conversation.tokens).toEqual(a.conversation.tokens);
  });

  it("refuses a file saved with another model, and leaves the chat as it was", async () => {
    const file = path.join(tmp.dir, 'other.json');
    const a = await openChat();
    await a.ask('hello');
    await a.save(file);
    // Same shapes, other weights: the shape fingerprint matches, the engine's weights digest does not.
    const twin = path.join(tmp.dir, 'twin.gguf');
    await synthesize('tiny', twin, { type: 'f32', seed: 99 });
    const other = await openChat({ modelPath: twin });
    await other.ask('hi');
    const position = other.session.position;
    await expect(other.load(file)).rejects.toThrow(UserError);
    await expect(other.load(file)).rejects.toThrow(/belongs to another model/);
    expect(other.session.position).toBe(position);
    expect(other.conversation.turns).toBe(1);
    await expect(other.load(path.join(tmp.dir, 'missing.json'))).rejects.toThrow(/no such file/);
  });
});

describe('context overflow', () => {
  it('warns at 90% of the room for the conversation, then drops the oldest turns, keeps the system prompt and re-prefills', async () => {
    const chat = await openChat({ system: 'You are terse.', contextLength: 160, maxTokens: 12 });
    const systemTokens = chat.format.systemPrefix('You are terse.').length;
    expect(systemTokens).toBeGreaterThan(4);
    const notices: ChatNotice[] = [];
    let rebuilds = 0;
    const warned = () => notices.some((x) => /^context \d+% full/.test(x.text));
    for (let i = 0; i < 12 && !(rebuilds > 0 && warned()); i++) {
      const before = chat.session.stats.tokensPrefilled;
      const turnsBefore = chat.conversation.turns;
      const n = notices.length;
      const r = await chat.ask(`question number ${i}`, { onNotice: (x) => notices.push(x) });
      const rebuilt = notices.slice(n).some((x) => x.text.startsWith('context full'));
      if (rebuilt) rebuilds++;
      expect(chat.session.position).toBe(chat.conversation.tokens.length);
      expect(chat.session.position).toBeLessThanOrEqual(160);
      if (rebuilt) {
        // Everything kept was prefilled again, except the system prompt: its state came from a snapshot.
        expect(chat.session.stats.tokensPrefilled - before).toBe(r.stats.promptTokens);
        expect(r.stats.promptTokens).toBe(chat.conversation.tokens.length - r.stats.generatedTokens - systemTokens);
        // (Not necessarily the turn's last notice: an answer cut inside its reasoning is said after it.)
        expect(notices.slice(n).find((x) => x.text.startsWith('context full'))!.text).toMatch(new RegExp(`reading the remaining ${r.stats.promptTokens} tokens again`));
        expect(chat.conversation.turns).toBeLessThanOrEqual(turnsBefore);
        expect(chat.format.tokenizer.decode(chat.conversation.tokens, { special: true })).toMatch(/^<\|im_start\|>system\nYou are terse\.<\|im_end\|>\n<\|im_start\|>user\n/);
        expect(chat.conversation.messages.at(-2)).toEqual({ role: 'user', content: `question number ${i}` });
      }
    }
    expect(rebuilds).toBeGreaterThan(0);
    expect(warned()).toBe(true);
    // The percentage is of the room the conversation has (160 less the 12 an answer keeps free), as
    // the README says: the warning comes at 90% of it.
    const warning = notices.find((x) => /^context \d+% full/.test(x.text))!.text;
    expect(Number(/^context (\d+)%/.exec(warning)![1])).toBeGreaterThanOrEqual(90);
    expect(warning).toMatch(/^context \d+% full: \d+ of the 148 tokens the conversation may hold \(12 of 160 stay free for an answer\)/);
    expect(notices.find((x) => x.text.startsWith('context full'))!.text).toMatch(/dropped the oldest .*system prompt is kept/);
  });

  it('the rebuilt session equals a fresh prefill of the kept conversation', async () => {
    const chat = await openChat({ system: 'You are terse.', contextLength: 160, maxTokens: 12 });
    let rebuilt = false;
    for (let i = 0; i < 12 && !rebuilt; i++) {
      await chat.ask(`question number ${i}`, { onNotice: (x) => (rebuilt ||= x.text.startsWith('context full')) });
    }
    expect(rebuilt).toBe(true);
    // The same tokens prefilled into a fresh session (system prompt first, as the chat does) give the same state.
    const fresh = chat.model.createSession();
    const n = chat.format.systemPrefix('You are terse.').length;
    await fresh.prefill(chat.conversation.tokens.slice(0, n));
    await fresh.prefill(chat.conversation.tokens.slice(n));
    expect(fresh.position).toBe(chat.session.position);
    const next = [1, 2, 3];
    const a = chat.session.clone();
    expect(maxAbsDiff((await a.evaluate(next, { logits: 'all' }))!, (await fresh.evaluate(next, { logits: 'all' }))!)).toBeLessThan(1e-4);
    a.dispose();
    fresh.dispose();
  });

  it('a message that cannot fit at all is refused with a clear error, and the chat goes on', async () => {
    const chat = await openChat({ contextLength: 64, maxTokens: 8 });
    await expect(chat.ask('word '.repeat(200))).rejects.toThrow(/this message needs \d+ tokens, but the context holds 64/);
    const r = await chat.ask('short');
    expect(r.stats.promptTokens).toBeGreaterThan(0);
  });
});

describe('stopping a turn during its prefill', () => {
  it('Ctrl-C while a long message is prefilled stops the turn, records nothing, and the chat goes on', async () => {
    const chat = await openChat({ contextLength: 4096, maxTokens: 8 });
    await chat.ask('hello');
    const position = chat.session.position;
    const tokens = [...chat.conversation.tokens];
    const prefilled = chat.session.stats.tokensPrefilled;
    const long = 'word '.repeat(800); // ~2400 tokens: several micro-batches
    expect(chat.format.nextTurn(long, true).tokens.length).toBeGreaterThan(2000);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const r = await chat.ask(long, { signal: abort.signal });
    expect(r.finishReason).toBe('aborted');
    expect(r.stats).toMatchObject({ promptTokens: 0, generatedTokens: 0 });
    expect(r.text).toBe('');
    // The engine rolled the session back: it still holds exactly the conversation, which did not change.
    expect(chat.session.position).toBe(position);
    expect(chat.conversation.tokens).toEqual(tokens);
    expect(chat.conversation.turns).toBe(1);
    expect(chat.session.stats.tokensPrefilled).toBe(prefilled);
    // The next turn is appended as usual (only its own tokens are prefilled).
    const next = chat.format.nextTurn('again', true).tokens.length;
    await chat.ask('again');
    expect(chat.session.stats.tokensPrefilled - prefilled).toBe(next);
    expect(chat.conversation.turns).toBe(2);
  });
});
