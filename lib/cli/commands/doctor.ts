/**
 * `vrft-native doctor`: what this installation runs on — libtorch version and where it was found, CUDA and
 * devices, BLAS backend, threads, addon build info, and whether sharp and the tokenizer load.
 */
import type { CommandModule } from 'yargs'
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { addonCandidates, native } from '../../native/binding.js'
import { defaultTokenizerPath } from '../../model/tokenizer.js'

interface Check { name: string; ok: boolean; detail: string }

/** Runs every check; never throws. */
export async function doctor(): Promise<{ checks: Check[]; ok: boolean }> {
  const checks: Check[] = []
  const req = createRequire(import.meta.url)
  checks.push({ name: 'node', ok: Number(process.versions.node.split('.')[0]) >= 20, detail: `v${process.versions.node} (need >= 20)` })
  try {
    const n = native()
    const info = n.runtimeInfo()
    const addon = addonCandidates().find((p) => existsSync(p)) ?? '?'
    checks.push({ name: 'addon', ok: true, detail: `${addon} (Node-API ${info.napiVersion})` })
    checks.push({ name: 'libtorch', ok: true, detail: `${info.torchVersion} from ${info.torchDir}` })
    // A CUDA build runs on a machine without a GPU (everything on the CPU): that is a state, not a failure.
    checks.push({ name: 'cuda', ok: true, detail: info.builtWithCuda ? `CUDA build, ${info.cudaAvailable ? `${info.cudaDevices} device(s)` : 'no device'}` : 'CPU-only libtorch' })
    checks.push({ name: 'nccl', ok: true, detail: n.distInfo().ncclAvailable ? 'NCCL process group available (CUDA ranks use it)' : 'no NCCL process group in this build (CUDA ranks use Gloo)' })
    checks.push({ name: 'blas', ok: !info.referenceBlas, detail: info.referenceBlas ? `REFERENCE BLAS ${info.blas}: matmul ~15x slower; apt-get install libopenblas0-pthread` : info.blas })
    checks.push({ name: 'threads', ok: true, detail: `${info.numThreads} intra-op threads (VRFT_NUM_THREADS to change)` })
    checks.push({ name: 'decode kernel', ok: true, detail: info.skinnyGemm === 'none' ? 'none for this CPU (decode uses the BLAS)' : `${info.skinnyGemm} skinny GEMM + decode attention, ${info.skinnyGemmEnabled ? `on, ${info.packedWeights ? 'packed weights' : 'weights as stored (VRFT_PACK_WEIGHTS=0)'}` : 'off (VRFT_SKINNY_GEMM=0)'}` })
    checks.push({ name: 'architectures', ok: true, detail: 'qwen2-vl, qwen2.5-vl, qwen3-vl (DeepStack, interleaved M-RoPE)' })
    checks.push({ name: 'gloo', ok: true, detail: info.haveGloo ? 'c10d Gloo available' : 'built without c10d Gloo (multi-process training unavailable)' })
    const mm = await n.measureMatmul({ n: 512, reps: 3 })
    checks.push({ name: 'matmul', ok: true, detail: `${(mm.median / 1e9).toFixed(1)} GFLOP/s float32 (512x512)` })
  } catch (e) {
    checks.push({ name: 'addon', ok: false, detail: (e as Error).message })
  }
  try {
    const sharp = req('sharp') as { versions: Record<string, string> }
    checks.push({ name: 'sharp', ok: true, detail: `sharp ${sharp.versions.sharp ?? '?'} (libvips ${sharp.versions.vips})` })
  } catch (e) {
    checks.push({ name: 'sharp', ok: false, detail: (e as Error).message })
  }
  try {
    const tk = req('tokenizers') as { Tokenizer: unknown }
    const path = defaultTokenizerPath()  // the file the loader reads, not the package's entry point
    checks.push({ name: 'tokenizer', ok: typeof tk.Tokenizer === 'function', detail: `tokenizers loads; Qwen tokenizer.json from ${path}` })
  } catch (e) {
    checks.push({ name: 'tokenizer', ok: false, detail: (e as Error).message })
  }
  return { checks, ok: checks.every((c) => c.ok) }
}

export const doctorCommand: CommandModule<object, { json: boolean }> = {
  command: 'doctor',
  describe: 'Check libtorch, CUDA, BLAS, threads, the addon, sharp and the tokenizer',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  handler: async (argv) => {
    const r = await doctor()
    if (argv.json) {
      console.log(JSON.stringify(r))
    } else {
      for (const c of r.checks) console.log(`${c.ok ? 'ok ' : 'BAD'} ${c.name.padEnd(10)} ${c.detail}`)
      console.log(r.ok ? 'everything needed is in place' : 'some checks failed (see BAD lines)')
    }
    if (!r.ok) process.exitCode = 1
  },
}
