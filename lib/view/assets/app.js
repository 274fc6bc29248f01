// The run viewer's page script (served by lib/view/server.ts). Plain browser JavaScript, no build step.
// Curves: every scalar of metrics.jsonl / eval.jsonl, one uPlot chart per metric family, runs overlaid
// (line style = run, colour = metric); new lines arrive over server-sent events (/api/events).
// Samples: one step's prompts with the image, the ground-truth boxes and each completion's parsed boxes
// drawn in an SVG whose coordinates are the image's own pixels.
// `window.vrftView` exposes the state (charts, data) for tests and curious users.
/* global uPlot */

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f']
const DASHES = [[], [8, 4], [2, 3], [12, 3, 3, 3]]
const SVG = 'http://www.w3.org/2000/svg'

const state = {
  runs: [],
  /** run id → { metrics: CurvePoint[], eval: CurvePoint[] } */
  data: new Map(),
  /** run id → steps with samples */
  sampleSteps: new Map(),
  /** chart key → { u, signature, zoomed, el } */
  charts: new Map(),
  /** number of samples loads finished (tests wait on it) */
  samplesLoaded: 0,
}
window.vrftView = state

const $ = (id) => document.getElementById(id)
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v
    else if (k.startsWith('data-')) e.setAttribute(k, String(v))
    else e[k] = v
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c))
  return e
}
const fmt = (v, d = 3) => (typeof v !== 'number' ? '–' : !Number.isFinite(v) ? String(v) : Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(d))

// ------------------------------------------------------------------------------------------- curves

/** Which chart a scalar goes to: reward total and components together, a nested family together, else its own. */
function chartKey(kind, path) {
  const top = path.split('.')[0]
  if (kind === 'eval') {
    if (top === 'score' || top === 'rewards') return 'eval'
    if (top === 'report') return /^report\.(samples|malformed|detections|noBox)$/.test(path) ? 'eval counts' : 'eval report'
    return `eval ${top}`
  }
  if (/^(reward|rewards\.[^.]+)\.mean$/.test(path)) return 'reward'
  if (/^(reward|rewards\.[^.]+)\.std$/.test(path)) return 'reward std'
  return top
}

/** A series' name inside its chart: `total` and component names for rewards, the path without the chart's family. */
function seriesLabel(key, path) {
  if (key === 'reward' || key === 'reward std') return path.startsWith('reward.') ? 'total' : path.split('.')[1]
  if (key === 'eval') return path.startsWith('rewards.') ? path.slice(8) : path
  if (key === 'eval report' || key === 'eval counts') return path.slice(7)
  const fam = key.startsWith('eval ') ? key.slice(5) : key
  return path.startsWith(`${fam}.`) ? path.slice(fam.length + 1) : path
}

const TITLES = {
  reward: 'Reward (mean): total and components', 'reward std': 'Reward std over completions', kl: 'KL to the reference model',
  loss: 'Loss', clipFraction: 'Clip fraction', gradNorm: 'Gradient norm (before clipping)', lr: 'Learning rate',
  completionLength: 'Completion length (tokens)', eval: 'Evaluation (greedy): score and rewards', seconds: 'Seconds per step',
  tokensPerSecond: 'Generated tokens per second', 'eval report': 'Evaluation report (AP, accuracy, mIoU ...)',
  'eval counts': 'Evaluation counts (samples, malformed answers ...)', 'eval seconds': 'Evaluation seconds', zeroStdGroups: 'Groups with zero reward spread', finished: 'Completions that ended with eos',
}
const ORDER = ['reward', 'eval', 'kl', 'loss', 'completionLength', 'clipFraction', 'gradNorm', 'lr', 'entropy', 'mismatch']

/** A run's name in legends: its folder's name (grpo, sft, ...), or the full name when two runs share it. */
function shortName(run) {
  const base = (r) => r.name.split('/').filter(Boolean).pop() ?? r.name
  return state.runs.filter((r) => base(r) === base(run)).length > 1 ? run.name : base(run)
}

function collectSeries() {
  const charts = new Map()
  const multi = state.data.size > 1
  for (const [runId, d] of state.data) {
    const run = state.runs.find((r) => r.id === runId)
    for (const kind of ['metrics', 'eval']) {
      for (const p of d[kind]) {
        for (const [path, v] of Object.entries(p.values)) {
          const key = chartKey(kind, path)
          let c = charts.get(key)
          if (!c) charts.set(key, (c = new Map()))
          const id = `${runId}:${kind}:${path}`
          let s = c.get(id)
          if (!s) c.set(id, (s = { runId, path, label: (multi && run ? `${shortName(run)} ` : '') + seriesLabel(key, path), points: new Map() }))
          s.points.set(p.step, v)
        }
      }
    }
  }
  return charts
}

