// Data readers on small fixture files made here: JSON/JSONL records, parquet, COCO/LVIS k-shot, class
// folders, LISA — good files and broken ones (errors name file and line; skip mode counts).
import { tempDir } from './tmp.js'
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { openDataset, openRecords, writeRecords } from '../lib/data/index.js'
import { openParquet } from '../lib/data/parquet.js'
import { buildDetectionKShot, openCocoDetection } from '../lib/data/coco.js'
import { buildClassificationSet } from '../lib/data/folder.js'
import { readLisa } from '../lib/data/lisa.js'
import { COCO_OV_BASE_65, COCO_OV_NOVEL_15, COCO_CATEGORIES, sameClassName } from '../lib/classes.js'
import { permutation, shuffled } from '../lib/data/random.js'
import type { Sample, SkippedRecord } from '../lib/data/types.js'
import { detectionPrompt } from '../lib/prompts/index.js'

const root = tempDir('vrft-data-')
const img = (p: string): string => { writeFileSync(p, Buffer.from([0xff, 0xd8, 0xff, 0xd9])); return p }
mkdirSync(join(root, 'imgs'))
img(join(root, 'imgs', 'a.jpg'))
img(join(root, 'imgs', 'b.jpg'))
const rec = (image: string, extra: object = {}) => JSON.stringify({ image, problem: 'what?', solution: '<answer>cat</answer>', ...extra })
const collect = async (it: AsyncIterable<Sample>): Promise<Sample[]> => { const out: Sample[] = []; for await (const s of it) out.push(s); return out }

t.test('JSONL records: lazy, paths relative to the file', async (t) => {
  const f = join(root, 'good.jsonl')
  writeFileSync(f, [rec('imgs/a.jpg'), '', JSON.stringify({ image_path: 'imgs/b.jpg', problem: 'p2', solution: 's2', task: 'classification' })].join('\n') + '\n')
  const ds = await openDataset(f)
  t.equal(ds.length, 2)
  const s1 = await ds.get(1)
  t.same(s1.image, { path: join(root, 'imgs', 'b.jpg') })
  t.equal(s1.problem, 'p2')
  t.equal(s1.task, 'classification')
  t.equal(s1.id, `${f}:3`, 'id names file and line')
  t.equal((await collect(ds)).length, 2)
  await t.rejects(ds.get(2), { code: 'ERR_INVALID_ARG' })
})

t.test('JSONL errors name file and line; skip mode counts', async (t) => {
  const f = join(root, 'bad.jsonl')
  writeFileSync(f, [rec('imgs/a.jpg'), '{not json', JSON.stringify({ image: 'imgs/a.jpg', problem: 3, solution: 's' }), rec('imgs/missing.jpg'), rec('imgs/b.jpg')].join('\n'))
  await t.rejects(openRecords(f), { code: 'ERR_DATA_JSONL', message: /bad\.jsonl:2/ })
  writeFileSync(join(root, 'bad2.jsonl'), [rec('imgs/a.jpg'), JSON.stringify({ image: 'imgs/a.jpg', solution: 's' })].join('\n'))
  await t.rejects(openRecords(join(root, 'bad2.jsonl')), { code: 'ERR_DATA_RECORD', message: /bad2\.jsonl:2: expected a string "problem"/ })
  writeFileSync(join(root, 'meta.jsonl'), [JSON.stringify({ image: 'imgs/a.jpg', problem: 'p', solution: 's', image_id: 397133, width: 640, height: 427 }), JSON.stringify({ image: 'imgs/a.jpg', problem: 'p', solution: 's', image_id: '12' })].join('\n'))
  await t.rejects(openRecords(join(root, 'meta.jsonl')), { code: 'ERR_DATA_RECORD', message: /meta\.jsonl:2: expected an integer "image_id"/ })
  const withMeta = await openRecords(join(root, 'meta.jsonl'), { onError: 'skip' })
  t.same((await withMeta.get(0)).meta, { imageId: 397133, width: 640, height: 427 }, 'optional image_id/width/height become sample.meta')
  writeFileSync(join(root, 'bad3.jsonl'), rec('imgs/missing.jpg'))
  await t.rejects(openRecords(join(root, 'bad3.jsonl')), { code: 'ERR_DATA_IMAGE', message: /bad3\.jsonl:1: image .*missing\.jpg/ })
  const ds = await openRecords(f, { onError: 'skip' })
  t.equal(ds.length, 2)
  t.same(ds.skipped.map((s: SkippedRecord) => [s.where, s.code]), [['2', 'ERR_DATA_JSONL'], ['3', 'ERR_DATA_RECORD'], ['4', 'ERR_DATA_IMAGE']])
  t.same((await ds.get(1)).image, { path: join(root, 'imgs', 'b.jpg') })
  t.equal((await openRecords(join(root, 'bad3.jsonl'), { checkImages: false })).length, 1, 'image check can be turned off')
  await t.rejects(openRecords(join(root, 'nope.jsonl')), { code: 'ERR_DATA_OPEN' })
  writeFileSync(join(root, 'x.csv'), 'a,b\n')
  await t.rejects(openDataset(join(root, 'x.csv')), { code: 'ERR_DATA_OPEN' })
  await t.rejects(openDataset(join(root, 'nope.csv')), { code: 'ERR_DATA_NOT_FOUND' })
})

