// Dataset export: conversation building, formats, redaction, validation, bundles.
export { buildConversation, formatGuidance, parseArguments, assistantTurns, MISSING_RESULT } from './messages';
export type { ChatTurn, AssistantTurn, Conversation, ConversationOptions, ExportToolCall } from './messages';
export { DEFAULT_LABEL_POLICY, resolvePolicy, labelUnder, decideWeight } from './policy';
export type { LabelPolicy, WeightDecision, WeightReason } from './policy';
export {
  openaiRecord, openaiLine, toOpenAIJsonl, sharegptRecord, sharegptLine, toShareGPTJsonl, sharegptTools, llamaFactoryDatasetInfo,
  trajectoryRecords, toTrajectoryJsonl, weighConversation,
} from './formats';
export type { ToolSchema, OpenAIRecord, OpenAIMessage, OpenAIOptions, ShareGPTRecord, TrajectoryStats } from './formats';
export { toAsciicast, writeAsciicast, terminalFacts, terminalIdsOf } from './asciicast';
export { Redactor, StreamRedactor, RedactionLog, redactString } from './redact';
export type { RedactionReport, SecretMatch } from './redact';
export {
  validateOpenAILine, validateOpenAIJsonl, validateShareGPTLine, validateShareGPTJsonl, validateAsciicast, AsciicastValidator, validateJsonl,
} from './validate';
export type { ValidationError } from './validate';
export { exportBundle, castPath, BUNDLE_FILES, EXPORT_FORMATS } from './bundle';
export type { ExportBundleOptions, ExportBundleResult, ExportFormat, ExportSessionInput, Manifest, ManifestFile } from './bundle';
