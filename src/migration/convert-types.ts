import type { MessageSkipReason } from './reasons.ts';

export type MessageRole = 'user' | 'assistant';

/** What is written to chat_messages.parts: one AI SDK v6 UIMessage. */
export interface UIMessageEnvelope {
  id: string;
  role: MessageRole;
  parts: unknown[];
  metadata?: Record<string, unknown>;
}

export interface ConversionSkip {
  ok: false;
  reason: MessageSkipReason;
  detail: string;
}

/** The result of converting message content, before validation and without a row time. */
export type ContentConversion = { ok: true; message: UIMessageEnvelope } | ConversionSkip;

/** A problem found while converting one part or field: the message is skipped with this reason. */
export class SkipMessage extends Error {
  constructor(
    readonly reason: MessageSkipReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}
