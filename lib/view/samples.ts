/**
 * The samples browser's data: samples.jsonl lines (written by lib/train/loop.ts `sampleLines`) grouped
 * by step and prompt, each completion parsed with the same rules as the rewards (lib/rewards/parse.ts):
 * detection boxes with confidences, a grounding box, or a class label; plus whether the completion
 * passed the format reward. Boxes stay in model coordinates; `frame` says what they are relative to
 * (Qwen2-VL: a 1000 × 1000 grid; Qwen2.5-VL: the resized image), so the page maps them onto the image
 * as x · naturalWidth / frame.width.
 */
import type { Box } from '../rewards/boxes.js'
import type { PromptRecord } from '../train/samples.js'
import { extractTag, parseClassificationCompletion, parseDetectionAnswer, parseDetectionCompletion, parseGroundingCompletion } from '../rewards/parse.js'
import { formatReward } from '../rewards/rewards.js'

/** One line of samples.jsonl: the trainer's prompt record (lib/train/samples.ts) — every field optional, as lines
 * from before the prompt record was added lack them — and the completion with its rewards. */
export interface SampleLine extends Partial<PromptRecord> {
  step: number
  promptId: string
  index: number
  completion: string
  rewards: Record<string, number>
  total: number
  advantage: number
  finished?: boolean
}

/** What a completion's answer parsed to. */
export type Prediction =
  | { kind: 'boxes'; boxes: Array<{ box: Box; confidence: number }>; truncated: boolean }
  | { kind: 'none' }
  | { kind: 'box'; box: Box }
  | { kind: 'label'; label: string }
  | { kind: 'malformed'; reason: string }

/** One completion as the page shows it. */
export interface ViewCompletion {
  index: number
  completion: string
  rewards: Record<string, number>
  total: number
  advantage: number
  finished: boolean | null
  formatOk: boolean
  prediction: Prediction
}

/** One prompt of a step with its G completions. */
export interface ViewGroup {
  step: number
  promptId: string
  image: string | null
  task: string | null
  problem: string | null
  category: string | null
  truth: { boxes?: Box[]; box?: Box; label?: string }
  /** What box coordinates are relative to. */
  frame: { width: number; height: number; kind: 'grid1000' | 'pixels' }
  completions: ViewCompletion[]
}

/** Filters of the samples browser. */
export interface SampleFilter {
  step?: number
  /** Keep completions whose total reward is ≥ minReward / ≤ maxReward. */
  minReward?: number
  maxReward?: number
  /** Only completions that failed the format reward. */
  formatFailed?: boolean
}

function frameOf(l: SampleLine): ViewGroup['frame'] {
  return l.resized ? { width: l.resized.width, height: l.resized.height, kind: 'pixels' } : { width: 1000, height: 1000, kind: 'grid1000' }
}

const asBox = (b: readonly number[]): Box => [b[0]!, b[1]!, b[2]!, b[3]!]

/** Ground truth of a line: the structured fields, else parsed from the solution (as the rewards do). */
export function truthOf(l: SampleLine): ViewGroup['truth'] {
  const sol = l.solution ?? ''
  switch (l.task) {
    case 'detection': {
      if (l.boxes) return { boxes: l.boxes.map(asBox) }
      const p = parseDetectionAnswer(extractTag(sol, 'answer')?.body ?? sol, { maxX: Infinity, maxY: Infinity })
      return { boxes: p.kind === 'boxes' ? p.boxes.map((x) => x.box) : [] }
    }
    case 'grounding': {
      if (l.box) return { box: asBox(l.box) }
      const b = parseGroundingCompletion(sol, { maxX: Infinity, maxY: Infinity })
      return b ? { box: b } : {}
    }
    case 'classification':
      return { label: l.label ?? parseClassificationCompletion(sol) }
    default:
      return {}
  }
}

/** Parse a completion for the line's task (same limits as the rewards: the frame). */
export function predictionOf(l: SampleLine): Prediction {
  const f = frameOf(l)
  const limits = { maxX: f.width, maxY: f.height }
  switch (l.task) {
    case 'detection': {
      const p = parseDetectionCompletion(l.completion, limits)
      return p.kind === 'boxes' ? { kind: 'boxes', boxes: p.boxes, truncated: p.truncated } : p
    }
    case 'grounding': {
      const b = parseGroundingCompletion(l.completion, limits)
      return b ? { kind: 'box', box: b } : { kind: 'malformed', reason: 'no box (x1,y1),(x2,y2) or [x1, y1, x2, y2]' }
    }
    default:
      return { kind: 'label', label: parseClassificationCompletion(l.completion) }
  }
}

/** The steps that have samples, ascending. */
export function sampleSteps(lines: readonly SampleLine[]): number[] {
  return [...new Set(lines.map((l) => l.step))].sort((a, b) => a - b)
}

/**
 * Group the lines of one step (default: the last step with samples) by prompt, parse every completion
 * and apply the filters; prompts left without completions are dropped.
 */
export function viewGroups(lines: readonly SampleLine[], f: SampleFilter = {}): ViewGroup[] {
  const steps = sampleSteps(lines)
  const step = f.step ?? steps[steps.length - 1]
  const groups = new Map<string, ViewGroup>()
  for (const l of lines) {
    if (l.step !== step) continue
    const c: ViewCompletion = {
      index: l.index, completion: l.completion, rewards: l.rewards ?? {}, total: l.total, advantage: l.advantage,
      finished: typeof l.finished === 'boolean' ? l.finished : null, formatOk: formatReward(l.completion) > 0, prediction: predictionOf(l),
    }
    if (f.minReward !== undefined && !(c.total >= f.minReward)) continue
    if (f.maxReward !== undefined && !(c.total <= f.maxReward)) continue
    if (f.formatFailed && c.formatOk) continue
    let g = groups.get(l.promptId)
    if (!g) {
      g = {
        step: l.step, promptId: l.promptId, image: l.image ?? null, task: l.task ?? null, problem: l.problem ?? null,
        category: l.category ?? null, truth: truthOf(l), frame: frameOf(l), completions: [],
      }
      groups.set(l.promptId, g)
    }
    g.completions.push(c)
  }
  return [...groups.values()]
}
