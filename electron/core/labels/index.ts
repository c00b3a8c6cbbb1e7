// Labelling helpers: built-in rules and the LLM judge. Both return label.set (and
// label.cleared) event bodies; the caller appends them to the session log.
export { RULES, RULE_NAMES, MALFORMED_CALL_MARKER, listRules, previewRules, ruleEvents, commandSimilarity } from './rules';
export type { Rule, RuleName, RuleScope, RuleParams, RuleParamOverrides, RuleProposal, RuleLabel, RulePreview } from './rules';
export { judgeBranch, judgeErrorText, parseVerdicts, renderAction, JUDGE_SYSTEM_PROMPT } from './judge';
export type { JudgeEndpoint, JudgeOptions, JudgeResult, JudgeLabel } from './judge';
