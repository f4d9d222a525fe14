// Chat templates: prompt rendering with the model's Jinja template, output parsing into reasoning,
// text and tool calls.
export { renderChat, chatTemplateOrDefault, toTemplateMessages } from './render.js';
export type { RenderOptions } from './render.js';
export { ChatOutputParser, parseChatOutput } from './outputParser.js';
export type { OutputEvent, OutputParserOptions, ParsedOutput } from './outputParser.js';
export { parseToolCallXml } from './toolCallXml.js';
export { QWEN35_CHAT_TEMPLATE } from './qwen35Template.js';
export type { ChatMessage, ChatRole, ToolCall, ToolDefinition } from './types.js';
