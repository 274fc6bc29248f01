/**
 * A compact vocabulary for toy models: Qwen's byte-level BPE tokenizer restricted to the tokens a known
 * set of texts needs. The kept vocabulary is those texts' tokens, every token a merge passes through on
 * the way to them, the 256 byte-level symbols (so any text still encodes, in smaller pieces) and all added
 * tokens (`<|im_start|>`, `<|image_pad|>`, `<think>` …), renumbered from 0 in the original order. Texts
 * made of the kept tokens encode to the same token strings as with the full tokenizer.
 *
 * Why: a 128-wide demo model with Qwen's 151,936-word vocabulary is 94 % embedding, and every training
 * token pays a 151,936-way softmax; the demo's prompts and answers use ~600 tokens (bench/results/
 * demo-detection-2026-12-06.md, session 12: a step 5× cheaper).
 */
import { VrftError } from '../errors.js'

/** The parts of a Hugging Face tokenizer.json this module reads (byte-level BPE). */
interface TokenizerJson {
  added_tokens: Array<{ id: number; content: string } & Record<string, unknown>>
  model: { type: string; vocab: Record<string, number>; merges: Array<string | [string, string]> } & Record<string, unknown>
  [k: string]: unknown
}

/** What {@link compactVocabulary} returns. */
export interface CompactVocabulary {
  /** The restricted tokenizer.json (same pre-tokenizer, decoder and added-token flags). */
  tokenizer: Record<string, unknown>
  /** tokenizer_config.json with `added_tokens_decoder` renumbered. */
  tokenizerConfig: Record<string, unknown>
  /** Old id → new id, for every kept token. */
  idMap: ReadonlyMap<number, number>
  /** Number of ids (kept BPE tokens + added tokens). */
  size: number
}

/** GPT-2's byte → unicode table: the 256 symbols byte-level BPE builds every token from. */
export function byteLevelAlphabet(): string[] {
  const printable: number[] = []
  for (let b = 33; b <= 126; b++) printable.push(b)
  for (let b = 161; b <= 172; b++) printable.push(b)
  for (let b = 174; b <= 255; b++) printable.push(b)
  const out = printable.map((c) => String.fromCodePoint(c))
  let n = 0
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) out.push(String.fromCodePoint(256 + n++))
  return out
}

/**
 * Restrict a byte-level BPE tokenizer.json (and its tokenizer_config.json) to the tokens with ids
 * `keepIds` (e.g. the encodings of every text a toy model will see), closed under merges.
 * ERR_TOKENIZER for a tokenizer that is not byte-level BPE or an id it does not have.
 */
export function compactVocabulary(tokenizer: unknown, tokenizerConfig: Record<string, unknown>, keepIds: Iterable<number>): CompactVocabulary {
  const tj = tokenizer as TokenizerJson
  if (tj?.model?.type !== 'BPE' || typeof tj.model.vocab !== 'object' || !Array.isArray(tj.model.merges) || !Array.isArray(tj.added_tokens)) {
    throw new VrftError('ERR_TOKENIZER', `Expected a byte-level BPE tokenizer.json (model.type 'BPE' with vocab, merges and added_tokens) but received model.type ${JSON.stringify(tj?.model?.type)}`)
  }
  const vocab = tj.model.vocab
  const byId = new Map<number, string>()
  for (const [t, i] of Object.entries(vocab)) byId.set(i, t)
  const addedIds = new Set(tj.added_tokens.map((a) => a.id))
  const keep = new Set<string>(byteLevelAlphabet().filter((t) => t in vocab))
  for (const id of keepIds) {
    if (addedIds.has(id)) continue
    const t = byId.get(id)
    if (t === undefined) throw new VrftError('ERR_TOKENIZER', `Expected token ids of the tokenizer (0–${byId.size - 1} or an added token) but received ${id}`)
    keep.add(t)
  }
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m : (m.split(' ') as [string, string])))
  const makers = new Map<string, Array<[string, string]>>()
  for (const m of merges) {
    const r = m[0] + m[1]
    const list = makers.get(r)
    if (list) list.push(m)
    else makers.set(r, [m])
  }
  // every token a merge can pass through on its way to a kept token
  const stack = [...keep]
  while (stack.length) {
    for (const [a, b] of makers.get(stack.pop()!) ?? []) {
      for (const x of [a, b]) if (!keep.has(x) && x in vocab) { keep.add(x); stack.push(x) }
    }
  }
  const kept = [...keep].sort((a, b) => vocab[a]! - vocab[b]!)
  const newVocab: Record<string, number> = {}
  const idMap = new Map<number, number>()
  kept.forEach((t, i) => { newVocab[t] = i; idMap.set(vocab[t]!, i) })
  let next = kept.length
  const added = [...tj.added_tokens].sort((a, b) => a.id - b.id).map((a) => { idMap.set(a.id, next); return { ...a, id: next++ } })
  const keptMerges = merges.filter(([a, b]) => keep.has(a) && keep.has(b) && keep.has(a + b))
  const decoder = tokenizerConfig.added_tokens_decoder
  const newDecoder = decoder && typeof decoder === 'object'
    ? Object.fromEntries(Object.entries(decoder).flatMap(([k, v]) => (idMap.has(Number(k)) ? [[String(idMap.get(Number(k))), v]] : [])))
    : decoder
  return {
    tokenizer: { ...tj, added_tokens: added, model: { ...tj.model, vocab: newVocab, merges: keptMerges } },
    tokenizerConfig: { ...tokenizerConfig, ...(newDecoder === undefined ? {} : { added_tokens_decoder: newDecoder }) },
    idMap,
    size: next,
  }
}
