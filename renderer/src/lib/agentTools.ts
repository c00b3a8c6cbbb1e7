// The agent's tools (as the host's rollout engine defines them), with argument
// templates for actions written by hand in the "Branch here" dialog. The host
// validates the real call; this list only helps typing it.
export interface ToolTemplate {
  name: string;
  args: Record<string, unknown>;
  hint: string;
}

export const AGENT_TOOLS: ToolTemplate[] = [
  { name: 'run_command', args: { session_id: 'main', command: '', wait_for_completion: true }, hint: 'Run a shell command in a terminal and wait for it.' },
  { name: 'get_session_output', args: { session_id: 'main', start_lines: 50 }, hint: 'Read the last lines of a terminal.' },
  { name: 'check_session_idle', args: { session_id: 'main' }, hint: 'Is a terminal idle or busy?' },
  { name: 'input_in_session', args: { session_id: 'main', input_text: '\n' }, hint: 'Type into a terminal (\\u0003 is Ctrl-C).' },
  { name: 'kill_session_processes', args: { session_id: 'main' }, hint: 'Interrupt and kill what a terminal runs.' },
  { name: 'create_session', args: { session_id: 'work' }, hint: 'Open a new terminal.' },
  { name: 'close_session', args: { session_id: 'work' }, hint: 'Close a terminal.' },
  { name: 'list_sessions', args: {}, hint: 'List the terminals.' },
  { name: 'open_file', args: { path: '', line_number: 1, context_lines: 100 }, hint: 'Show a file with line numbers.' },
  { name: 'create_file', args: { filename: '', content: '' }, hint: 'Create or overwrite a file.' },
  { name: 'edit_file', args: { path: '', start: 1, end: 1, content: '' }, hint: 'Replace lines of a file.' },
  { name: 'list_files', args: { path: '.' }, hint: 'List a folder.' },
  { name: 'sleep', args: { sleep_time: 10 }, hint: 'Wait some seconds.' },
  { name: 'think', args: { thought: '' }, hint: 'Record a thought.' },
  { name: 'finish', args: { message: '' }, hint: 'Finish the task.' },
];

export function toolTemplate(name: string): ToolTemplate | undefined {
  return AGENT_TOOLS.find((t) => t.name === name);
}
