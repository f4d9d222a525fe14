// `petrel rm <model>`: remove a model from the cache, with its partial downloads.
import type { Command } from 'commander';
import { removeModel } from '../../store/local.js';
import { formatBytes } from '../../format/numbers.js';

export function registerRmCommand(program: Command): void {
  program
    .command('rm')
    .description('remove a downloaded model (and its partial downloads) from the cache')
    .argument('<model...>', 'alias, hf: reference or URL, as given to pull')
    .addHelpText(
      'after',
      '\nA file that another downloaded model still links to stays. A model that a running pull is downloading is\n' +
        'not removed: stop that pull first.\n' +
        '\nExamples:\n' +
        '  petrel rm qwen3.5:0.8b\n' +
        '  petrel rm qwen3.5:9b-q8_0 hf:owner/repo:Q4_K_M\n' +
        '  petrel rm https://example.com/model.gguf\n',
    )
    .action(async (models: string[]) => {
      for (const model of models) {
        const r = await removeModel(model);
        process.stdout.write(`removed ${model} (${r.removed.length} file${r.removed.length === 1 ? '' : 's'}, ${formatBytes(r.freedBytes)} freed)\n`);
      }
    });
}