t.test('JSON array records (reference format), streamed', async (t) => {
  const f = join(root, 'good.json')
  writeFileSync(f, `[\n  ${rec('imgs/a.jpg', { note: 'has ] and } and \\" inside, [nested]' })},\n  ${rec('imgs/b.jpg', { extra: [1, { a: [2] }] })}\n]\n`)
  const ds = await openRecords(f)
  t.equal(ds.length, 2)
  t.equal((await ds.get(1)).id, `${f}:3`)
  writeFileSync(join(root, 'trunc.json'), `[${rec('imgs/a.jpg')}, ${rec('imgs/b.jpg')}`)
  await t.rejects(openRecords(join(root, 'trunc.json')), { code: 'ERR_DATA_JSON', message: /not closed/ })
  writeFileSync(join(root, 'obj.json'), '{"a": 1}')
  await t.rejects(openRecords(join(root, 'obj.json')), { code: 'ERR_DATA_JSON', message: /expected a JSON array/ })
  writeFileSync(join(root, 'badel.json'), `[${rec('imgs/a.jpg')},\n{"image": oops}]`)
  await t.rejects(openRecords(join(root, 'badel.json')), { code: 'ERR_DATA_JSON', message: /badel\.json:2/ })
  t.equal((await openRecords(join(root, 'badel.json'), { onError: 'skip' })).length, 1)
})

// Parquet fixtures are written with hyparquet-writer in a plain node child process: the TS loader tap uses
// cannot resolve hyparquet-writer's `hyparquet/src/*.js` subpath imports.
function writeParquet(file: string, spec: string): void {
  const code = `import { parquetWriteBuffer } from 'hyparquet-writer'; import { writeFileSync } from 'node:fs';
const spec = ${spec};
writeFileSync(${JSON.stringify(file)}, Buffer.from(parquetWriteBuffer(spec)))`
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: new URL('..', import.meta.url).pathname, env })
}

t.test('parquet (ViRFT layout): image {bytes, path}, lazy rows, bad rows', async (t) => {
  const f = join(root, 'train.parquet')
  writeParquet(f, `{
    schema: [
      { name: 'root', num_children: 3 },
      { name: 'image', repetition_type: 'OPTIONAL', num_children: 2 },
      { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
      { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'problem', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'solution', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    ],
    rowGroupSize: 2,
    columnData: [
      { name: 'image', data: [0, 1, 2, 3, 4].map((i) => (i === 3 ? { bytes: null, path: null } : { bytes: new Uint8Array([0xff, 0xd8, i]), path: i + '.jpg' })) },
      { name: 'problem', data: [0, 1, 2, 3, 4].map((i) => 'problem ' + i) },
      { name: 'solution', data: [0, 1, 2, 3, 4].map((i) => '<answer>c' + i + '</answer>') },
    ],
  }`)
  const ds = await openDataset(f)
  t.equal(ds.length, 5)
  const s4 = await ds.get(4)
  t.same([...(s4.image as { bytes: Uint8Array }).bytes], [0xff, 0xd8, 4])
  t.equal((s4.image as { path: string }).path, '4.jpg')
  t.equal(s4.solution, '<answer>c4</answer>')
  await t.rejects(ds.get(3), { code: 'ERR_DATA_PARQUET', message: /train\.parquet: row 3: column image: expected image\.bytes/ })
  await t.rejects(collect(ds), { code: 'ERR_DATA_PARQUET' })
  const skip = await openParquet(f, { onError: 'skip' })
  t.same((await collect(skip)).map((s) => s.problem), ['problem 0', 'problem 1', 'problem 2', 'problem 4'])
  t.same(skip.skipped.map((s) => s.where), ['row 3'])
  writeParquet(join(root, 'other.parquet'), `{ columnData: [{ name: 'text', data: ['a'], type: 'STRING' }] }`)
  await t.rejects(openParquet(join(root, 'other.parquet')), { code: 'ERR_DATA_PARQUET', message: /image, problem, solution.*missing/ })
  writeFileSync(join(root, 'junk.parquet'), 'not parquet at all')
  await t.rejects(openParquet(join(root, 'junk.parquet')), { code: 'ERR_DATA_PARQUET' })
})

