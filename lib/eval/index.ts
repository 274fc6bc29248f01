/** Evaluation of vrft-native: COCO AP (pycocotools-exact), LVIS federated AP (lvis-api rules), accuracy, mIoU, results files, reports. */
export * from './cocoeval.js'
export * from './evaluate.js'
export * from './report.js'
export * from './lvis.js'
