/**
 * `vrft-native serve --model DIR [--host H] [--port N] [--api-key K] [--allowed-root DIR] ...`: an
 * OpenAI-compatible HTTP server over a checkpoint (lib/serve/). Listens on 127.0.0.1:8000 by default;
 * the API key may also come from the VRFT_API_KEY environment variable. SIGINT/SIGTERM drain the queue,
 * close the server and free the model.
 */
import type { CommandModule } from 'yargs'
import { waitForStopSignal } from '../../app/signals.js'
import { loadModel } from '../../api.js'
import { modelGenerator } from '../../serve/model-generator.js'
import { TOKENIZER_FLAG_HELP } from '../../model/tokenizer.js'
import { DEFAULT_CONNECTION_OPTIONS, DEFAULT_SERVE_LIMITS, PROMPT_BYTES_PER_TOKEN, resolveServeOptions, type ServeOptions } from '../../serve/options.js'
import { createServer } from '../../serve/server.js'

interface ServeArgs {
  model: string
  host: string
  port: number
  'api-key'?: string
  'allowed-root'?: string
  device: string
  dtype?: 'float32' | 'bfloat16' | 'float16'
  'max-batch': number
  'max-wait-ms': number
  'max-queue': number
  'max-tokens': number
  'max-prompt-tokens': number
  'max-n': number
  'max-image-pixels': number
  'max-images': number
  'max-body-bytes': number
  'model-name'?: string
  log: boolean
  tokenizer?: string
  'max-prompt-bytes'?: number
  'max-reward-body-bytes': number
  'max-reward-chars': number
  'max-reward-classes': number
  'max-reward-items': number
  'headers-timeout-ms': number
  'request-timeout-ms': number
  'keep-alive-timeout-ms': number
  'max-connections': number
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Serve a model over HTTP: OpenAI-compatible /v1/chat/completions, /v1/rewards, /healthz, /metrics',
  builder: (y) => y
    .option('model', { type: 'string', demandOption: true, describe: 'model folder (config.json, safetensors, tokenizer)' })
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'interface to listen on (0.0.0.0 exposes it to the network)' })
    .option('port', { type: 'number', default: 8000, describe: 'TCP port (0 = any free port)' })
    .option('api-key', { type: 'string', describe: 'require "Authorization: Bearer KEY" (default: env VRFT_API_KEY, else open)' })
    .option('allowed-root', { type: 'string', describe: 'folder local image paths may come from (default: local paths refused)' })
    .option('device', { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' })
    .option('dtype', { choices: ['float32', 'bfloat16', 'float16'] as const, describe: 'weights dtype (default float32 on CPU, bfloat16 on CUDA)' })
    .option('max-batch', { type: 'number', default: 16, describe: 'most sequences per generate call' })
    .option('max-wait-ms', { type: 'number', default: 5, describe: 'how long to collect requests into a batch' })
    .option('max-queue', { type: 'number', default: 256, describe: 'most waiting requests; more get 429' })
    .option('max-tokens', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxTokens, describe: 'largest max_tokens' })
    .option('max-prompt-tokens', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxPromptTokens, describe: 'largest prompt (tokens, images included)' })
    .option('max-n', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxN, describe: 'largest n' })
    .option('max-image-pixels', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxImagePixels, describe: 'largest image (width × height)' })
    .option('max-images', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxImages, describe: 'most images per request' })
    .option('max-body-bytes', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxBodyBytes, describe: 'largest request body' })
    .option('max-prompt-bytes', { type: 'number', describe: `largest prompt text in bytes, checked before tokenizing [default: ${PROMPT_BYTES_PER_TOKEN} × --max-prompt-tokens]` })
    .option('max-reward-body-bytes', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxRewardBodyBytes, describe: 'largest /v1/rewards body' })
    .option('max-reward-items', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxRewardItems, describe: 'most completions per /v1/rewards call' })
    .option('max-reward-chars', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxRewardChars, describe: 'longest completion or solution in /v1/rewards (characters)' })
    .option('max-reward-classes', { type: 'number', default: DEFAULT_SERVE_LIMITS.maxRewardClasses, describe: 'most class names in /v1/rewards options.classes' })
    .option('headers-timeout-ms', { type: 'number', default: DEFAULT_CONNECTION_OPTIONS.headersTimeoutMs, describe: 'time a client has to send its request headers (then 408)' })
    .option('request-timeout-ms', { type: 'number', default: DEFAULT_CONNECTION_OPTIONS.requestTimeoutMs, describe: 'time a client has to send its whole request (then 408)' })
    .option('keep-alive-timeout-ms', { type: 'number', default: DEFAULT_CONNECTION_OPTIONS.keepAliveTimeoutMs, describe: 'idle keep-alive connections are closed after this' })
    .option('max-connections', { type: 'number', default: DEFAULT_CONNECTION_OPTIONS.maxConnections, describe: 'most open connections (past it /healthz still answers, other routes 503)' })
    .option('tokenizer', { type: 'string', describe: TOKENIZER_FLAG_HELP })
    .option('model-name', { type: 'string', describe: 'model id in answers (default: the folder name)' })
    .option('log', { type: 'boolean', default: false, describe: 'log every request (JSON lines on stdout)' }),
  handler: async (a) => {
    const apiKey = a['api-key'] ?? (process.env.VRFT_API_KEY || undefined)
    const options: ServeOptions = {
      host: a.host,
      port: a.port,
      apiKey,
      allowedRoot: a['allowed-root'],
      modelName: a['model-name'] ?? a.model.replace(/\/+$/, '').split('/').pop(),
      maxBatchSize: a['max-batch'],
      maxWaitMs: a['max-wait-ms'],
      maxQueue: a['max-queue'],
      defaultMetrics: true,
      logger: a.log,
      limits: {
        maxTokens: a['max-tokens'],
        maxPromptTokens: a['max-prompt-tokens'],
        maxN: a['max-n'],
        maxImagePixels: a['max-image-pixels'],
        maxImages: a['max-images'],
        maxBodyBytes: a['max-body-bytes'],
        ...(a['max-prompt-bytes'] !== undefined ? { maxPromptBytes: a['max-prompt-bytes'] } : {}),
        maxRewardBodyBytes: a['max-reward-body-bytes'],
        maxRewardItems: a['max-reward-items'],
        maxRewardChars: a['max-reward-chars'],
        maxRewardClasses: a['max-reward-classes'],
      },
      connections: {
        headersTimeoutMs: a['headers-timeout-ms'],
        requestTimeoutMs: a['request-timeout-ms'],
        keepAliveTimeoutMs: a['keep-alive-timeout-ms'],
        maxConnections: a['max-connections'],
      },
    }
    resolveServeOptions(options) // bad options fail before the (slow) model load
    const model = await loadModel(a.model, { device: a.device, dtype: a.dtype, tokenizer: a.tokenizer })
    const server = createServer(modelGenerator(model), options)
    const url = await server.listen()
    console.error(`vrft-native serve: ${a.model} on ${url} (${apiKey ? 'API key required' : 'no API key'}${a['allowed-root'] ? `, local images under ${a['allowed-root']}` : ''})`)
    const sig = await waitForStopSignal()
    console.error(`vrft-native serve: ${sig}, draining and shutting down`)
    await server.close()
    await model[Symbol.asyncDispose]()
  },
}
