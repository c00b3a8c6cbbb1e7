// Dataset export: examples, formats, redaction, validation, bundles.
export { parseArguments } from './messages';
export { DEFAULT_LABEL_POLICY, resolvePolicy, labelUnder, decideWeight } from './policy';
export type { LabelPolicy, WeightDecision, WeightReason } from './policy';
export { trajectoryRecords, toTrajectoryJsonl } from './formats';
export type { TrajectoryStats } from './formats';
export { sessionExamples, ExampleLedger } from './examples';
export type { Example, ExampleOptions } from './examples';
export { openaiRecord, perActionRecords, sharegptRecord, mistralRecord, axolotlConfig, llamaFactoryDatasetInfo, llamaFactoryTrainConfig } from './trainers';
export type { OpenAIRecord, OpenAIMessage, ShareGPTRecord } from './trainers';
export { toAsciicast, writeAsciicast, terminalFacts, terminalIdsOf } from './asciicast';
export { Redactor, StreamRedactor, RedactionLog, redactString } from './redact';
export type { RedactionReport, SecretMatch } from './redact';
export {
  validateOpenAILine, validateOpenAIJsonl, validateShareGPTLine, validateShareGPTJsonl, validateMistralLine, validateMistralJsonl, validateAsciicast,
  AsciicastValidator, validateJsonl,
} from './validate';
export type { ValidationError } from './validate';
export { exportBundle, castPath, BUNDLE_FILES, EXPORT_FORMATS } from './bundle';
export type { ExportBundleOptions, ExportBundleResult, ExportFormat, ExportSessionInput, Manifest, ManifestFile } from './bundle';
