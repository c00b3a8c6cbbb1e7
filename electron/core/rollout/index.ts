// The rollout engine: what the CLI and the UI hosts use.
export { Rollout, type RolloutOptions, type RolloutEndpoint, type RolloutDelta, type RunResult } from './engine';
export {
  SYSTEM_PROMPT, SUMMARY_PROMPT, buildMessages, messagesForPath, estimateTokens, estimatePromptTokens, systemPromptFor, realUser,
  type BuildOptions, type ToolMode,
} from './context';
export {
  TOOL_SCHEMAS, TOOLS, TOOL_NAMES, INVALID_TOOL_CALL, DEFAULT_TOOL_OPTIONS, parseToolCall, parseTextAction, executeTool, executeToolCall, capText,
  type TerminalHost, type ToolContext, type ToolOptions, type ToolOutcome,
} from './tools';
export { LlmClient, DEFAULT_LLM_OPTIONS, type ChatMessage, type ToolSchema, type LlmEndpoint, type LlmOptions, type LlmResult } from './llm';
