// Every import format, most specific first (detection picks the most confident).
import type { ImportAdapter } from '../types';
import { openaiChatAdapter, sharegptAdapter } from './sft';

export const ADAPTERS: readonly ImportAdapter[] = [openaiChatAdapter, sharegptAdapter];
