// `petrel list`: the models in the cache (name, quant, size, modified), and partial downloads.
import type { Command } from 'commander';
import { listLocalModels, listPartials } from '../../store/local.js';
import { formatBytes } from '../../format/numbers.js';

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .alias('ls')
    .description('list downloaded models (and partial downloads)')
    .option('--json', 'print JSON: {"models": […], "partial": […]} instead of a table')
    .addHelpText(
      'after',
      '\nIn the JSON, each model has name, repo, quant, commit, path (the file to open), files, size (bytes) and\n' +
        'modified (ISO 8601); each partial download has repo, file, path, bytes (on disk) and size.\n' +
        '\nExamples:\n' +
        '  petrel list\n' +
        '  petrel ls\n' +
        "  petrel list --json | jq -r '.models[].name'\n",
    )
    .action((opts: { json?: boolean }) => {
      const models = listLocalModels();
      const partials = listPartials();
      if (opts.json) {
        const json = {
          models: models.map((m) => ({ ...m, modified: m.modified.toISOString() })),
          partial: partials,
        };
        process.stdout.write(JSON.stringify(json, null, 2) + '\n');
        return;
      }
      const rows: string[][] = [['NAME', 'QUANT', 'SIZE', 'MODIFIED']];
      for (const m of models) rows.push([m.name, m.quant ?? '-', formatBytes(m.size), ago(m.modified)]);
      for (const p of partials) {
        rows.push([`${p.repo ? `hf:${p.repo}/` : ''}${p.file}`, 'partial', `${formatBytes(p.bytes)} / ${formatBytes(p.size)}`, '-']);
      }
      if (rows.length === 1) {
        process.stdout.write('no models yet; try: petrel pull qwen3.5:0.8b\n');
        return;
      }
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n');
    });
}

function ago(date: Date): string {
  const s = Math.max(0, (Date.now() - date.getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`;
  if (s < 86400 * 60) return `${Math.floor(s / 86400)} days ago`;
  return date.toISOString().slice(0, 10);
}