/** Whole steps on the x axis. */
const STEP_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]
/** Short y tick labels: 4 significant digits, k/M for large numbers, exponent for tiny ones. */
function tick(v) {
  if (v === null || v === undefined) return ''
  const a = Math.abs(v)
  if (a === 0) return '0'
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`
  if (a < 1e-3) return v.toExponential(1)
  return String(+v.toPrecision(4))
}

function chartSize(box) {
  return { width: Math.max(300, box.clientWidth - 12), height: 240 }
}

function renderCharts() {
  const all = collectSeries()
  const keys = [...all.keys()].sort((a, b) => {
    const ia = ORDER.indexOf(a) < 0 ? 99 : ORDER.indexOf(a)
    const ib = ORDER.indexOf(b) < 0 ? 99 : ORDER.indexOf(b)
    return ia - ib || a.localeCompare(b)
  })
  const host = $('charts')
  for (const [key, c] of state.charts) if (!all.has(key)) { c.u.destroy(); c.el.remove(); state.charts.delete(key) }
  for (const key of keys) {
    const series = [...all.get(key).values()]
    const xs = [...new Set(series.flatMap((s) => [...s.points.keys()]))].sort((a, b) => a - b)
    const data = [xs, ...series.map((s) => xs.map((x) => (s.points.has(x) && Number.isFinite(s.points.get(x)) ? s.points.get(x) : null)))]
    const signature = series.map((s) => `${s.runId}:${s.label}`).join('|')
    let c = state.charts.get(key)
    if (c && c.signature === signature) {
      c.u.setData(data, !c.zoomed)
    } else {
      if (c) { c.u.destroy(); c.el.remove() }
      const box = el('div', { class: 'chart', 'data-key': key })
      host.append(box)
      const runIndex = [...state.data.keys()]
      const opts = {
        title: TITLES[key] ?? key, ...chartSize(box),
        scales: { x: { time: false } },
        axes: [{ label: 'step', incrs: STEP_INCRS }, { size: 64, values: (u, vals) => vals.map(tick) }],
        cursor: { sync: { key: 'steps' }, drag: { x: true, y: false } },
        series: [{ label: 'step' }, ...series.map((s, i) => ({
          label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
          dash: DASHES[runIndex.indexOf(s.runId) % DASHES.length], points: { show: xs.length <= 60, size: 4 },
        }))],
        // Zoomed = the x scale shows less than all steps; then live updates keep the zoom.
        hooks: { setScale: [(u, k) => { if (k === 'x') { const xs = u.data[0]; entry.zoomed = xs.length > 1 && (u.scales.x.min > xs[0] || u.scales.x.max < xs[xs.length - 1]) } }] },
      }
      const entry = { u: null, signature, zoomed: false, el: box, series: series.map((s) => ({ runId: s.runId, path: s.path, label: s.label })) }
      entry.u = new uPlot(opts, data, box)
      state.charts.set(key, entry)
      c = entry
    }
    c.el.dataset.points = String(data.slice(1).reduce((n, ys) => n + ys.filter((y) => y !== null).length, 0))
  }
  // Keep the DOM in the sorted order.
  for (const key of keys) host.append(state.charts.get(key).el)
}

let pending = 0
function scheduleCharts() {
  if (pending) return
  pending = setTimeout(() => { pending = 0; renderCharts() }, 30)
}
window.addEventListener('resize', () => {
  for (const c of state.charts.values()) c.u.setSize(chartSize(c.el))
})

// ------------------------------------------------------------------------------------------- samples

function sampleQuery() {
  const q = new URLSearchParams()
  const step = $('sample-step').value
  if (step !== '') q.set('step', step)
  if ($('min-reward').value !== '') q.set('minReward', $('min-reward').value)
  if ($('max-reward').value !== '') q.set('maxReward', $('max-reward').value)
  if ($('format-failed').checked) q.set('formatFailed', '1')
  return q
}

let loadSeq = 0
async function loadSamples() {
  const run = $('sample-run').value
  const seq = ++loadSeq
  const host = $('groups')
  if (run === '') { host.replaceChildren(el('p', { class: 'hint' }, 'No samples logged yet (samples.jsonl).')); state.samplesLoaded++; return }
  const res = await fetch(`/api/runs/${run}/samples?${sampleQuery()}`)
  const body = await res.json()
  if (seq !== loadSeq) return
  if (!res.ok) { host.replaceChildren(el('p', { class: 'bad' }, body.error?.message ?? res.statusText)); state.samplesLoaded++; return }
  host.replaceChildren(...(body.groups.length ? body.groups.map((g) => renderGroup(Number(run), g)) : [el('p', { class: 'hint' }, 'No completion matches the filters.')]))
  state.samplesLoaded++
}

function predSummary(p) {
  switch (p.kind) {
    case 'boxes': return `${p.boxes.length} box${p.boxes.length === 1 ? '' : 'es'}${p.truncated ? ' (truncated)' : ''}`
    case 'none': return 'No Objects'
    case 'box': return `box [${p.box.join(', ')}]`
    case 'label': return `answer: ${p.label}`
    default: return `unparsed: ${p.reason}`
  }
}

function rect(cls, b, sx, sy, color, title) {
  const r = document.createElementNS(SVG, 'rect')
  r.setAttribute('class', cls)
  r.setAttribute('x', String(b[0] * sx))
  r.setAttribute('y', String(b[1] * sy))
  r.setAttribute('width', String(Math.max(0, b[2] - b[0]) * sx))
  r.setAttribute('height', String(Math.max(0, b[3] - b[1]) * sy))
  if (color) r.setAttribute('stroke', color)
  const t = document.createElementNS(SVG, 'title')
  t.textContent = title
  r.append(t)
  return r
}

function drawBoxes(svg, img, g) {
  const W = img.naturalWidth
  const H = img.naturalHeight
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`)
  svg.setAttribute('preserveAspectRatio', 'none')
  const sx = W / g.frame.width
  const sy = H / g.frame.height
  const truth = g.truth.boxes ?? (g.truth.box ? [g.truth.box] : [])
  for (const b of truth) svg.append(rect('gt', b, sx, sy, null, `ground truth [${b.join(', ')}]`))
  for (const c of g.completions) {
    const color = PALETTE[c.index % PALETTE.length]
    const boxes = c.prediction.kind === 'boxes' ? c.prediction.boxes : c.prediction.kind === 'box' ? [{ box: c.prediction.box, confidence: null }] : []
    for (const p of boxes) {
      const r = rect('pred', p.box, sx, sy, color, `completion ${c.index}: [${p.box.join(', ')}]${p.confidence === null ? '' : ` confidence ${p.confidence}`}`)
      r.dataset.completion = String(c.index)
      svg.append(r)
    }
  }
  svg.parentElement.dataset.drawn = '1'
}