// A small COCO file: 6 images, cats bus(6) and dog(18) and toilet(70, crowd only on image 5)
function cocoFixture(dir: string, lvis = false) {
  mkdirSync(dir, { recursive: true })
  const images = [1, 2, 3, 4, 5, 6].map((id) => ({ id, width: 200, height: 100, ...(lvis ? { coco_url: `http://x/val2017/${id}.jpg`, neg_category_ids: id === 6 ? [18] : [] } : { file_name: `${id}.jpg` }) }))
  for (const i of images) if (i.id !== 4) img(join(dir, `${i.id}.jpg`))
  const ann = (id: number, image_id: number, category_id: number, bbox: number[], iscrowd = 0) => ({ id, image_id, category_id, bbox, area: bbox[2]! * bbox[3]!, iscrowd })
  const anns = [ann(1, 1, 6, [20, 10, 100, 50]), ann(2, 1, 6, [0, 0, 10, 10], 1), ann(3, 2, 6, [0, 0, 200, 100]), ann(4, 3, 18, [50, 25, 50, 25]),
    ann(5, 4, 6, [1, 1, 5, 5]), ann(6, 5, 70, [0, 0, 50, 50], 1), ann(7, 2, 18, [10, 10, 20, 20])]
  const cats = lvis ? [{ id: 6, name: 'bus' }, { id: 18, name: 'egg_roll' }, { id: 70, name: 'toilet' }] : [{ id: 6, name: 'bus' }, { id: 18, name: 'dog' }, { id: 70, name: 'toilet' }]
  const f = join(dir, 'instances.json')
  writeFileSync(f, JSON.stringify({ images, annotations: anns, categories: cats }))
  return f
}

