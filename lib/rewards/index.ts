/** Rewards of vrft-native: parsing, box geometry, reward functions, reward sets and scorer, advantages. */
export * from './boxes.js'
export * from './parse.js'
export * from './rewards.js'
export * from './scorer.js'
export * from './advantages.js'
