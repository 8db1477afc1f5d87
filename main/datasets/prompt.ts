import type { TaskRecord } from './task-record.js';

export type PromptFormat = 'completion' | 'chat';

type PromptFields = Pick<TaskRecord, 'text' | 'exampleTest' | 'codePrefix'>;

/**
 * The prompt a base model continues, as in the ILF paper: the task description and one example
 * test in a docstring, so the model writes the function after it. Tasks that come with a code
 * prefix (HumanEval) are continued from that prefix. Only the example test is shown; pass/fail
 * uses all of the task's tests.
 */
export function completionPrompt(task: PromptFields): string {
  if (task.codePrefix !== null) return task.codePrefix;
  const example = task.exampleTest ? `\n${task.exampleTest.trim()}` : '';
  return `"""\n${task.text.trim()}${example}\n"""\n`;
}

/** The user turn for instruct models; their own chat template wraps it. */
export function chatPrompt(task: PromptFields): string {
  if (task.codePrefix !== null) {
    return `Complete this Python function. Reply with the whole function in one Python code block.\n\n\`\`\`python\n${task.codePrefix}\`\`\``;
  }
  const example = task.exampleTest ? `\nYour code should pass this test:\n${task.exampleTest.trim()}` : '';
  return `${task.text.trim()}${example}\nReply with the Python code in one code block.`;
}

export function buildPrompt(task: PromptFields, format: PromptFormat): string {
  return format === 'completion' ? completionPrompt(task) : chatPrompt(task);
}
