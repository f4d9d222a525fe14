// Qwen3.5's tool calls ("qwen3_coder" XML, vLLM --tool-call-parser qwen3_coder):
//   <tool_call>\n<function=NAME>\n<parameter=ARG>\nVALUE\n</parameter>\n</function>\n</tool_call>
// The template writes strings as they are and other values as JSON (or Python's str()), so a value
// is typed back by the tool's JSON schema when there is one, else by trying JSON.
import type { ToolCall, ToolDefinition } from './types.js';

const FUNCTION = /<function=([^>\n]+)>([\s\S]*?)(?:<\/function>|$)/;
const PARAMETER = /<parameter=([^>\n]+)>([\s\S]*?)(?:<\/parameter>|(?=<parameter=)|$)/g;

/** Parses the inside of one <tool_call>…</tool_call>; undefined when it names no function. */
export function parseToolCallXml(body: string, tools: readonly ToolDefinition[] = []): ToolCall | undefined {
  const fn = FUNCTION.exec(body);
  if (!fn) return undefined;
  const name = fn[1]!.trim();
  const schema = tools.find((t) => t.function.name === name)?.function.parameters as
    | { properties?: Record<string, { type?: unknown }> }
    | undefined;
  const args: Record<string, unknown> = {};
  for (const m of fn[2]!.matchAll(PARAMETER)) {
    const key = m[1]!.trim();
    // The template puts the value on its own lines: drop exactly one newline on each side.
    const raw = m[2]!.replace(/^\n/, '').replace(/\n$/, '');
    args[key] = typeValue(raw, schema?.properties?.[key]?.type);
  }
  return { name, arguments: args };
}

function typeValue(raw: string, type: unknown): unknown {
  const types = Array.isArray(type) ? type : type === undefined ? [] : [type];
  if (types.includes('string')) return raw;
  const text = raw.trim();
  if (types.includes('boolean') && /^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  if (types.includes('null') && /^(null|none)$/i.test(text)) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return raw;
  }
}
