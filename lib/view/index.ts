/**
 * Looking at runs: the `vrft-native view` server (live curves, samples with boxes, config and summary)
 * and the TensorBoard export of a run's scalars.
 */
export { createViewServer, VIEW_DEFAULTS, type ViewOptions, type ViewServer, type CurvePoint } from './server.js'
export { exportTensorboard, eventFile, encodeEvent, tfrecord, crc32c, maskedCrc32c } from './tensorboard.js'
export { discoverRuns, flattenMetrics, imageRoots, JsonlTail, type RunDir } from './runs.js'
export { viewGroups, sampleSteps, truthOf, predictionOf, type SampleLine, type ViewGroup, type ViewCompletion, type Prediction, type SampleFilter } from './samples.js'