function renderGroup(run, g) {
  const head = el('h3', {}, `step ${g.step} · ${g.promptId}${g.task ? ` · ${g.task}` : ''}${g.category ? ` · “${g.category}”` : ''}`)
  let figure = null
  if (g.image) {
    const img = el('img', { alt: g.promptId })
    const svg = document.createElementNS(SVG, 'svg')
    figure = el('div', { class: 'figure' }, img, svg)
    img.addEventListener('load', () => drawBoxes(svg, img, g))
    img.addEventListener('error', () => { figure.dataset.error = '1' })
    img.src = `/api/runs/${run}/image?path=${encodeURIComponent(g.image)}`
  }
  const truth = g.truth.label !== undefined ? `truth: ${g.truth.label}` : g.truth.boxes ? `truth: ${g.truth.boxes.length} box${g.truth.boxes.length === 1 ? '' : 'es'}` : g.truth.box ? `truth: [${g.truth.box.join(', ')}]` : ''
  const comps = Object.keys(g.completions[0]?.rewards ?? {})
  const table = el('table', { class: 'completions' },
    el('tr', {}, el('th', {}, 'show'), el('th', {}, '#'), el('th', {}, 'total'), ...comps.map((k) => el('th', {}, k)), el('th', {}, 'advantage'), el('th', {}, 'format check'), el('th', {}, 'parsed'), el('th', {}, 'completion')))
  for (const c of g.completions) {
    const box = el('input', { type: 'checkbox', checked: true, title: 'show this completion\'s boxes' })
    box.addEventListener('change', () => {
      for (const r of figure?.querySelectorAll(`rect.pred[data-completion="${c.index}"]`) ?? []) r.style.display = box.checked ? '' : 'none'
    })
    const swatch = el('span', { class: 'swatch' })
    swatch.style.background = PALETTE[c.index % PALETTE.length]
    table.append(el('tr', { 'data-index': c.index },
      el('td', {}, box, swatch), el('td', {}, c.index), el('td', {}, fmt(c.total)), ...comps.map((k) => el('td', {}, fmt(c.rewards[k]))),
      el('td', {}, fmt(c.advantage)), el('td', { class: c.formatOk ? 'good' : 'bad' }, c.formatOk ? 'ok' : 'failed'),
      el('td', { class: c.prediction.kind === 'malformed' ? 'bad text' : 'text' }, predSummary(c.prediction)),
      el('td', { class: 'text' }, el('pre', {}, c.completion))))
  }
  const side = el('div', {}, g.problem ? el('p', { class: 'problem' }, g.problem) : null, truth ? el('p', {}, truth) : null, table)
  return el('article', { class: 'group', 'data-prompt': g.promptId }, head, el('div', { class: 'body' }, figure, side))
}