t.test('COCO k-shot detection: one sample per (image, class), 0–1000 and resized pixels', async (t) => {
  const dir = join(root, 'coco')
  const f = cocoFixture(dir)
  const { samples, skipped } = await buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['bus', 'dog'], shots: 1, seed: 3 })
  t.equal(samples.length, 2)
  t.same(skipped, [])
  const bus = samples.find((s) => s.category === 'bus')!
  t.equal(bus.problem, detectionPrompt('bus'))
  t.ok([1, 2].includes(bus.meta!.imageId!), 'an image with a bus (seed 3 does not draw image 4, whose file is missing)')
  if (bus.meta!.imageId === 1) {
    t.same(bus.boxes, [[100, 100, 600, 600]], 'crowd box left out, 0–1000 grid')
    t.equal(bus.solution, "<answer>[{'Position': [100, 100, 600, 600], 'Confidence': 1}]</answer>")
  }
  const again = await buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['bus', 'dog'], shots: 1, seed: 3 })
  t.same(again.samples.map((s) => s.id), samples.map((s) => s.id), 'seeded')
  const all = await buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['bus'], shots: 3, seed: 0, checkImages: false, family: 'qwen2.5-vl', resize: (w, h) => ({ width: w * 2, height: h * 2 }) })
  const s1 = all.samples.find((s) => s.meta!.imageId === 1)!
  t.same(s1.boxes, [[40, 20, 240, 120]], 'Qwen2.5-VL: absolute pixels of the resized image')
  t.equal(s1.meta!.resizedWidth, 400)
  t.ok(s1.problem.includes('absolute pixel coordinates'))
  await t.rejects(buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['bus'], shots: 3 }), { code: 'ERR_DATA_IMAGE', message: /4\.jpg/ })
  const sk = await buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['bus'], shots: 3, onError: 'skip' })
  t.equal(sk.samples.length, 2)
  t.same(sk.skipped.map((s) => s.code).sort(), ['ERR_DATA_COCO', 'ERR_DATA_IMAGE'], 'missing image and too-few-images both counted')
  await t.rejects(buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['toilet'], shots: 1 }), { code: 'ERR_DATA_COCO', message: /only 0/ }, 'crowd-only class has no targets')
  await t.rejects(buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['zebra'], shots: 1 }), { code: 'ERR_DATA_COCO', message: /zebra/ })
  await t.rejects(buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['bus'], shots: 1, family: 'qwen2.5-vl' }), { code: 'ERR_INVALID_ARG' })
  const out = join(dir, 'kshot.jsonl')
  t.equal(await writeRecords(out, samples), 2)
  const back = await openRecords(out)
  t.same((await back.get(0)).image, samples[0]!.image, 'written k-shot set reads back (relative paths)')
  t.equal((await back.get(1)).solution, samples[1]!.solution)
  await t.rejects(writeRecords(join(dir, 'x.jsonl'), [{ ...samples[0]!, image: { bytes: new Uint8Array(1) } }]), { code: 'ERR_DATA_RECORD' })
  const neg = await buildDetectionKShot({ annotations: f, imageRoot: dir, classes: ['dog'], shots: 1, negatives: 2, seed: 1 })
  t.equal(neg.samples.filter((s) => s.solution === '<answer>No Objects</answer>').length, 2, 'negatives')
  writeFileSync(join(dir, 'broken.json'), '{"images": []')
  await t.rejects(buildDetectionKShot({ annotations: join(dir, 'broken.json'), imageRoot: dir, shots: 1 }), { code: 'ERR_DATA_COCO' })
})

t.test('COCO/LVIS evaluation pairs: lazy dataset', async (t) => {
  const dir = join(root, 'coco')
  const ds = await openCocoDetection({ annotations: join(dir, 'instances.json'), imageRoot: dir, classes: ['bus', 'dog'] })
  t.equal(ds.length, 12)
  const s = await ds.get(1)
  t.same([s.meta!.imageId, s.category], [1, 'dog'])
  t.equal(s.solution, '<answer>No Objects</answer>')
  t.ok(ds.groundTruth.annotations.length > 0)
  await t.rejects(collect(ds), { code: 'ERR_DATA_IMAGE' }, 'image 4 has no file')
  const present = await openCocoDetection({ annotations: join(dir, 'instances.json'), imageRoot: dir, classes: ['bus', 'dog'], pairs: 'present', onError: 'skip' })
  t.same((await collect(present)).map((x) => x.id), ['coco:1:6', 'coco:2:6', 'coco:2:18', 'coco:3:18'])
  t.equal(present.skipped.length, 1)
  const ldir = join(root, 'lvis')
  const lf = cocoFixture(ldir, true)
  const l = await openCocoDetection({ annotations: lf, imageRoot: ldir, classes: ['egg roll'], checkImages: false })
  t.same(await Promise.all(Array.from({ length: l.length }, (_, i) => l.get(i).then((x) => x.meta!.imageId))), [2, 3, 6], 'LVIS: positive or verified-negative images only')
  t.equal((await l.get(0)).category, 'egg roll')
  t.same((await l.get(0)).image, { path: join(ldir, '2.jpg') }, 'LVIS file name from coco_url')
})

t.test('class lists and seeded randomness', async (t) => {
  t.equal(COCO_CATEGORIES.length, 80)
  t.equal(COCO_OV_BASE_65.length, 65)
  t.equal(COCO_OV_NOVEL_15.length, 15)
  t.ok(COCO_OV_NOVEL_15.every((n) => COCO_CATEGORIES.some((c) => c[1] === n)))
  t.ok(sameClassName('Egg_Roll', 'egg roll'))
  t.same(shuffled([1, 2, 3, 4, 5], 7), shuffled([1, 2, 3, 4, 5], 7))
  t.not(shuffled([1, 2, 3, 4, 5, 6, 7, 8], 7).join(), shuffled([1, 2, 3, 4, 5, 6, 7, 8], 8).join())
  t.same([...permutation(6, 1)].sort(), [0, 1, 2, 3, 4, 5])
})

