// JSON and JSONL as llama-bench writes them: one object per result with the record's fields in
// order, numbers bare, booleans as true/false, then samples_ns and samples_ts (every repetition).
// JSON wraps the objects in an array printed as results arrive; JSONL is one object per line.
import { recordFields, testRecords, type BenchRecord, type FieldType, type RecordLayout } from '../record.js';
import { plainValue, shortNumber, type BenchPrinter } from './printer.js';

function jsonValue(value: string | number | boolean | null, type: FieldType): string {
  if (value === null) return 'null';
  if (type === 'string') return JSON.stringify(String(value));
  if (type === 'bool') return value ? 'true' : 'false';
  return plainValue(value, type);
}

function fieldsOf(record: BenchRecord, layout: RecordLayout): Array<[string, string]> {
  return recordFields(layout).map(([name, type]) => [name, jsonValue(record.values.get(name) ?? null, type)]);
}

const samples = (r: BenchRecord) => ({ ns: r.samplesNs.map((n) => String(Math.round(n))).join(', '), ts: r.samplesTs.map(shortNumber).join(', ') });

export function jsonPrinter(layout: RecordLayout): BenchPrinter {
  let first = true;
  return {
    header: () => '[\n',
    test(results) {
      let out = '';
      for (const record of testRecords(results, layout)) {
        out += first ? '' : ',\n';
        first = false;
        const s = samples(record);
        out += '  {\n';
        for (const [name, value] of fieldsOf(record, layout)) out += `    "${name}": ${value},\n`;
        out += `    "samples_ns": [ ${s.ns} ],\n`;
        out += `    "samples_ts": [ ${s.ts} ]\n`;
        out += '  }';
      }
      return out;
    },
    footer: () => '\n]\n',
  };
}

export function jsonlPrinter(layout: RecordLayout): BenchPrinter {
  return {
    header: () => '',
    test(results) {
      return testRecords(results, layout)
        .map((record) => {
          const s = samples(record);
          const fields = fieldsOf(record, layout).map(([name, value]) => `"${name}": ${value}, `).join('');
          return `{${fields}"samples_ns": [ ${s.ns} ],"samples_ts": [ ${s.ts} ]}\n`;
        })
        .join('');
    },
    footer: () => '',
  };
}
