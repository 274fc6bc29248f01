/**
 * vrft-native — Visual Reinforcement Fine-Tuning (Visual-RFT / GRPO) for Qwen2-VL and Qwen2.5-VL on a
 * libtorch native addon. The package root exports the whole library API:
 *
 *  - models: {@link loadModel} (chat with images → text, ids, parsed answer), `initModel` (random
 *    Hugging Face-format checkpoints), preprocessing, tokenizer and chat template;
 *  - generation: `generate` / `logprobs` over chat messages;
 *  - rewards and parsers (format, detection IoU + confidence, classification, grounding, user rewards),
 *    prompts, advantages;
 *  - data readers (JSON/JSONL, parquet in every codec, folders of shards, Hugging Face data sets from the
 *    local cache, COCO/LVIS k-shot, image folders, LISA) and evaluation (COCO AP);
 *  - training: `GRPOTrainer`, `SFTTrainer` (async iterators of step metrics, AbortSignal, checkpoints);
 *  - serving: `createServer` (OpenAI-compatible chat completions with dynamic batching);
 *  - looking at runs: `createViewServer` (the `view` page), `exportTensorboard`;
 *  - errors: every error has a stable `code` (see README "Failure behaviour").
 */
export { VrftError, InvalidArgumentError, describeValue, hasCode } from './errors.js'
export { native, nativeAvailable, type NativeBinding, type RuntimeInfo } from './native/binding.js'
export * from './api.js'
export { generate, logprobs, loadGenerationModel, type GenerateOptions, type GenerateOutput, type GeneratedSample, type GenerationModel } from './generate.js'
export { initModel, type InitModelOptions, type InitModelResult, type InitSize } from './model/init-model.js'
export * from './model/preprocess.js'
export * from './model/images.js'
export { loadTokenizer, defaultTokenizerPath, resolveModelTokenizer, BUILTIN_TOKENIZER, QwenTokenizer, type SpecialTokenIds } from './model/tokenizer.js'
export { renderChat, chatOptionsFor, prepareInputs, padLeft, DEFAULT_SYSTEM_PROMPT, type ChatMessage, type ChatContentPart, type ModelInputs } from './model/chat.js'
export * from './prompts/index.js'
export * from './rewards/index.js'
export * from './data/index.js'
export * from './eval/index.js'
export * from './train/index.js'
export * from './app/index.js'
export { resolveModel, hubCacheDirs, isHubId, type ResolvedModel } from './model/hub.js'
export { readModelFolder, resolveModelFolder, loadWeights, tokenizerFor, readGenerationStopIds, type ModelFolder, type LoadedModel, type ReadModelFolderOptions, type LoadWeightsOptions } from './model/load.js'
export * from './serve/index.js'
export * from './view/index.js'
export { doctor } from './cli/commands/doctor.js'
export { inspect, type InspectResult } from './cli/commands/inspect.js'
// Names exported by more than one module above: the canonical ones.
export type { ImageSource } from './model/images.js'
export { permutation } from './data/index.js'
export { writeFileAtomic } from './eval/index.js'