t.test('class folders → k-shot classification', async (t) => {
  const dir = join(root, 'flowers')
  for (const c of ['rose', 'daisy', 'sun_flower']) {
    mkdirSync(join(dir, c), { recursive: true })
    for (let i = 0; i < 3; i++) img(join(dir, c, `${i}.jpg`))
  }
  writeFileSync(join(dir, 'rose', 'notes.txt'), 'x')
  const r = await buildClassificationSet({ root: dir, subject: 'flowers', shots: 2, seed: 1, label: (f) => f.replace(/_/g, ' ') })
  t.equal(r.samples.length, 6)
  t.same(r.classes, ['daisy', 'rose', 'sun flower'])
  t.equal(r.ignored, 1)
  const s = r.samples.find((x) => x.label === 'sun flower')!
  t.equal(s.solution, '<answer>sun flower</answer>')
  t.match(s.problem, /^This is an image containing a plant\. Please identify the species of the plant based on the image\./)
  t.same(s.classes, r.classes)
  const again = await buildClassificationSet({ root: dir, subject: 'flowers', shots: 2, seed: 1 })
  t.same(again.samples.map((x) => x.id), r.samples.map((x) => x.id), 'seeded')
  t.equal((await buildClassificationSet({ root: dir, subject: 'flowers' })).samples.length, 9, 'all images without shots')
  await t.rejects(buildClassificationSet({ root: dir, subject: 'flowers', shots: 4 }), { code: 'ERR_DATA_FOLDER', message: /expected 4 image/ })
  const sk = await buildClassificationSet({ root: dir, subject: 'flowers', shots: 4, onError: 'skip' })
  t.equal(sk.skipped.length, 3)
  t.equal(sk.samples.length, 9, 'short classes keep what they have, counted')
  mkdirSync(join(dir, 'empty'))
  await t.rejects(buildClassificationSet({ root: dir, subject: 'flowers' }), { code: 'ERR_DATA_FOLDER', message: /empty/ })
  await t.rejects(buildClassificationSet({ root: join(root, 'none'), subject: 'flowers' }), { code: 'ERR_DATA_FOLDER' })
})

t.test('LISA grounding folder', async (t) => {
  const dir = join(root, 'lisa')
  mkdirSync(dir)
  img(join(dir, 'a.jpg'))
  writeFileSync(join(dir, 'a.json'), JSON.stringify({ text: ['what holds the cup?', 'where to sit?'], is_sentence: true, imageWidth: 200, imageHeight: 100,
    shapes: [{ label: 'target', points: [[20, 10], [60, 40]] }, { label: 'target', points: [[40, 30], [120, 50]] }, { label: 'ignore', points: [[0, 0], [199, 99]] }] }))
  const good = await collect(readLisa({ dir }))
  t.equal(good.length, 2)
  t.same(good[0]!.box, [100, 100, 600, 500])
  t.equal(good[0]!.solution, '<answer>(100,100),(600,500)</answer>')
  t.ok(good[1]!.problem.startsWith('where to sit? Output the thinking process'))
  writeFileSync(join(dir, 'b.json'), '{"text": "q", "shapes": [')
  img(join(dir, 'b.jpg'))
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ text: 'q', shapes: [{ label: 'target', points: [[0, 0], [5, 5]] }], imageWidth: 10, imageHeight: 10 }))
  await t.rejects(collect(readLisa({ dir })), { code: 'ERR_DATA_LISA', message: /b\.json/ })
  const skipped: SkippedRecord[] = []
  t.equal((await collect(readLisa({ dir, onError: 'skip' }, skipped))).length, 2)
  t.same(skipped.map((s) => s.code), ['ERR_DATA_LISA', 'ERR_DATA_IMAGE'])
  const p25 = await collect(readLisa({ dir: join(root, 'lisa'), family: 'qwen2.5-vl', resize: () => ({ width: 100, height: 50 }), onError: 'skip' }))
  t.same(p25[0]!.box, [10, 5, 60, 25])
})
