/**
 * `planning = true`: the classic engine's planning tools, offered to the model besides its own —
 * a todo list and a small file area that belong to the agent and last the session (they are the
 * agent's session state, so they follow the session between instances like the turn does). The
 * system prompt asks the model to plan first and keep the list current.
 *
 *   todo_write { items: [{ task, status }] }   replaces the list (status: pending, in_progress, done)
 *   todo_read  {}                              the list
 *   file_write { path, content }               at most 32 files of 64 KB
 *   file_read  { path }
 *   file_list  {}
 */
import type { ComponentReference, JsonValue, SessionContext } from '@woodwork/runtime';
import type { JsonSchema, ToolSpec } from '../tools/protocol.js';
import type { AgentTool } from './toolbox.js';

export const PLANNING_PROMPT =
  'Plan before you act: first write a short todo list with todo_write, then work through it, marking items in_progress and done as you go (todo_write again with the whole list). You have a small file area for notes and drafts that lasts this conversation: file_write, file_read, file_list.';

const MAX_FILES = 32;
const MAX_FILE_CHARS = 64 * 1024;
const TODOS = 'planning.todos';
const FILES = 'planning.files';

interface Todo {
  readonly task: string;
  readonly status: 'pending' | 'in_progress' | 'done';
}

const object = (properties: Record<string, unknown>, required: string[]): JsonSchema => ({ type: 'object', properties, required, additionalProperties: false }) as unknown as JsonSchema;

function render(todos: readonly Todo[]): string {
  if (todos.length === 0) return '(the todo list is empty)';
  const mark = { pending: '[ ]', in_progress: '[~]', done: '[x]' } as const;
  return todos.map((todo, index) => `${index + 1}. ${mark[todo.status] ?? '[ ]'} ${todo.task}`).join('\n');
}

type Run = (input: Record<string, unknown>, session: SessionContext) => Promise<unknown>;

const tools: readonly { spec: ToolSpec; run: Run }[] = [
  {
    spec: {
      name: 'todo_write',
      description: 'Replaces your todo list for this task with the given items (the whole list, in order).',
      parameters: object(
        {
          items: {
            type: 'array',
            items: object({ task: { type: 'string' }, status: { type: 'string', enum: ['pending', 'in_progress', 'done'] } }, ['task', 'status']),
          },
        },
        ['items'],
      ),
    },
    run: async (input, session) => {
      const items = Array.isArray(input.items) ? (input.items as Todo[]).filter((item) => typeof item?.task === 'string').slice(0, 100) : [];
      const todos = items.map((item) => ({ task: item.task, status: ['pending', 'in_progress', 'done'].includes(item.status) ? item.status : 'pending' }));
      await session.set(TODOS, todos as unknown as JsonValue);
      return render(todos);
    },
  },
  {
    spec: { name: 'todo_read', description: 'Your current todo list.', parameters: object({}, []) },
    run: async (_input, session) => render((await session.get<Todo[]>(TODOS)) ?? []),
  },
  {
    spec: {
      name: 'file_write',
      description: `Writes a file in your scratch area (at most ${MAX_FILES} files of ${MAX_FILE_CHARS} characters; it lasts this conversation).`,
      parameters: object({ path: { type: 'string' }, content: { type: 'string' } }, ['path', 'content']),
    },
    run: async (input, session) => {
      const path = String(input.path ?? '').trim();
      const content = String(input.content ?? '');
      if (path === '') throw new Error('give a path');
      if (content.length > MAX_FILE_CHARS) throw new Error(`the content has ${content.length} characters; the limit is ${MAX_FILE_CHARS}`);
      const files = (await session.get<Record<string, string>>(FILES)) ?? {};
      if (!(path in files) && Object.keys(files).length >= MAX_FILES) throw new Error(`the area holds ${MAX_FILES} files already; overwrite one`);
      files[path] = content;
      await session.set(FILES, files);
      return `wrote ${path} (${content.length} characters)`;
    },
  },
  {
    spec: { name: 'file_read', description: 'Reads a file of your scratch area.', parameters: object({ path: { type: 'string' } }, ['path']) },
    run: async (input, session) => {
      const files = (await session.get<Record<string, string>>(FILES)) ?? {};
      const path = String(input.path ?? '').trim();
      if (!(path in files)) throw new Error(`there is no file ${path}; the files are ${Object.keys(files).join(', ') || 'none'}`);
      return files[path];
    },
  },
  {
    spec: { name: 'file_list', description: 'Lists the files of your scratch area.', parameters: object({}, []) },
    run: async (_input, session) => {
      const files = (await session.get<Record<string, string>>(FILES)) ?? {};
      const names = Object.keys(files);
      return names.length === 0 ? '(no files)' : names.map((name) => `${name} (${files[name]!.length} characters)`).join('\n');
    },
  },
];

/** The planning tools of agent `agent`, run in its own host on its session state. */
export function planningTools(agent: string): AgentTool[] {
  // Planning tools are the agent's own: no component behind them, so naming uses the agent.
  const owner = { name: agent, $ref: agent, kind: 'agent', type: 'llm' } as unknown as ComponentReference;
  return tools.map(({ spec, run }) => ({
    name: spec.name,
    spec: { ...spec, idempotent: true },
    reference: owner,
    style: 'tool' as const,
    local: (input: unknown, session: SessionContext) => run((input ?? {}) as Record<string, unknown>, session),
  }));
}
