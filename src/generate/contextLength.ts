// The context length asked for (-c/--ctx) against the one the model was trained for; run checks it
// before prefilling, chat once the model is loaded.
import { UserError } from '../errors.js';

/** How far past its trained context a model may be run: Qwen's YaRN factor for Qwen3.5 is 4. */
export const CONTEXT_STRETCH_LIMIT = 4;

/**
 * Checks a requested context length against the model's trained one: beyond it (answers may
 * degrade) a warning, beyond CONTEXT_STRETCH_LIMIT × it a refusal naming the flag.
 */
export function checkContextLength(requested: number, trained: number, warn: (line: string) => void, flag = '-c/--ctx'): void {
  if (trained <= 0 || requested <= trained) return;
  const n = (v: number) => v.toLocaleString('en-US');
  const max = trained * CONTEXT_STRETCH_LIMIT;
  if (requested > max) {
    throw new UserError(
      `${flag} ${requested} is far beyond the ${n(trained)} tokens this model was trained for (at most ${n(max)}, ${CONTEXT_STRETCH_LIMIT}×, is allowed)`,
      'ERR_USER_ARGS',
    );
  }
  warn(`petrel: warning: ${flag} ${requested} is beyond the ${n(trained)} tokens this model was trained for; answers past that may degrade`);
}
