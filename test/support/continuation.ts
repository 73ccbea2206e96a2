import { convertToModelMessages, dynamicTool, jsonSchema, simulateReadableStream, streamText, tool, type ToolSet, type UIMessage } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';

/**
 * Continuing a chat under ai@6.0.190: the user asks one more question, a mock model answers with text,
 * and what went wrong is collected (errors, tool calls sent without their result, tools that ran).
 */

/** A UI message part as far as the continuation check reads it. */
export interface Part {
  type: string;
  state?: string;
  text?: string;
  toolCallId?: string;
  toolName?: string;
  approval?: unknown;
}

/** A chat whose v5/v6 parts name the tools it used. */
export interface ChatWithParts {
  messages: readonly { parts: readonly Part[] }[];
}

/** The states a tool or dynamic-tool part may end a stored chat in: every call answered. */
export const FINAL_TOOL_STATES = ['output-available', 'output-error', 'output-denied'];

export function isToolPart(part: Part): boolean {
  return part.type === 'dynamic-tool' || part.type.startsWith('tool-');
}

export interface Continuation {
  /** Every error streamText reported (onError, the stream, or a rejected result), as `name: message`. */
  errors: string[];
  /** Tool calls the model was sent without their result: OpenAI and Anthropic reject such a prompt. */
  unansweredToolCalls: string[];
  executedTools: string[];
}

export interface ContinuationOptions {
  /**
   * The URLs the model takes as they are (a provider's `supportedUrls`, e.g. OpenAI's and Anthropic's
   * for http(s) images). Any other file URL in the chat ai@6 downloads before it calls the model. By
   * default the mock takes none.
   */
  supportedUrls?: Record<string, RegExp[]>;
  /**
   * false: send the history as it stands, with no new user message, as the app does to resume a chat
   * after the user answered an approval. That is when ai@6 runs an approved tool; after a new user
   * message it never does.
   */
  askAgain?: boolean;
}

/** The user asks one more question in the chat (or the app resumes it: askAgain false); the model answers with text. */
export async function continueChat(messages: UIMessage[], chat: ChatWithParts, options: ContinuationOptions = {}): Promise<Continuation> {
  const executedTools: string[] = [];
  const prompts: unknown[] = [];
  const model = new MockLanguageModelV3({
    ...(options.supportedUrls ? { supportedUrls: options.supportedUrls } : {}),
    doStream: async ({ prompt }) => {
      prompts.push(prompt);
      return { stream: simulateReadableStream({ chunks: ANSWER, initialDelayInMs: null, chunkDelayInMs: null }) };
    },
  });
  const tools = chatTools(chat, (name) => executedTools.push(name));
  const errors = new Set<unknown>();
  try {
    const result = streamText({
      model,
      messages: [...(await convertToModelMessages(messages, { tools })), ...(options.askAgain === false ? [] : [{ role: 'user' as const, content: 'and now?' }])],
      tools,
      onError: ({ error }) => void errors.add(error),
    });
    for await (const part of result.fullStream) if (part.type === 'error') errors.add(part.error);
    await result.text;
  } catch (error) {
    errors.add(error);
  }
  return { errors: [...errors].map(describeError), unansweredToolCalls: prompts.flatMap(unansweredToolCalls), executedTools };
}

const ANSWER = [
  { type: 'stream-start' as const, warnings: [] },
  { type: 'text-start' as const, id: 'answer' },
  { type: 'text-delta' as const, id: 'answer', delta: 'Here is where we are.' },
  { type: 'text-end' as const, id: 'answer' },
  {
    type: 'finish' as const,
    finishReason: { unified: 'stop' as const, raw: 'stop' },
    usage: {
      inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: 5, text: 5, reasoning: undefined },
    },
  },
];

/**
 * The chat's tools, each able to run: with needsApproval where the chat asked for approval, so that
 * the SDK would run an approved call it found open. None may run.
 */
function chatTools(chat: ChatWithParts, onExecute: (name: string) => void): ToolSet {
  const tools: ToolSet = {};
  const parts = chat.messages.flatMap((message) => message.parts).filter(isToolPart);
  for (const part of parts) {
    const name = part.type === 'dynamic-tool' ? String(part.toolName) : part.type.slice('tool-'.length);
    const needsApproval = parts.some((other) => other.type === part.type && other.toolName === part.toolName && other.approval !== undefined);
    const execute = async () => {
      onExecute(name);
      return { ranDuringContinuation: true };
    };
    const inputSchema = jsonSchema({ type: 'object' });
    tools[name] = part.type === 'dynamic-tool' ? dynamicTool({ inputSchema, execute }) : tool({ inputSchema, execute, needsApproval });
  }
  return tools;
}

interface PromptMessage {
  role: string;
  content: unknown;
}

interface PromptPart {
  type: string;
  toolCallId?: string;
  providerExecuted?: boolean;
}

/** The ids of client tool calls in the prompt that no tool result answers before the next user turn. */
function unansweredToolCalls(prompt: unknown): string[] {
  const unanswered: string[] = [];
  const pending = new Set<string>();
  for (const message of prompt as PromptMessage[]) {
    const parts = Array.isArray(message.content) ? (message.content as PromptPart[]) : [];
    if (message.role === 'user') {
      unanswered.push(...pending);
      pending.clear();
    }
    for (const part of parts) {
      if (part.type === 'tool-call' && part.providerExecuted !== true) pending.add(String(part.toolCallId));
      if (part.type === 'tool-result') pending.delete(String(part.toolCallId));
    }
  }
  return [...unanswered, ...pending];
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
