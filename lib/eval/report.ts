/** Readable tables for evaluation reports (the JSON report is the report object itself). */
import type { EvalReport } from './evaluate.js'

const pct = (v: number): string => (v < 0 ? '   n/a' : (100 * v).toFixed(1).padStart(6))

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n')
}

/** Format a report as a plain-text table (percentages). */
export function formatReport(r: EvalReport): string {
  switch (r.task) {
    case 'detection': {
      const rows = r.perClass.map((c) => [c.name, pct(c.AP), pct(c.AP50), pct(c.AP75)])
      rows.push(['mean', pct(r.AP), pct(r.AP50), pct(r.AP75)])
      const p = r.presence
      const asked = p ? `presence (${p.source === 'map' ? 'from the given map' : 'asked'}) for ${p.asked} pairs: ${p.saidPresent} yes, ${p.saidAbsent} no, ${p.unparsed} unclear; ${pct(p.agreement).trim()}% agree with the ground truth\n` : ''
      const groups = r.protocol === 'lvis' ? `  APr ${pct(r.APr ?? -1).trim()}  APc ${pct(r.APc ?? -1).trim()}  APf ${pct(r.APf ?? -1).trim()}` : ''
      const rules = r.protocol === 'lvis' ? `lvis (federated, ${r.maxDets} detections per image)` : 'coco'
      return `detection (${rules}): ${r.detections} detections, ${r.malformed} malformed answers\n` + asked +
        `APs ${pct(r.APs).trim()}  APm ${pct(r.APm).trim()}  APl ${pct(r.APl).trim()}${groups}\n` + table(['class', 'AP', 'AP50', 'AP75'], rows)
    }
    case 'classification': {
      const rows = r.perClass.map((c) => [c.label, String(c.samples), String(c.correct), pct(c.accuracy)])
      rows.push(['overall', String(r.samples), String(Math.round(r.accuracy * r.samples)), pct(r.accuracy)])
      return 'classification\n' + table(['class', 'n', 'correct', 'acc'], rows)
    }
    case 'grounding':
      return 'grounding\n' + table(['samples', 'mIoU', 'IoU>=0.5', 'no box'], [[String(r.samples), pct(r.mIoU), pct(r.iou50), String(r.noBox)]])
  }
}
