// CSV as llama-bench writes it: a header of field names, then one row per result with every value
// in double quotes (quotes inside doubled).
import { recordFields, testRecords, type RecordLayout } from '../record.js';
import { plainValue, type BenchPrinter } from './printer.js';

export function csvPrinter(layout: RecordLayout): BenchPrinter {
  const fields = recordFields(layout);
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return {
    header: () => fields.map(([name]) => name).join(',') + '\n',
    test: (results) =>
      testRecords(results, layout)
        .map((r) => fields.map(([name, type]) => quote(plainValue(r.values.get(name) ?? null, type))).join(',') + '\n')
        .join(''),
    footer: () => '',
  };
}
