// Chat messages and tool shapes, in the OpenAI/HF form chat templates expect.

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** A tool call as the parser returns it and as assistant history carries it. */
export interface ToolCall {
  name: string;
  /** Parameter values: strings as written, other JSON values parsed. */
  arguments: Record<string, unknown>;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant reasoning (the text between <think> and </think>). */
  reasoning?: string;
  /** Assistant tool calls. */
  toolCalls?: ToolCall[];
}

/** An OpenAI-style tool definition, rendered into the system turn by the template. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}
