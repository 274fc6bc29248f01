/**
 * Deprecated path of the run charts, kept only so trainer.ts (which draws them at the end of a run) keeps
 * importing `plotRun` from here: the charts live in lib/app/plot.ts. Drop this file once the trainer takes
 * its plotter from the application instead of importing one.
 */
export { plotRun } from '../app/plot.js'
