/**
 * Class lists of the Visual-RFT experiments, in code.
 * - COCO_FEWSHOT_8: the 8-class few-shot COCO set (spec).
 * - COCO_OV_NOVEL_15 / COCO_OV_BASE_65: the open-vocabulary split. The paper gives only the counts; the
 *   15 novel classes are the `selected_cate` list of the reference evaluation script
 *   (coco_evaluation/Qwen2_VL_coco_infere.py, "open vocabulary experiment: 15 new classes"); the 65 base
 *   classes are the other COCO classes.
 * - LVIS_RARE_13 and LVIS_FEWSHOT_6 as named in the paper/spec (LVIS writes them with underscores;
 *   match through `sameClassName`).
 */

/** The 80 COCO 2017 categories: [id, name]. */
export const COCO_CATEGORIES: ReadonlyArray<readonly [number, string]> = [
  [1, 'person'], [2, 'bicycle'], [3, 'car'], [4, 'motorcycle'], [5, 'airplane'], [6, 'bus'], [7, 'train'], [8, 'truck'],
  [9, 'boat'], [10, 'traffic light'], [11, 'fire hydrant'], [13, 'stop sign'], [14, 'parking meter'], [15, 'bench'],
  [16, 'bird'], [17, 'cat'], [18, 'dog'], [19, 'horse'], [20, 'sheep'], [21, 'cow'], [22, 'elephant'], [23, 'bear'],
  [24, 'zebra'], [25, 'giraffe'], [27, 'backpack'], [28, 'umbrella'], [31, 'handbag'], [32, 'tie'], [33, 'suitcase'],
  [34, 'frisbee'], [35, 'skis'], [36, 'snowboard'], [37, 'sports ball'], [38, 'kite'], [39, 'baseball bat'],
  [40, 'baseball glove'], [41, 'skateboard'], [42, 'surfboard'], [43, 'tennis racket'], [44, 'bottle'],
  [46, 'wine glass'], [47, 'cup'], [48, 'fork'], [49, 'knife'], [50, 'spoon'], [51, 'bowl'], [52, 'banana'],
  [53, 'apple'], [54, 'sandwich'], [55, 'orange'], [56, 'broccoli'], [57, 'carrot'], [58, 'hot dog'], [59, 'pizza'],
  [60, 'donut'], [61, 'cake'], [62, 'chair'], [63, 'couch'], [64, 'potted plant'], [65, 'bed'], [67, 'dining table'],
  [70, 'toilet'], [72, 'tv'], [73, 'laptop'], [74, 'mouse'], [75, 'remote'], [76, 'keyboard'], [77, 'cell phone'],
  [78, 'microwave'], [79, 'oven'], [80, 'toaster'], [81, 'sink'], [82, 'refrigerator'], [84, 'book'], [85, 'clock'],
  [86, 'vase'], [87, 'scissors'], [88, 'teddy bear'], [89, 'hair drier'], [90, 'toothbrush'],
]

/** The 8 classes of the few-shot COCO experiments. */
export const COCO_FEWSHOT_8 = ['bus', 'train', 'fire hydrant', 'stop sign', 'cat', 'dog', 'bed', 'toilet'] as const

/** The 15 novel classes of the COCO open-vocabulary experiment, in the reference script's order. */
export const COCO_OV_NOVEL_15 = [
  'mouse', 'fork', 'hot dog', 'cat', 'airplane', 'suitcase', 'parking meter', 'sandwich', 'train', 'hair drier',
  'toilet', 'toaster', 'snowboard', 'frisbee', 'bear',
] as const

/** The 65 base classes: COCO minus COCO_OV_NOVEL_15, in COCO id order. */
export const COCO_OV_BASE_65: readonly string[] = COCO_CATEGORIES.map((c) => c[1]).filter((n) => !(COCO_OV_NOVEL_15 as readonly string[]).includes(n))

/** The 13 rare LVIS classes of the open-vocabulary test. */
export const LVIS_RARE_13 = [
  'casserole', 'die', 'egg roll', 'futon', 'garbage', 'handsaw', 'hippopotamus', 'kitchen table', 'mallet', 'omelet',
  'shot glass', 'stepladder', 'sugar bowl',
] as const

/** The 6 LVIS classes of the few-shot experiment. */
export const LVIS_FEWSHOT_6 = ['horse buggy', 'die', 'kitchen table', 'omelet', 'papaya', 'stepladder'] as const

/** Named class lists for CLI use (`--classes coco-fewshot-8`). */
export const CLASS_LISTS: Readonly<Record<string, readonly string[]>> = {
  'coco-fewshot-8': COCO_FEWSHOT_8,
  'coco-ov-base-65': COCO_OV_BASE_65,
  'coco-ov-novel-15': COCO_OV_NOVEL_15,
  'lvis-rare-13': LVIS_RARE_13,
  'lvis-fewshot-6': LVIS_FEWSHOT_6,
}

/** Display form of a class name: LVIS underscores → spaces, trimmed, lowercase. */
export function displayClassName(name: string): string {
  return name.replace(/_/g, ' ').replace(/\s+/g, ' ').trim().toLowerCase()
}

/** True when two class names denote the same class (`egg_roll` = `Egg roll`). */
export function sameClassName(a: string, b: string): boolean {
  return displayClassName(a) === displayClassName(b)
}
