/**
 * Prompt templates of Visual-RFT (detection, classification, grounding), word for word as the reference
 * code writes them (see /work/shared/VISUAL-RFT.md), plus Qwen2.5-VL variants that ask for absolute
 * pixel boxes of the resized input image instead of Qwen2-VL's 0–1000 integer grid.
 *
 * Qwen2.5-VL detection wording (ours): the reference sentence with
 * "(between 0 and 1000, integer)" replaced by
 * "(in absolute pixel coordinates of the image, integer)" — everything else identical. The grounding
 * variant appends " The box is in absolute pixel coordinates of the image." after the format sentence.
 * Note the reference grounding template keeps its typo ("grouding") and the stray ")" on purpose; its
 * `\n` (shown escaped in the spec) is a real newline character here, as in the Python string literal.
 */

/** Which coordinate convention the model family uses for boxes. */
export type ModelFamily = 'qwen2-vl' | 'qwen2.5-vl' | 'qwen3-vl'  // Qwen2-VL and Qwen3-VL: relative 0–1000

const FORMAT_LINE =
  'Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output answer format should be as follows:'

/** Detection prompt for one category. `family` picks the coordinate wording (default qwen2-vl, 0–1000). */
export function detectionPrompt(category: string, family: ModelFamily = 'qwen2-vl'): string {
  const coords = family === 'qwen2.5-vl' ? '(in absolute pixel coordinates of the image, integer)' : '(between 0 and 1000, integer)'
  return (
    `Detect all objects belonging to the category '${category}' in the image, and provide the bounding boxes ${coords} and confidence (between 0 and 1, with two decimal places).\n` +
    `If no object belonging to the category '${category}' in the image, return 'No Objects'.\n` +
    `${FORMAT_LINE}\n` +
    `<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>\n` +
    'Please strictly follow the format.'
  )
}

/**
 * The question asked before detection when evaluating with `askPresence` (`vrft-native eval
 * --ask-presence`): the paper's open-vocabulary protocol "first prompt[s] the model to check whether the
 * category is present in the image, then predict[s] bounding boxes for categories that exist". The paper
 * does not print its wording; this is ours, in the reference prompts' format.
 */
export function presencePrompt(category: string): string {
  return (
    `Is there any object belonging to the category '${category}' in the image?\n` +
    `${FORMAT_LINE}\n` +
    '<think> ... </think> <answer>yes or no</answer>\n' +
    'Please strictly follow the format.'
  )
}

/** Noun and attribute of each classification data set of the paper. */
export const CLASSIFICATION_SUBJECTS = {
  aircraft: { noun: 'aircraft', attribute: 'model' },
  flowers: { noun: 'plant', attribute: 'species' },
  pets: { noun: 'pet', attribute: 'breed' },
  cars: { noun: 'car', attribute: 'model' },
} as const

/** Name of a built-in classification data set. */
export type ClassificationSubject = keyof typeof CLASSIFICATION_SUBJECTS

/**
 * Classification prompt. `subject` is a built-in data set name or an explicit {noun, attribute}.
 * The answer placeholder "species name" is the reference's, for every data set.
 */
export function classificationPrompt(subject: ClassificationSubject | { noun: string; attribute: string }): string {
  const s = typeof subject === 'string' ? CLASSIFICATION_SUBJECTS[subject] : subject
  const article = /^[aeiou]/i.test(s.noun) ? 'an' : 'a'
  return (
    `This is an image containing ${article} ${s.noun}. Please identify the ${s.attribute} of the ${s.noun} based on the image.\n` +
    `${FORMAT_LINE}\n` +
    '<think> ... </think> <answer>species name</answer>\n' +
    'Please strictly follow the format.'
  )
}

/** Reasoning-grounding prompt (LISA) around a free-form question. */
export function groundingPrompt(question: string, family: ModelFamily = 'qwen2-vl'): string {
  const base =
    `${question} Output the thinking process in <think> </think> and your grouding box. ` +
    'Following "<think> thinking process </think>\n<answer>(x1,y1),(x2,y2)</answer>)" format.'
  return family === 'qwen2.5-vl' ? base + ' The box is in absolute pixel coordinates of the image.' : base
}

/** The detection solution string the reference data uses, e.g. `<answer>[{'Position': [1, 2, 3, 4], 'Confidence': 1}]</answer>`. */
export function detectionSolution(boxes: ReadonlyArray<readonly [number, number, number, number]>): string {
  if (boxes.length === 0) return '<answer>No Objects</answer>'
  return `<answer>[${boxes.map((b) => `{'Position': [${b.join(', ')}], 'Confidence': 1}`).join(', ')}]</answer>`
}

/** Classification solution string. */
export function classificationSolution(label: string): string {
  return `<answer>${label}</answer>`
}

/** Grounding solution string in the reference's `(x1,y1),(x2,y2)` form. */
export function groundingSolution(box: readonly [number, number, number, number]): string {
  return `<answer>(${box[0]},${box[1]}),(${box[2]},${box[3]})</answer>`
}