function refreshSampleControls() {
  const runSel = $('sample-run')
  const withSamples = state.runs.filter((r) => (state.sampleSteps.get(r.id) ?? []).length > 0)
  const current = runSel.value
  runSel.replaceChildren(...withSamples.map((r) => el('option', { value: String(r.id) }, r.name)))
  if (withSamples.some((r) => String(r.id) === current)) runSel.value = current
  const stepSel = $('sample-step')
  const chosen = stepSel.value
  const steps = runSel.value === '' ? [] : state.sampleSteps.get(Number(runSel.value)) ?? []
  stepSel.replaceChildren(el('option', { value: '' }, `latest${steps.length ? ` (${steps[steps.length - 1]})` : ''}`), ...steps.map((s) => el('option', { value: String(s) }, String(s))))
  if (steps.map(String).includes(chosen)) stepSel.value = chosen
}

// ---------------------------------------------------------------------------------------- run info

function summaryTable(summary) {
  const nested = Object.entries(summary).filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number'))
  const cols = [...new Set(nested.flatMap(([, v]) => Object.keys(v)))]
  const table = el('table', { class: 'summary' }, el('tr', {}, el('th', {}, ''), ...cols.map((c) => el('th', {}, c))))
  for (const [k, v] of nested) table.append(el('tr', {}, el('th', {}, k), ...cols.map((c) => el('td', {}, fmt(v[c])))))
  const flat = Object.entries(summary).filter(([, v]) => typeof v !== 'object' || Array.isArray(v))
  return el('div', { class: 'summary-box' }, nested.length ? table : null,
    el('p', {}, flat.map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'number' ? fmt(v) : v}`).join(' · ')))
}

function renderRunInfo() {
  $('run-names').textContent = state.runs.map((r) => r.name).join(' · ')
  $('run-info').replaceChildren(...state.runs.map((r) => el('div', { class: 'run', 'data-run': r.id },
    el('h3', {}, r.name), el('p', { class: 'hint' }, `${r.dir} — ${r.steps} steps, ${r.evals} evaluations, ${r.samples} sample lines`),
    r.summary ? el('div', {}, el('h4', {}, 'Summary (before / after)'), summaryTable(r.summary)) : null,
    el('details', {}, el('summary', {}, 'config.json'), el('pre', {}, r.config ? JSON.stringify(r.config, null, 2) : '(none yet)')))))
}

// ------------------------------------------------------------------------------------------- wiring

function setRun(snap) {
  state.data.set(snap.run, { metrics: snap.metrics, eval: snap.eval })
  state.sampleSteps.set(snap.run, snap.sampleSteps)
}

async function refreshRuns() {
  state.runs = await (await fetch('/api/runs')).json()
  renderRunInfo()
}

async function start() {
  await refreshRuns()
  for (const id of ['sample-run', 'sample-step', 'min-reward', 'max-reward', 'format-failed']) {
    $(id).addEventListener('change', () => { if (id === 'sample-run') { $('sample-step').value = ''; refreshSampleControls() } void loadSamples() })
  }
  $('sample-controls').addEventListener('submit', (e) => e.preventDefault())
  const live = $('live')
  const es = new EventSource('/api/events')
  let first = true
  es.onopen = () => { live.dataset.state = 'live'; live.textContent = 'live' }
  es.onerror = () => { live.dataset.state = 'offline'; live.textContent = 'reconnecting…' }
  es.addEventListener('snapshot', (e) => {
    for (const s of JSON.parse(e.data)) setRun(s)
    scheduleCharts()
    refreshSampleControls()
    if (first) { first = false; void loadSamples() }
  })
  es.addEventListener('metrics', (e) => {
    const m = JSON.parse(e.data)
    state.data.get(m.run)?.metrics.push(...m.points)
    scheduleCharts()
    void refreshRuns()
  })
  es.addEventListener('eval', (e) => {
    const m = JSON.parse(e.data)
    state.data.get(m.run)?.eval.push(...m.points)
    scheduleCharts()
  })
  es.addEventListener('samples', (e) => {
    const m = JSON.parse(e.data)
    state.sampleSteps.set(m.run, m.sampleSteps)
    const shown = $('sample-run').value
    const step = $('sample-step').value
    // Reload when the lines are for what is on screen: the latest step of this run, or the chosen step.
    const affects = shown === '' || (shown === String(m.run) && (step === '' || m.updated.includes(Number(step))))
    refreshSampleControls()
    if (affects) void loadSamples()
  })
  es.addEventListener('failure', (e) => {
    const m = JSON.parse(e.data)
    live.dataset.state = 'offline'
    live.textContent = `cannot read run ${m.run}: ${m.message}`
  })
  es.addEventListener('reset', (e) => {
    setRun(JSON.parse(e.data))
    scheduleCharts()
    refreshSampleControls()
    void refreshRuns()
    void loadSamples()
  })
}

void start()
