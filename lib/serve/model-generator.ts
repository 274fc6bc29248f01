/**
 * The real generator of the server: a loaded VisionLanguageModel's `generateBatch` — one native
 * generate call per batch, each request keeping its own n, max_tokens and stop strings. A failed image
 * or an over-long prompt fails only its own request.
 */
import type { BatchGenerationModel, Generator } from './types.js'

/** Adapt a loaded model (lib/api.ts `loadModel`) to the server's {@link Generator} contract. */
export function modelGenerator(model: BatchGenerationModel): Generator {
  return (batch) => model.generateBatch(batch)
}
