// The printer for an output format (-o).
import type { OutputFormat } from '../args.js';
import type { RecordLayout } from '../record.js';
import { csvPrinter } from './csv.js';
import { jsonlPrinter, jsonPrinter } from './json.js';
import { markdownPrinter } from './markdown.js';
import type { BenchPrinter } from './printer.js';

export type { BenchPrinter } from './printer.js';

export function createPrinter(format: OutputFormat, layout: RecordLayout): BenchPrinter {
  switch (format) {
    case 'md':
      return markdownPrinter(layout);
    case 'json':
      return jsonPrinter(layout);
    case 'jsonl':
      return jsonlPrinter(layout);
    case 'csv':
      return csvPrinter(layout);
  }
}
