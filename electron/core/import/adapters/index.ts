// Every import format. Detection asks each and takes the most confident.
import type { ImportAdapter } from '../types';
import { asciicastAdapter } from './asciicast';
import { claudeCodeAdapter } from './claude-code';
import { openHandsAdapter } from './openhands';
import { innovatorBenchAdapter } from './innovatorbench';
import { inspectAdapter } from './inspect';
import { miniSweAgentAdapter } from './mini-swe-agent';
import { openaiChatAdapter, sharegptAdapter } from './sft';
import { sweAgentAdapter } from './swe-agent';

export const ADAPTERS: readonly ImportAdapter[] = [innovatorBenchAdapter, sweAgentAdapter, miniSweAgentAdapter, openaiChatAdapter, sharegptAdapter, asciicastAdapter, claudeCodeAdapter, openHandsAdapter, inspectAdapter];
