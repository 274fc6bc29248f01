/**
 * The contract between the HTTP server (lib/serve/server.ts) and whatever produces completions.
 *
 * The server validates and normalizes each request into a `GenerationRequest` (chat messages with images
 * already read into Buffers, sampling settings, limits), queues it, and hands batches of compatible
 * requests to a `Generator` — one call per batch. `modelGenerator()` (lib/serve/model-generator.ts) is
 * the real one over a loaded model; tests inject doubles.
 */
import type { ChatMessage } from '../model/chat.js'

/** Why a completion ended: a stop id/sequence (`stop`) or the token limit (`length`). */
export type FinishReason = 'stop' | 'length'

/** One request as the generator sees it. All fields are validated and defaulted by the server. */
export interface GenerationRequest {
  /** The conversation; image parts hold Buffers (never paths). */
  messages: ChatMessage[]
  /** Completions to sample for this prompt (OpenAI `n`), ≥ 1. */
  n: number
  /** Largest number of new tokens per completion, ≥ 1. */
  maxTokens: number
  /** 0 = greedy. */
  temperature: number
  /** 1 = off. */
  topP: number
  /** Seed of the sampler; seeded requests run in a batch of their own (see BatchQueue). */
  seed?: number
  /**
   * Stop strings; the server cuts completions at the first one. The model generator ends a row where its
   * text first holds one and returns its ids up to that token (so usage counts only those).
   */
  stop: string[]
  /** Prompts longer than this (tokens, images expanded) are refused with ERR_PROMPT_TOO_LONG. */
  maxPromptTokens: number
  /**
   * Streaming hook: a generator that can stream calls it with each new piece of completion `choice`'s
   * text, on the JS thread. Optional for the generator; the server emits whatever was not streamed when
   * the batch ends.
   */
  onText?: (choice: number, delta: string) => void
}

/** One sampled completion. */
export interface GeneratedChoice {
  /** Decoded completion text (special tokens removed). */
  text: string
  /** Completion token ids, including the final eos id when it stopped on one. */
  ids: number[]
  finishReason: FinishReason
}

/** The result for one request: its `n` choices and its prompt length. */
export interface GenerationOutput {
  choices: GeneratedChoice[]
  /** Prompt tokens, image pads included. */
  promptTokens: number
}

/**
 * Produces completions for a batch of requests in one go (one native `generate` call for the real
 * model). Returns one entry per request, in order: an output, or an Error for a request that alone
 * failed (bad image, prompt too long ...). Throwing fails the whole batch.
 */
export type Generator = (batch: readonly GenerationRequest[]) => Promise<Array<GenerationOutput | Error>>

/**
 * What {@link modelGenerator} needs of a loaded model: its batched generate (lib/api.ts's
 * `VisionLanguageModel` has it). Declared here so the serving layer never imports the API above it.
 */
export interface BatchGenerationModel {
  generateBatch(batch: readonly GenerationRequest[]): Promise<Array<GenerationOutput | Error>>
}
